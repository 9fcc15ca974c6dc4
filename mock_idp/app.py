"""The ASGI app: Authgear's paths, built by a function from explicit arguments."""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from . import authorize, discovery, login_ui, logout, teaching_api, token, userinfo
from .config import MockConfig
from .context import Context, NotForThisBrowser, error_page, json_error, logged
from .cors import AuthgearCORS
from .exchanges import LOG_CAP, ExchangeLog
from .guard import TeachingGuard
from .keys import SigningKey
from .profiles import DEFAULT, Profile, profile_named
from .store import Limits, Store


def normalise_issuer(issuer: str) -> str:
    """Issuer = origin, no trailing slash (a mismatch here is the top complaint about mocks)."""
    return issuer.rstrip("/")


def create_app(issuer: str, config: MockConfig | None = None, key: SigningKey | None = None, *,
               admin_token: str | None = None, limits: Limits | None = None, log_limit: int = LOG_CAP,
               observer: Callable[[Request, dict[str, str], Response], None] | None = None,
               profile: str | Profile = DEFAULT) -> Starlette:
    """`admin_token`: what other machines send to use the teaching API (`Authorization: Bearer`);
    None makes a random one (`app.state.guard.admin_token`). See mock_idp/guard.py.
    `limits`, `log_limit`: how much it keeps (a room keeps less per learner); `observer`: told of
    every logged exchange (a room's progress view). `profile`: "authgear" (Authgear's
    behaviour, quirks included) or "strict" (the RFCs' where Authgear is looser): profiles.py.
    An unknown profile raises ValueError."""
    chosen = profile_named(profile)
    config = config if config is not None else MockConfig.demo()
    if key is None:
        key = SigningKey.from_pem(config.signing_key_pem) if config.signing_key_pem else SigningKey.generate()
    store = Store(config, limits)
    # The log expires on the mock's clock, like everything else it keeps.
    ctx = Context(issuer=normalise_issuer(issuer), store=store, key=key,
                  log=ExchangeLog(log_limit, clock=store.now, observer=observer), profile=chosen)

    def plain(handler: Callable[[Context, Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        return functools.partial(handler, ctx)

    def page_error(description: str) -> Response:
        return error_page("invalid_request", description)

    def json_request_error(description: str) -> Response:
        # RFC 6749 §5.2 (token endpoint) and RFC 6750 §3.1 (userinfo): unreadable is invalid_request.
        return json_error("invalid_request", description)

    def revoke_error(description: str) -> Response:
        # Authgear's revocation endpoint answers 200 with an empty body whatever it is sent.
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    guard = TeachingGuard(ctx, admin_token)

    def teaching(handler: Callable[[Context, Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # Loopback, or the admin token; the issuer's Host; no change at another site's request.
            refused = guard.refusal(request)
            return refused if refused is not None else await handler(ctx, request)

        return endpoint

    routes = [
        Route("/.well-known/openid-configuration", plain(discovery.openid_configuration), methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", plain(discovery.openid_configuration), methods=["GET"]),
        Route("/oauth2/jwks", plain(discovery.jwks), methods=["GET"]),
        Route("/oauth2/authorize", logged(ctx, authorize.authorize, page_error), methods=["GET", "POST"]),
        Route("/login", logged(ctx, login_ui.login_page, page_error), methods=["GET", "POST"]),
        Route("/select_account", logged(ctx, login_ui.select_account_page, page_error), methods=["GET", "POST"]),
        Route("/oauth2/token", logged(ctx, token.token, json_request_error), methods=["POST"]),
        Route("/oauth2/userinfo", logged(ctx, userinfo.userinfo, json_request_error), methods=["GET", "POST"]),
        Route("/oauth2/end_session", logged(ctx, logout.end_session, page_error), methods=["GET", "POST"]),
        Route("/logout", logged(ctx, logout.logout_page, page_error), methods=["GET", "POST"]),
        Route("/oauth2/revoke", logged(ctx, logout.revoke, revoke_error), methods=["POST"]),
        Route("/settings", plain(logout.settings_page), methods=["GET"]),
        Route("/_mock/", teaching(teaching_api.index), methods=["GET"]),
        Route("/_mock/exchanges", teaching(teaching_api.exchanges), methods=["GET", "DELETE"]),
        Route("/_mock/clock", teaching(teaching_api.clock), methods=["GET", "POST"]),
        Route("/_mock/reset", teaching(teaching_api.reset), methods=["POST"]),
        Route("/_mock/clients", teaching(teaching_api.clients), methods=["GET", "POST"]),
        Route("/_mock/clients/{client_id:path}", teaching(teaching_api.clients), methods=["DELETE"]),
        Route("/_mock/users", teaching(teaching_api.users), methods=["GET", "POST"]),
        Route("/_mock/users/{email:path}", teaching(teaching_api.users), methods=["DELETE"]),
    ]

    async def http_error(request: Request, exc: Any) -> Response:
        status = getattr(exc, "status_code", 500)
        text = {404: "Not Found", 405: "Method Not Allowed"}.get(status, "Bad Request")
        return PlainTextResponse(text, status_code=status, headers=getattr(exc, "headers", None))

    async def not_for_this_browser(request: Request, exc: Exception) -> Response:
        # An endpoint would send the browser where it must not go (context.for_browser, on a hub).
        assert isinstance(exc, NotForThisBrowser)
        return exc.response()

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Never a stack trace on the wire. Reaching this is a bug: the tests look for it.
        return PlainTextResponse("Internal Server Error", status_code=500)

    app = Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error,
                                                          NotForThisBrowser: not_for_this_browser,
                                                          Exception: unexpected})
    app.state.ctx = ctx
    app.state.guard = guard
    # Cross-origin calls from SPAs: allowed for the clients' redirect-URI origins, as Authgear does.
    app.add_middleware(AuthgearCORS, ctx=ctx)
    return app
