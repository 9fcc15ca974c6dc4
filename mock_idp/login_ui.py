"""The pages a person sees between the authorization request and the code: Authgear's
"select account" page and its login page.

The authorization endpoint (authorize.py) parks the request as a pending login and sends the
browser here:
- with an IdP session and no `prompt`, to `/select_account`: "Continue as <user>" (→ the code)
  or "Use another account" (→ the login form). Authgear does this on every second login of a
  browser (its `select_account` page); only `prompt=none`, or an `id_token_hint` for the user
  already logged in, comes straight back with a code;
- otherwise, to `/login`: email and password, or Cancel (→ `error=access_denied`).

Both pages are bound to the browser that started the login (its `mock_idp_browser` cookie)
and refuse form posts from other sites, so nobody can finish a login in someone else's
browser (login CSRF through the mock's own form).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .authorize import PASSWORD_AMR, AuthorizeError, complete, error_redirect, next_page, suppresses_idp_session
from .context import BROWSER_COOKIE, Context, error_page, same_origin
from .params import form_params, query_params
from .guard import TeachingGuard
from .idp_session import current_session, remember_login
from .store import LoginRequest

Result = tuple[dict[str, str], Response]


def expired_login() -> Response:
    return error_page(
        "invalid_request",
        "this login request has expired or was already used; go back to the app and start the login again",
    )


async def pending_login(ctx: Context, request: Request) -> tuple[dict[str, str], LoginRequest | Response]:
    """The pending login a page is about, if this browser may act on it; else the error page."""
    params = query_params(request)
    if request.method == "POST":
        params = {**params, **await form_params(request)}
    login = ctx.store.login_request(params.get("login_request"))
    if login is None:
        return params, expired_login()
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if not hmac.compare_digest(browser.encode(), login.browser.encode()):
        # Login CSRF: a login request someone else started cannot be finished in this browser.
        return params, error_page(
            "invalid_request", "this login was started in another browser; go back to the app and start the login again"
        )
    if request.method == "POST" and not same_origin(ctx, request):
        return params, error_page("invalid_request", "the form was posted from another site", status=403)
    if ctx.store.client(login.client_id) is None:  # removed through the teaching API meanwhile
        ctx.store.finish_login_request(login.id)
        return params, error_page("unauthorized_client", "invalid client ID")
    return params, login


def client_name(ctx: Context, login: LoginRequest) -> str:
    client = ctx.store.client(login.client_id)
    return (client.name or client.client_id) if client else login.client_id


def login_form(ctx: Context, request: Request, login: LoginRequest, email: str = "", error: str = "",
               status: int = 200) -> Response:
    return ctx.page(
        "login.html",
        status=status,
        action=ctx.endpoint("/login"),
        login_request=login.id,
        client_name=client_name(ctx, login),
        email=email,
        error=error,
        # The demo users' passwords only to the learner's own machine, never to other machines
        # (a classroom mock on the LAN, a projector).
        hint_users=ctx.demo_hint() if TeachingGuard.from_loopback(request) else [],
    )


def to_login_form(ctx: Context, login: LoginRequest) -> Response:
    return RedirectResponse(ctx.endpoint("/login?login_request=" + login.id), status_code=303)


def cancelled(ctx: Context, login: LoginRequest) -> Response:
    ctx.store.finish_login_request(login.id)
    error = AuthorizeError("access_denied", "the user cancelled the login")
    return error_redirect(ctx, login.redirect_uri, login.params, error)


async def login_page(ctx: Context, request: Request) -> Result:
    params, login = await pending_login(ctx, request)
    if not isinstance(login, LoginRequest):
        return params, login
    if request.method != "POST":  # GET, and HEAD (Starlette routes it here too): never a login
        return params, login_form(ctx, request, login, email=login.params.get("login_hint", ""))
    if params.get("action") == "cancel":
        return params, cancelled(ctx, login)

    user = ctx.store.check_password(params.get("email", ""), params.get("password", ""))
    if user is None:
        return params, login_form(ctx, request, login, email=params.get("email", ""), error="Incorrect email or password.")
    ctx.store.finish_login_request(login.id)
    client = ctx.store.client(login.client_id)
    assert client is not None  # pending_login checked it
    session, cookie = ctx.store.open_session(user, PASSWORD_AMR)
    response = complete(ctx, client, login.params, login.redirect_uri, session)
    if not suppresses_idp_session(login.params):
        remember_login(ctx, response, session, cookie)
    return params, response


async def select_account_page(ctx: Context, request: Request) -> Result:
    params, login = await pending_login(ctx, request)
    if not isinstance(login, LoginRequest):
        return params, login
    session = None if suppresses_idp_session(login.params) else current_session(ctx, request)
    user = ctx.store.user(session.user_sub) if session is not None else None
    if session is None or user is None or next_page(ctx, session, login.params) != "select_account":
        # Decided again, now: only a login the authorization endpoint sent here may continue
        # without a password (not one with prompt=login, an id_token_hint for someone else,
        # x_suppress_idp_session_cookie or a max_age that has run out meanwhile), and only
        # while the session lives (not after a logout in another tab).
        return params, to_login_form(ctx, login)
    if request.method != "POST":
        return params, ctx.page("select_account.html", action=ctx.endpoint("/select_account"),
                                login_request=login.id, client_name=client_name(ctx, login), email=user.email)
    action = params.get("action")
    if action == "login":  # "Use another account"
        return params, to_login_form(ctx, login)
    if action != "continue":
        return params, error_page("invalid_request", "choose Continue or Use another account")
    ctx.store.finish_login_request(login.id)
    client = ctx.store.client(login.client_id)
    assert client is not None
    return params, complete(ctx, client, login.params, login.redirect_uri, session)
