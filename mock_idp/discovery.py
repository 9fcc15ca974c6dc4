"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS (RFC 7517)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .authorize import RESPONSE_MODES, SUPPORTED_SCOPES
from .context import Context

CORS = {"Access-Control-Allow-Origin": "*"}


def metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/oauth2/authorize",
        "token_endpoint": issuer + "/oauth2/token",
        "userinfo_endpoint": issuer + "/oauth2/userinfo",
        "end_session_endpoint": issuer + "/oauth2/end_session",
        "revocation_endpoint": issuer + "/oauth2/revoke",
        "jwks_uri": issuer + "/oauth2/jwks",
        "response_types_supported": ["code", "none", "urn:authgear:params:oauth:response-type:settings-action"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "claims_supported": [
            "iss", "aud", "iat", "exp", "sub", "auth_time", "sid", "amr", "nonce",
            "email", "email_verified", "phone_number", "phone_number_verified",
            "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
            "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
            "address", "updated_at",
        ],
    }


async def openid_configuration(ctx: Context, request: Request) -> Response:
    return JSONResponse(metadata(ctx.issuer), headers=CORS)


async def jwks(ctx: Context, request: Request) -> Response:
    return JSONResponse(ctx.key.jwks(), headers=CORS)
