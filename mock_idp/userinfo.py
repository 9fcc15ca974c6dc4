"""The UserInfo endpoint (OIDC Core §5.3), a protected resource (RFC 6750)."""

from __future__ import annotations

from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from .context import Context, json_error, json_ok
from .params import form_params, query_params
from .store import Grant
from .tokens import userinfo as userinfo_claims

# Authgear answers invalid_grant where RFC 6750 §3.1 says invalid_token.
INVALID_SESSION = 'Bearer error="invalid_grant", error_description="invalid session"'


def verify_access_token(ctx: Context, token: str) -> tuple[dict[str, Any], Grant] | None:
    """Signature, issuer, audience and expiry by the mock's clock; then the store: a revoked
    grant or an ended session kills the token before its `exp`."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            return None  # e.g. an ID token sent where an access token belongs
        claims = ctx.key.verify(
            token, audience=ctx.issuer, issuer=ctx.issuer, options={"verify_exp": False, "verify_iat": False}
        )
    except jwt.InvalidTokenError:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= ctx.store.now():
        return None
    grant = ctx.store.access_token_grant(str(claims.get("jti", "")))
    if grant is None:
        return None
    return claims, grant


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def userinfo(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    params = query_params(request)
    if request.method == "POST":
        params = {**params, **await form_params(request)}  # read, but a token here is not accepted
    verified = verify_access_token(ctx, bearer_token(request))
    user = ctx.store.user(verified[1].user_sub) if verified else None
    if user is None:
        return params, json_error("invalid_grant", "invalid session", status=401,
                                  headers={"WWW-Authenticate": INVALID_SESSION})
    return params, json_ok(userinfo_claims(user), headers={"Cache-Control": "no-store"})
