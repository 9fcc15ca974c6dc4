"""The claims of Authgear's ID tokens, access tokens and userinfo answers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import jwt

from .config import SCOPE_CLAIMS, Client, User
from .keys import SigningKey
from .store import Grant

if TYPE_CHECKING:
    from .context import Context

AUTHGEAR_CLAIMS = "https://authgear.com/claims/user/"


def authgear_user_claims(user: User) -> dict[str, Any]:
    return {
        AUTHGEAR_CLAIMS + "is_anonymous": False,
        AUTHGEAR_CLAIMS + "is_verified": user.email_verified,
        AUTHGEAR_CLAIMS + "can_reauthenticate": True,
        AUTHGEAR_CLAIMS + "roles": list(user.roles),
    }


def user_attributes(user: User) -> dict[str, Any]:
    """Every standard claim the user has (email, profile, phone, address)."""
    attributes: dict[str, Any] = {"email": user.email, "email_verified": user.email_verified}
    attributes.update(user.claims)
    attributes["updated_at"] = user.updated_at
    return attributes


def id_token_claims(
    issuer: str, client: Client, user: User, grant: Grant, now: int, nonce: str | None
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": [client.client_id],  # Authgear sends an array
        "iat": now,
        "exp": now + client.id_token_lifetime,
        "auth_time": grant.auth_time,
        "sid": grant.session_id,
        "amr": list(grant.amr),
        "sub": user.sub,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(authgear_user_claims(user))
    attributes = user_attributes(user)
    for scope in grant.scopes:
        for name in SCOPE_CLAIMS.get(scope, ()):
            if name in attributes:
                claims[name] = attributes[name]
    return claims


def access_token_claims(issuer: str, client: Client, user: User, grant: Grant, now: int) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": [issuer],
        "iat": now,
        "exp": now + client.access_token_lifetime,
        "sub": user.sub,
        "client_id": client.client_id,
        "scope": " ".join(grant.scopes),
        "auth_time": grant.auth_time,
        "amr": list(grant.amr),
        "jti": str(uuid.uuid4()),
    }
    claims.update(authgear_user_claims(user))
    return claims


def userinfo(user: User) -> dict[str, Any]:
    """A first-party client gets every attribute the user has, whatever the scope."""
    answer: dict[str, Any] = {"sub": user.sub}
    answer.update(user_attributes(user))
    answer.update(authgear_user_claims(user))
    answer["custom_attributes"] = dict(user.custom_attributes)
    answer["x_web3"] = {}
    return answer


def token_response(
    key: SigningKey,
    issuer: str,
    client: Client,
    user: User,
    grant: Grant,
    now: int,
    nonce: str | None,
    refresh_token: str | None,
    remember_jti: Any,
) -> dict[str, Any]:
    """The token endpoint's success body: two signatures (access token, ID token), no more."""
    at_claims = access_token_claims(issuer, client, user, grant, now)
    remember_jti(at_claims["jti"], grant, at_claims["exp"])  # the record lives as long as the token
    body: dict[str, Any] = {
        "access_token": key.sign(at_claims, typ="at+jwt"),
        "token_type": "Bearer",
        "expires_in": client.access_token_lifetime,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if "openid" in grant.scopes:
        body["id_token"] = key.sign(id_token_claims(issuer, client, user, grant, now, nonce), typ="JWT")
    return body


def verify_id_token_hint(ctx: "Context", token: str) -> dict[str, Any] | None:
    """The claims of an ID token this server signed for a client it knows, else None.
    An expired ID token is still a good hint (OIDC Core §3.1.2.1, RP-Initiated Logout §2)."""
    if not token:
        return None
    try:
        if jwt.get_unverified_header(token).get("typ") != "JWT":
            return None  # an access token (at+jwt) is no ID token
        claims = ctx.key.verify(
            token, issuer=ctx.issuer, options={"verify_exp": False, "verify_aud": False, "verify_iat": False}
        )
    except jwt.InvalidTokenError:
        return None
    aud = claims.get("aud")
    if not (isinstance(aud, list) and aud and isinstance(aud[0], str) and ctx.store.client(aud[0])):
        return None
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("sid", ""), str):
        return None
    return claims
