"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) and token revocation (RFC 7009)."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .config import Client
from .context import Context, json_error, same_origin
from .idp_session import current_session, forget_login, is_same_site
from .params import form_params, query_params
from .token import ClientAuthFailure, authenticated_client, client_auth_error
from .userinfo import verify_access_token

END_SESSION_PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales")


def registered_target(ctx: Context, target: str) -> bool:
    """Exact match against the post-logout URIs of ANY client of the project, as Authgear."""
    return bool(target) and any(target in c.post_logout_redirect_uris for c in ctx.store.config.clients.values())


def end_session_url(ctx: Context, params: dict[str, str]) -> str:
    """end_session again, with the same parameters: where the confirmation page returns to."""
    fields = {k: params[k] for k in END_SESSION_PARAMS if k in params}
    return ctx.endpoint("/oauth2/end_session") + ("?" + urllib.parse.urlencode(fields) if fields else "")


async def end_session(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    """Decides as Authgear does. It does not read id_token_hint to decide: with an IdP session,
    it logs out at once when its SameSite=Strict marker cookie came along (a same-site
    navigation), and otherwise sends the browser to its logout confirmation page first (any
    site could have sent the browser here). Without a session, it goes on to the
    post_logout_redirect_uri if any client registered it, else to its own /settings page."""
    params = query_params(request)
    if request.method == "POST":
        params = {**params, **await form_params(request)}
    session = current_session(ctx, request)
    if session is not None and not is_same_site(request):
        confirm = ctx.endpoint("/logout?" + urllib.parse.urlencode({"redirect_uri": end_session_url(ctx, params)}))
        return params, RedirectResponse(confirm, status_code=302)
    if session is not None:
        ctx.store.end_session(session.id)  # with its refresh tokens and access tokens

    target = params.get("post_logout_redirect_uri", "")
    if registered_target(ctx, target):
        if params.get("state"):
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"state": params["state"]})
        response: Response = RedirectResponse(target, status_code=303)
    else:
        # Never an open redirect: an unregistered URI is ignored and Authgear shows its own page.
        response = RedirectResponse(ctx.endpoint("/settings"), status_code=303)
    forget_login(ctx, response)
    return params, response


def confirmed_return(ctx: Context, redirect_uri: str) -> str:
    """The confirmation page returns only to this server's own end_session endpoint."""
    parts = urllib.parse.urlsplit(redirect_uri)
    own = urllib.parse.urlsplit(ctx.endpoint("/oauth2/end_session"))
    if (parts.scheme, parts.netloc, parts.path) != (own.scheme, own.netloc, own.path) or parts.fragment:
        return ctx.endpoint("/settings")
    return redirect_uri


async def logout_page(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    """Authgear's logout confirmation page: "Log out?" (GET), then the logout itself (POST from
    this page only), then back to end_session, which finishes the RP-initiated logout."""
    params = query_params(request)
    if request.method == "POST":
        params = {**params, **await form_params(request)}
    back = confirmed_return(ctx, params.get("redirect_uri", ""))
    session = current_session(ctx, request)
    if session is None:  # already logged out (another tab): nothing to confirm
        return params, RedirectResponse(back, status_code=303)
    if request.method != "POST":
        user = ctx.store.user(session.user_sub)
        return params, ctx.page("confirm_logout.html", action=ctx.endpoint("/logout"), redirect_uri=back,
                                email=user.email if user else "")
    if not same_origin(ctx, request) or params.get("action") != "logout":
        # A page on another site posting the form itself: ask again, end nothing.
        return params, RedirectResponse(ctx.endpoint("/logout?" + urllib.parse.urlencode({"redirect_uri": back})),
                                        status_code=303)
    ctx.store.end_session(session.id)
    response = RedirectResponse(back, status_code=303)
    forget_login(ctx, response)
    return params, response


async def settings_page(ctx: Context, request: Request) -> Response:
    signed_in = current_session(ctx, request)
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
    """200 with an empty body (RFC 7009 §2.2), whether or not the token was one; no client
    authentication, as Authgear. The strict profile authenticates the client first and
    revokes only its own tokens (RFC 7009 §2.1)."""
    params = await form_params(request)
    client: Client | None = None
    if ctx.profile.revocation_authenticates_client:
        try:
            client = authenticated_client(ctx, request, params)
        except ClientAuthFailure as failure:
            return params, client_auth_error(ctx.profile, failure)
    token = params.get("token", "")
    grant = ctx.store.grant_for_refresh_token(token) if "." in token and token.count(".") == 1 else None
    verified = verify_access_token(ctx, token) if grant is None and token.count(".") == 2 else None
    owner = grant if grant is not None else verified[1] if verified is not None else None
    if client is not None and owner is not None and owner.client_id != client.client_id:
        return params, json_error("unauthorized_client", "the token was issued to another client")
    if grant is not None:
        ctx.store.revoke_grant(grant)  # the whole grant: its access tokens stop working too
    elif verified is not None:
        ctx.store.revoke_access_token(str(verified[0]["jti"]))
    return params, Response(status_code=200, headers={"Cache-Control": "no-store"})
