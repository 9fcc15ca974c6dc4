"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) and token revocation (RFC 7009)."""

from __future__ import annotations

import urllib.parse

import jwt
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .context import SESSION_COOKIE, Context
from .params import form_params, query_params
from .userinfo import verify_access_token


def hinted_session(ctx: Context, id_token_hint: str) -> tuple[str | None, str | None]:
    """The (sid, client_id) of a valid ID token we signed; an expired one is still a good hint."""
    if not id_token_hint:
        return None, None
    try:
        claims = ctx.key.verify(
            id_token_hint, issuer=ctx.issuer, options={"verify_exp": False, "verify_aud": False, "verify_iat": False}
        )
    except jwt.InvalidTokenError:
        return None, None
    aud = claims.get("aud")
    client_id = aud[0] if isinstance(aud, list) and aud and isinstance(aud[0], str) else aud
    sid = claims.get("sid")
    return (sid if isinstance(sid, str) else None), (client_id if isinstance(client_id, str) else None)


async def end_session(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    params = query_params(request)
    if request.method == "POST":
        params = {**params, **await form_params(request)}
    sid, hinted_client = hinted_session(ctx, params.get("id_token_hint", ""))
    # End the browser's IdP session, and the one the ID token names (a logout sent from a
    # back end carries no cookie): each with its refresh tokens and access tokens.
    for session_id in {request.cookies.get(SESSION_COOKIE), sid}:
        if session_id:
            ctx.store.end_session(session_id)

    client = ctx.store.client(hinted_client or params.get("client_id"))
    target = params.get("post_logout_redirect_uri", "")
    if client is not None and target and target in client.post_logout_redirect_uris:
        if "state" in params:
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"state": params["state"]})
        response: Response = RedirectResponse(target, status_code=303)
    else:
        # Never an open redirect: an unregistered URI is ignored and Authgear shows its own page.
        response = RedirectResponse(ctx.endpoint("/settings"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=ctx.secure_cookies)
    return params, response


async def settings_page(ctx: Context, request: Request) -> Response:
    signed_in = ctx.store.live_session(request.cookies.get(SESSION_COOKIE))
    user = ctx.store.user(signed_in.user_sub) if signed_in else None
    if user is not None:
        return ctx.page("message.html", heading="Your account",
                        message=f"You are signed in to this mock Authgear as {user.email}.")
    return ctx.page(
        "message.html",
        heading="You are signed out",
        message="Your session at this mock Authgear has ended.",
        detail="You see this page because the app gave no post_logout_redirect_uri registered for it "
               "(or no id_token_hint to tell which app it is). Authgear does the same: it never "
               "redirects to an address it does not know.",
    )


async def revoke(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    """Always 200 with an empty body (RFC 7009 §2.2); no client authentication, as Authgear."""
    params = await form_params(request)
    token = params.get("token", "")
    grant = ctx.store.grant_for_refresh_token(token) if "." in token and token.count(".") == 1 else None
    if grant is not None:
        ctx.store.revoke_grant(grant)  # the whole grant: its access tokens stop working too
    else:
        verified = verify_access_token(ctx, token) if token.count(".") == 2 else None
        if verified is not None:
            ctx.store.revoke_access_token(str(verified[0]["jti"]))
    return params, Response(status_code=200, headers={"Cache-Control": "no-store"})
