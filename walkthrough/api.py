"""The tutorial's "next step": a protected API. A resource server of its own (mounted at
/api), it trusts nothing but a valid access token in the Authorization header:

- RFC 6750 §2.1: `Authorization: Bearer <token>`; no cookies, so no CSRF.
- RFC 9068 §4: a JWT access token, `typ` at+jwt (an ID token is refused: a common
  mistake is to send the ID token to an API), signature by the JWKS key its `kid` names,
  `iss` the issuer, `aud` containing the issuer (Authgear's access tokens), `exp`, `iat`.
- The scope it needs: `profile`. Otherwise 403 insufficient_scope.
- RFC 6750 §3: a 401 carries `WWW-Authenticate: Bearer realm=..., error="invalid_token"`;
  with no token at all, only the realm (§3.1).

Checking the JWT locally cannot see a revocation (Authgear's own endpoints also check their
store); an API that must know asks the provider, or keeps tokens short-lived.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import Clock
from .errors import WalkthroughError
from .jwt_checks import TokenCheckFailed, verify
from .provider import Provider

REALM = "walkthrough-api"
REQUIRED_SCOPE = "profile"
NO_STORE = {"Cache-Control": "no-store"}


def bearer_challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        # RFC 6750 §3: printable ASCII without '"' or '\\' (the reason may quote the token's header).
        safe = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')[:200]
        parts.append(f'error_description="{safe}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def refuse(status: int, error: str | None, description: str, scope: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error or "unauthorized", "error_description": description}
    headers = {**NO_STORE, "WWW-Authenticate": bearer_challenge(error, description if error else None, scope)}
    return JSONResponse(body, status_code=status, headers=headers)


def create_api(provider: Provider, clock: Clock) -> Starlette:
    async def profile(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            # RFC 6750 §3.1: no credentials at all → no error code, just the challenge.
            return refuse(401, None, "Send an access token: Authorization: Bearer <token>.")
        await run_in_threadpool(clock.sync)
        try:
            claims, _ = await verify(token, provider.signing_key, issuer=provider.issuer, audience=provider.issuer,
                                     now=clock.now(), required=("iss", "aud", "exp", "iat", "sub", "scope"),
                                     typ="at+jwt")
        except TokenCheckFailed as failure:
            hint = " (is this an ID token? Send the access token.)" if failure.checks[-1].name == "typ" else ""
            return refuse(401, "invalid_token", f"The access token failed a check: {failure.reason}{hint}")
        except WalkthroughError as exc:  # the provider's keys could not be fetched: not the token's fault
            return JSONResponse({"error": "temporarily_unavailable", "error_description": exc.message},
                                status_code=503, headers={**NO_STORE, "Retry-After": "10"})
        scopes = str(claims.get("scope", "")).split()
        if REQUIRED_SCOPE not in scopes:
            return refuse(403, "insufficient_scope", f"This endpoint needs the {REQUIRED_SCOPE!r} scope.",
                          scope=REQUIRED_SCOPE)
        roles = claims.get("https://authgear.com/claims/user/roles", [])
        client_id = claims.get("client_id")
        return JSONResponse({  # only strings echoed: JSONResponse refuses NaN and Infinity
            "message": "Hello from the protected API. Your access token passed every check.",
            "sub": claims["sub"],
            "client_id": client_id if isinstance(client_id, str) else None,
            "scope": scopes,
            "roles": [role for role in roles if isinstance(role, str)] if isinstance(roles, list) else [],
            "token_expires_in": int(claims["exp"] - clock.now()),
        }, headers=NO_STORE)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return JSONResponse({"error": "not_found" if status == 404 else "method_not_allowed"}, status_code=status,
                            headers=getattr(exc, "headers", None))

    return Starlette(routes=[Route("/profile", profile, methods=["GET"], name="profile")],
                     exception_handlers={404: not_found, 405: not_found})

