"""The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2).

Checks run in Authgear's order: client, then redirect_uri (both answered with an error page,
never a redirect: RFC 6749 §4.1.2.1), then everything else answered by a redirect back to the
client with `state`. A request that needs a person is parked as a pending login and the
browser goes to the login page or the select-account page (login_ui.py).
"""

from __future__ import annotations

import re
import secrets
import urllib.parse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .config import Client
from .context import BROWSER_COOKIE, Context, error_page, for_browser, safe_description
from .idp_session import current_session
from .params import form_params, is_whole_number, query_params
from .profiles import Profile
from .store import IdpSession
from .tokens import verify_id_token_hint

SUPPORTED_SCOPES = ("openid", "offline_access", "profile", "email", "address", "phone",
                    "https://authgear.com/scopes/full-userinfo", "https://authgear.com/scopes/full-access")
RESPONSE_MODES = ("query", "fragment", "form_post")
PLAIN_SCOPE = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
PASSWORD_AMR = ["pwd", "x_primary_password"]


class AuthorizeError(Exception):
    """An error answered by redirecting to the client's redirect_uri (RFC 6749 §4.1.2.1)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = safe_description(description)  # RFC 6749 §4.1.2.1's characters only


def answer(ctx: Context, redirect_uri: str, params: dict[str, str], fields: dict[str, str]) -> Response:
    """Sends `fields` back to the client, as the request's response_mode asks."""
    if "state" in params:
        fields = {**fields, "state": params["state"]}
    mode = params.get("response_mode") or "query"
    if mode == "form_post":
        return ctx.page(
            "form_post.html",
            action=for_browser(redirect_uri),
            fields=list(fields.items()),
            headers={"Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; form-action *"},
        )
    separator = "#" if mode == "fragment" else ("&" if "?" in redirect_uri else "?")
    if mode == "fragment" and "#" in redirect_uri:
        redirect_uri = redirect_uri.split("#", 1)[0]
    return RedirectResponse(redirect_uri + separator + urllib.parse.urlencode(fields), status_code=303)


def error_redirect(ctx: Context, redirect_uri: str, params: dict[str, str], error: AuthorizeError) -> Response:
    if params.get("response_mode") not in (None, "", *RESPONSE_MODES):
        params = {**params, "response_mode": "query"}
    return answer(ctx, redirect_uri, params, {"error": error.error, "error_description": error.description})


def resolve_redirect_uri(client: Client, sent: str | None) -> str | None:
    """Exact string match (trailing slash matters); may be left out only when one is registered."""
    if sent is None or sent == "":
        return client.redirect_uris[0] if len(client.redirect_uris) == 1 else None
    return sent if sent in client.redirect_uris else None


def validate(client: Client, params: dict[str, str], profile: Profile) -> None:
    """The checks answered by an error redirect, in Authgear's order."""
    response_type = params.get("response_type", "")
    if response_type == "token":
        raise AuthorizeError("unsupported_response_type", "response type 'token' is not supported")
    if response_type not in ("code", "none"):
        raise AuthorizeError("unauthorized_client", "response type is not allowed for this client")
    if params.get("response_mode") not in (None, "", *RESPONSE_MODES):
        raise AuthorizeError("invalid_request", "invalid response_mode")

    prompts = params.get("prompt", "").split()
    if "none" in prompts and (len(prompts) > 1 or "max_age" in params):
        raise AuthorizeError("invalid_request", "prompt=none cannot be used with other prompt values or max_age")
    if any(p not in ("none", "login", "consent", "select_account") for p in prompts):
        raise AuthorizeError("invalid_request", "invalid prompt value")
    max_age = params.get("max_age")
    if max_age is not None and not is_whole_number(max_age):
        raise AuthorizeError("invalid_request", "invalid max_age")

    scopes = params.get("scope", "").split()
    if not scopes:
        raise AuthorizeError("invalid_request", "scope is required")
    unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
    if unknown:
        # Named only when it looks like a scope: never attacker text (markup, quotes) echoed back.
        named = f": {unknown[0]}" if PLAIN_SCOPE.fullmatch(unknown[0]) else ""
        raise AuthorizeError("invalid_scope", "unknown scope" + named)
    if "openid" not in scopes:
        raise AuthorizeError("invalid_scope", "must request 'openid' scope")

    challenge = params.get("code_challenge")
    if challenge:
        if params.get("code_challenge_method") != "S256":
            raise AuthorizeError("invalid_request", "only 'S256' PKCE transform is supported")
    elif not client.is_confidential:
        raise AuthorizeError("invalid_request", "PKCE code challenge is required for public clients")
    elif profile.pkce_required_for_all:  # the strict profile: RFC 9700 §2.1.1
        raise AuthorizeError("invalid_request", "PKCE code challenge is required for every client")


