"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) and token revocation (RFC 7009)."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .context import SESSION_COOKIE, Context, same_origin
from .params import form_params, query_params
from .tokens import verify_id_token_hint
from .userinfo import verify_access_token


def registered_target(ctx: Context, client_id: str | None, target: str) -> bool:
    """Exact match against the client's post-logout URIs, or any client's when none is named."""
    client = ctx.store.client(client_id)
    clients = [client] if client is not None else list(ctx.store.config.clients.values())
    return bool(target) and any(target in c.post_logout_redirect_uris for c in clients)


async def end_session(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    params = query_params(request)
    if request.method == "POST":
        params = {**params, **await form_params(request)}
    hint = verify_id_token_hint(ctx, params.get("id_token_hint", ""))
    session = ctx.store.live_session(request.cookies.get(SESSION_COOKIE))
    confirmed = request.method == "POST" and params.get("confirm") == "yes" and same_origin(ctx, request)
    if session is not None and (hint is None or hint.get("sid") != session.id) and not confirmed:
        # As Authgear: without an id_token_hint naming this browser's session, any page could
        # have sent the browser here, so the user confirms first (RP-Initiated Logout §2).
        user = ctx.store.user(session.user_sub)
        fields = [(k, params[k]) for k in ("id_token_hint", "post_logout_redirect_uri", "state", "client_id") if k in params]
        return params, ctx.page("confirm_logout.html", action=ctx.endpoint("/oauth2/end_session"),
                                fields=fields, email=user.email if user else "")
    if session is not None:
        ctx.store.end_session(session.id)  # with its refresh tokens and access tokens

    hinted_client = hint["aud"][0] if hint else None
    target = params.get("post_logout_redirect_uri", "")
    if registered_target(ctx, hinted_client or params.get("client_id"), target):
        if params.get("state"):
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
        detail="You see this page because the app gave no post_logout_redirect_uri registered for it. "
               "Authgear does the same: it never redirects to an address it does not know.",
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
