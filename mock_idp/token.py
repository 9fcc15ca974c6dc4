"""The token endpoint (RFC 6749 §3.2): the authorization_code and refresh_token grants.

Errors are HTTP 400 JSON (RFC 6749 §5.2) with Authgear's codes, including its quirks (see
"Where the mock knowingly differs" and the RFC departures in the README). Where the strict
profile answers otherwise, the code asks `ctx.profile` (profiles.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .config import Client
from .context import NO_STORE, Context, json_error
from .params import form_params
from .profiles import Profile
from .tokens import token_response

VERIFIER = re.compile(r"[-._~A-Za-z0-9]{43,128}")  # RFC 7636 §4.1


class TokenError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class ClientAuthFailure(TokenError):
    """The client did not authenticate (RFC 6749 §2.3): an unknown client, no secret, or a
    wrong one. Answered as the profile says (`client_auth_error`)."""

    def __init__(self, description: str, wrong_secret: bool = False) -> None:
        super().__init__("invalid_client", description)
        self.wrong_secret = wrong_secret


def client_auth_error(profile: Profile, failure: ClientAuthFailure) -> JSONResponse:
    """Authgear: 400, and `invalid_request` for a wrong secret; strict: 401 `invalid_client`
    with WWW-Authenticate (RFC 6749 §5.2)."""
    answers = profile.client_auth_errors
    error = answers.wrong_secret if failure.wrong_secret else failure.error
    headers = {"WWW-Authenticate": answers.challenge} if answers.challenge else None
    return json_error(error, failure.description, status=answers.status, headers=headers)


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """client_secret_basic, from an Authorization header's value: RFC 6749 §2.3.1 form-urlencodes
    id and secret before base64. None for another scheme or a value that does not decode."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text (a latin-1 header)
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def client_credentials(request: Request, params: dict[str, str]) -> tuple[str, str]:
    """client_secret_post, else client_secret_basic (used only when the body has neither)."""
    if "client_id" in params or "client_secret" in params:
        return params.get("client_id", ""), params.get("client_secret", "")
    return basic_credentials(request.headers.get("authorization", "")) or ("", "")


def check_secret(client: Client, secret: str) -> None:
    if not client.is_confidential:
        return
    assert client.client_secret is not None
    if not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
        # Authgear's quirk: invalid_request; RFC 6749 §5.2 says invalid_client (401) here.
        raise ClientAuthFailure("invalid client secret", wrong_secret=True)


def authenticate(client: Client, secret: str) -> None:
    """A confidential client sends its secret (RFC 6749 §2.3.1); a public one has none to send."""
    if client.is_confidential and not secret:
        raise ClientAuthFailure("client secret is required")
    check_secret(client, secret)


def authenticated_client(ctx: Context, request: Request, params: dict[str, str]) -> Client:
    """The client the request names, authenticated; raises ClientAuthFailure."""
    client_id, secret = client_credentials(request, params)
    client = ctx.store.client(client_id)
    if client is None:
        raise ClientAuthFailure("invalid client ID")
    authenticate(client, secret)
    return client


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def pkce_holds(challenge: str | None, verifier: str | None) -> bool:
    """RFC 7636 §4.6: the verifier's S256 must be the challenge stored with the code. A verifier
    sent for a code issued without a challenge fails too: a PKCE downgrade (RFC 9700 §2.1.1)."""
    if challenge is None:
        return not verifier
    if not verifier or not VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier).encode(), challenge.encode())


def revoke_if_replayed(ctx: Context, code_value: str) -> None:
    """A code redeemed before, presented again: the tokens its redemption issued are revoked
    (RFC 6749 §4.1.2, §10.5)."""
    grant = ctx.store.grant_of_redeemed_code(code_value)
    if grant is not None:
        ctx.store.revoke_grant(grant)