def suppresses_idp_session(params: dict[str, str]) -> bool:
    """`x_suppress_idp_session_cookie=true` (Authgear's web SDK sends it by default): this login
    neither uses the browser's IdP session nor sets one."""
    return params.get("x_suppress_idp_session_cookie") == "true"


def next_page(ctx: Context, session: IdpSession | None, params: dict[str, str]) -> str | None:
    """Where the browser goes: "login" (the form), "select_account" (Continue as <user>), or
    None (straight back with a code)."""
    prompts = params.get("prompt", "").split()
    if session is None or "login" in prompts:
        return "login"
    hint = verify_id_token_hint(ctx, params.get("id_token_hint", ""))
    if hint is not None and hint["sub"] != session.user_sub:
        return "login"  # the app expects another user than the one logged in here
    max_age = params.get("max_age")
    # OIDC Core §3.1.2.1: max_age=0 means the user must log in again now.
    if max_age is not None and (int(max_age) == 0 or ctx.store.now() - session.auth_time > int(max_age)):
        return "login"
    if "none" in prompts or hint is not None:
        return None  # prompt=none, or the app named the user who is logged in: no page at all
    return "select_account"  # as Authgear: an IdP session still asks "Continue as <user>?"


def complete(ctx: Context, client: Client, params: dict[str, str], redirect_uri: str, session: IdpSession) -> Response:
    """The user is logged in: first-party client, so no consent; issue the code."""
    if params.get("response_type") == "none":
        return answer(ctx, redirect_uri, params, {})
    code = ctx.store.issue_code(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scopes=params["scope"].split(),
        nonce=params.get("nonce") or None,  # an empty nonce is no nonce: no "nonce" claim
        code_challenge=params.get("code_challenge") or None,
        user_sub=session.user_sub,
        session_id=session.id,
        auth_time=session.auth_time,
        amr=session.amr,
    )
    return answer(ctx, redirect_uri, params, {"code": code})


async def authorize(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    params = query_params(request)
    if request.method == "POST":
        # Parameters from the POST form, else the query; first value wins.
        params = {**params, **await form_params(request)}

    client = ctx.store.client(params.get("client_id"))
    if client is None:
        return params, error_page("unauthorized_client", "invalid client ID")
    redirect_uri = resolve_redirect_uri(client, params.get("redirect_uri"))
    if redirect_uri is None:
        return params, error_page("invalid_request", "redirect URI is not allowed")

    try:
        validate(client, params, ctx.profile)
        session = None if suppresses_idp_session(params) else current_session(ctx, request)
        page = next_page(ctx, session, params)
        if page is None:
            assert session is not None
            return params, complete(ctx, client, params, redirect_uri, session)
        if "none" in params.get("prompt", "").split():
            raise AuthorizeError("login_required", "authentication required")
        browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(24)
        login = ctx.store.create_login_request(client.client_id, params, redirect_uri, browser)
        response = RedirectResponse(ctx.endpoint(f"/{page}?login_request={login.id}"), status_code=303)
        if request.cookies.get(BROWSER_COOKIE) != browser:
            response.set_cookie(BROWSER_COOKIE, browser, httponly=True, samesite="lax",
                                secure=ctx.secure_cookies, path="/")
        return params, response
    except AuthorizeError as error:
        return params, error_redirect(ctx, redirect_uri, params, error)
