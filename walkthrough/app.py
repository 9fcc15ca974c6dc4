"""The ASGI app, built by `create_app` from explicit settings (tests point it at any mock)."""

from __future__ import annotations

import logging
import os
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kit.settings import Settings

from .api import create_api
from .clock import Clock, MockClock
from .errors import LoginRequired, WalkthroughError
from .oidc_client import OidcClient, origin_of
from .pages import Pages
from .provider import Provider
from .refresh import TokenKeeper
from .render import DEFAULT_NOTEBOOKS_URL, View
from .sessions import COOKIE_NAME, IDLE_LIFETIME, SessionStore, current
from .wire import DEFAULT_TIMEOUT, Wire

HERE = Path(__file__).resolve().parent
RELOGIN_GUARD = 30  # seconds: a second automatic re-login this soon means something is wrong
logger = logging.getLogger("walkthrough")


def session_secret_from_env() -> str:
    """WALKTHROUGH_SESSION_SECRET if set, else a random one: sessions end when the app stops."""
    return os.environ.get("WALKTHROUGH_SESSION_SECRET") or secrets.token_urlsafe(32)


def create_app(
    settings: Settings,
    *,
    session_secret: str | None = None,
    http_timeout: float = DEFAULT_TIMEOUT,
    notebooks_url: str | None = None,
    api_url: str | None = None,
    clock: Clock | None = None,
    post_logout_redirect_uri: str | None = None,
) -> Starlette:
    """The walkthrough app for one provider.

    post_logout_redirect_uri defaults to the redirect URL's origin + "/"
    (http://localhost:3000/ for the tutorial's setup); api_url defaults to this app's own
    /api/profile at the redirect URL's origin (http://localhost:3000/api/profile): the
    configured origin, never the request's Host header, which anyone can set to a host of
    their own and have the access token sent there.
    """
    if not settings.client_id or not settings.endpoint.startswith(("http://", "https://")):
        raise ValueError("settings need an http(s) endpoint and a client_id (see .env.example)")
    clock = clock or (MockClock(settings.endpoint, auth=settings.teaching_auth) if settings.is_mock else Clock())
    wire = Wire(http_timeout)
    provider = Provider(settings.endpoint, wire)
    post_logout = post_logout_redirect_uri or origin_of(settings.redirect_url) + "/"
    client = OidcClient(settings, provider, wire, clock, post_logout)
    view = View(settings, clock, notebooks_url or os.environ.get("WALKTHROUGH_NOTEBOOKS_URL") or DEFAULT_NOTEBOOKS_URL,
                post_logout)
    api_url = api_url or origin_of(settings.redirect_url) + "/api/profile"
    pages = Pages(client, TokenKeeper(client), view, clock, wire, api_url)
    callback_path = urllib.parse.urlsplit(settings.redirect_url).path or "/auth-redirect"

    async def favicon(request: Request) -> Response:
        # Browsers ask for /favicon.ico whatever the page links: answer it, not with a 404 page
        # (nor a session: no cookie, no step). 204 if an install left the file out.
        icon = HERE / "static" / "favicon.ico"
        if not icon.is_file():
            return Response(status_code=204)
        return FileResponse(icon, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})

    routes = [
        Route("/", pages.home, methods=["GET"], name="home"),
        Route("/favicon.ico", favicon, methods=["GET"], name="favicon"),
        Route("/login", pages.login, methods=["GET"], name="login"),
        Route(callback_path, pages.callback, methods=["GET"], name="callback"),
        Route("/logout", pages.logout_page, methods=["GET"], name="logout_page"),
        Route("/logout", pages.logout, methods=["POST"], name="logout"),
        Route("/call-api", pages.call_api, methods=["POST"], name="call_api"),
        Mount("/api", app=create_api(provider, clock), name="api"),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def error_page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WalkthroughError)
        return view.page(request, current(request), "error.html", status=exc.status_code, error=exc)

    async def login_again(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        session = current(request)
        if time.time() - session.relogin_at < RELOGIN_GUARD:
            # Logged in a moment ago and already refused again: do not loop, say so.
            failure = WalkthroughError(f"{exc.reason} This happened again right after a fresh login, so the app "
                                       "stopped instead of looping.", title="Authgear keeps refusing the tokens")
            return view.page(request, session, "error.html", status=502, error=failure)
        session.relogin_at = time.time()
        session.notice(f"{exc.reason} So the app sent you to log in again.")
        return RedirectResponse("/login", status_code=303)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 404:  # not something that stopped a login: a plain page and the way home
            failure = WalkthroughError(f"This app has no page at {request.url.path}.", title="Page not found",
                                       start_over=False)
            return view.page(request, current(request), "error.html", status=404, error=failure, not_found=True)
        title = {405: "Method not allowed"}.get(status, "Bad request")
        failure = WalkthroughError("There is nothing to see at this address with this method.", title=title)
        return view.page(request, current(request), "error.html", status=status, error=failure)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug if it is ever reached: logged on the server, never shown to the browser.
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        failure = WalkthroughError("The app hit an unexpected problem. Nothing was changed.",
                                   title="Something went wrong")
        # Outside the session middleware here: a page without the step log.
        return view.page(None, None, "error.html", status=500, error=failure)

    handlers: dict[Any, Any] = {
        WalkthroughError: error_page,
        LoginRequired: login_again,
        404: http_error,
        405: http_error,
        Exception: unexpected,
    }
    # Answers only to the names it is reached by (the redirect URL's, its API's, loopback's): a page
    # of another site whose name was rebound to this machine's address reads nothing (DNS rebinding),
    # e.g. a JupyterLab token in the notebook links.
    names = {"localhost", "127.0.0.1", urllib.parse.urlsplit(settings.redirect_url).hostname,
             urllib.parse.urlsplit(api_url).hostname}
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=sorted(name for name in names if name)), Middleware(
            SessionMiddleware,
            secret_key=session_secret or session_secret_from_env(),
            session_cookie=COOKIE_NAME,  # not "session": cookies on localhost are shared by every port
            max_age=IDLE_LIFETIME,
            same_site="lax",
            https_only=settings.redirect_url.startswith("https://"),
        )],
        exception_handlers=handlers,
    )
    app.state.sessions = SessionStore()
    app.state.settings = settings
    app.state.provider = provider
    app.state.clock = clock
    return app