def authorization_code_grant(ctx: Context, client: Client, params: dict[str, str], secret: str) -> dict:
    # Authgear's order: the request's shape first, then the code, its redirect URI, PKCE,
    # and the client secret last. The strict profile authenticates the client first.
    profile = ctx.profile
    if profile.authenticate_client_first:
        authenticate(client, secret)
    code_value = params.get("code", "")
    if not code_value:
        raise TokenError("invalid_request", "code is required")
    verifier = params.get("code_verifier")
    pkce_required = profile.pkce_required_for_all or not client.is_confidential
    if pkce_required and not verifier:  # the request's shape: checked before the code
        raise TokenError("invalid_request", "PKCE code verifier is required")
    if client.is_confidential and not secret:
        raise ClientAuthFailure("client secret is required")
    code = ctx.store.find_code(code_value)
    if code is None and profile.code_replay_revokes_tokens:
        revoke_if_replayed(ctx, code_value)
    if code is None or code.client_id != client.client_id:
        raise TokenError("invalid_grant", "invalid authorization code")
    # Authgear compares with the redirect URI the code was issued for, even when the
    # authorization request left it out (RFC 6749 §4.1.3 would then allow leaving it out here).
    if not hmac.compare_digest(params.get("redirect_uri", "").encode(), code.redirect_uri.encode()):
        raise TokenError("invalid_request", "invalid redirect URI")
    if not pkce_holds(code.code_challenge, verifier):
        # As Authgear: the same answer as a bad code, so it does not say that PKCE failed.
        raise TokenError("invalid_grant", "invalid authorization code")
    check_secret(client, secret)

    # Every check passed: only now is the code consumed (a failed exchange keeps it).
    if not ctx.store.consume_code(code_value):
        raise TokenError("invalid_grant", "invalid authorization code")
    user = ctx.store.user(code.user_sub)
    if user is None or ctx.store.live_session(code.session_id) is None:
        raise TokenError("invalid_grant", "invalid authorization code")
    grant, refresh_token = ctx.store.create_grant(code, offline="offline_access" in code.scopes)
    if profile.code_replay_revokes_tokens:
        ctx.store.remember_redeemed_code(code_value, grant, code.expires_at)
    return token_response(
        ctx.key, ctx.issuer, client, user, grant, ctx.store.now(), code.nonce, refresh_token,
        ctx.store.remember_access_token,
    )


def refresh_token_grant(ctx: Context, client: Client, params: dict[str, str], secret: str) -> dict:
    # Authgear does not check the client secret on this grant (the strict profile does, first);
    # the request's scope is ignored.
    profile = ctx.profile
    if profile.refresh_checks_secret:
        authenticate(client, secret)
    token = params.get("refresh_token", "")
    if not token:
        raise TokenError("invalid_request", "refresh token is required")
    grant = ctx.store.grant_for_refresh_token(token)
    if grant is None:
        reused = ctx.store.grant_of_retired_refresh_token(token) if profile.refresh_reuse_revokes_grant else None
        if reused is not None:
            ctx.store.revoke_grant(reused)  # RFC 9700 §4.14.2: the newest refresh token dies too
        raise TokenError("invalid_grant", "invalid refresh token")
    if grant.client_id != client.client_id:
        # Authgear: invalid_request. RFC 6749 §5.2: a grant "issued to another client" is invalid_grant.
        strict = profile.client_auth_errors.wrong_secret == "invalid_client"
        raise TokenError("invalid_grant" if strict else "invalid_request", "client ID mismatch")
    user = ctx.store.user(grant.user_sub)
    if user is None:
        raise TokenError("invalid_grant", "invalid refresh token")
    with ctx.store.lock:
        grant.last_used_at = ctx.store.now()
        # With rotation the old refresh token dies at once (no grace period, as Authgear).
        new_refresh = None
        if profile.rotate_refresh_tokens or client.refresh_token_rotation:
            if profile.refresh_reuse_revokes_grant:
                ctx.store.retire_refresh_token(token, grant)
            new_refresh = ctx.store.rotate_refresh_token(grant)
    return token_response(
        ctx.key, ctx.issuer, client, user, grant, ctx.store.now(), None, new_refresh,
        ctx.store.remember_access_token,
    )


async def token(ctx: Context, request: Request) -> tuple[dict[str, str], Response]:
    params = await form_params(request)  # a JSON body is as good as empty
    client_id, secret = client_credentials(request, params)
    client = ctx.store.client(client_id)
    try:
        if client is None:
            raise ClientAuthFailure("invalid client ID")
        grant_type = params.get("grant_type", "")
        if grant_type == "authorization_code":
            body = authorization_code_grant(ctx, client, params, secret)
        elif grant_type == "refresh_token":
            body = refresh_token_grant(ctx, client, params, secret)
        elif grant_type == "client_credentials":
            raise TokenError("unauthorized_client", "client_credentials is for machine-to-machine clients only")
        else:
            raise TokenError("unsupported_grant_type", "unsupported grant type")
    except ClientAuthFailure as failure:
        return params, client_auth_error(ctx.profile, failure)
    except TokenError as error:
        return params, json_error(error.error, error.description)
    return params, JSONResponse(body, headers=NO_STORE)
