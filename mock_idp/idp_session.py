"""The browser's IdP session: its two cookies, as Authgear sets them.

- `mock_idp_session` (SameSite=Lax, HttpOnly): a random secret that the store keeps only
  hashed. It is NOT the `sid` claim: an ID token goes to every relying party (and the
  walkthrough prints its claims), so a cookie value inside it would let anyone holding the
  token take over the login with `prompt=none`. `sid` stays an identifier.
- `mock_idp_same_site_strict` = `true` (SameSite=Strict): Authgear's marker. The browser sends
  it only on a same-site request, so end_session logs out at once when it arrives and asks
  the user first when it does not (any other site could have sent the browser there).

Neither is Secure on a plain-http issuer: the browser would drop it on http://localhost.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .context import SESSION_COOKIE, Context
from .store import IdpSession

SAME_SITE_COOKIE = "mock_idp_same_site_strict"


def current_session(ctx: Context, request: Request) -> IdpSession | None:
    """The live IdP session this browser's cookie names, if any."""
    return ctx.store.session_for_cookie(request.cookies.get(SESSION_COOKIE))


def is_same_site(request: Request) -> bool:
    """True when the browser sent the SameSite=Strict marker: a same-site navigation."""
    return request.cookies.get(SAME_SITE_COOKIE) == "true"


def remember_login(ctx: Context, response: Response, session: IdpSession, cookie: str) -> None:
    max_age = max(session.expires_at - ctx.store.now(), 0)
    secure = ctx.secure_cookies  # plain-http localhost must not get Secure, or the browser drops it
    response.set_cookie(SESSION_COOKIE, cookie, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/")
    response.set_cookie(SAME_SITE_COOKIE, "true", max_age=max_age, httponly=True, samesite="strict", secure=secure,
                        path="/")


def forget_login(ctx: Context, response: Response) -> None:
    secure = ctx.secure_cookies
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(SAME_SITE_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
