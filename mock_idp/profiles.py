"""Mock profiles: Authgear's behaviour (the default), or the RFCs' where Authgear is looser.

`python -m mock_idp --profile strict`, `serve(profile="strict")`, `create_app(..., profile=...)`.
A profile is only the handful of decisions in which the two differ; the endpoints read
`ctx.profile.<field>` at those points and behave as Authgear everywhere else. The README's
"Profiles" table lists each difference with the request that shows it.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ClientAuthErrors:
    """How the token and revocation endpoints answer a client that fails to authenticate
    (unknown client_id, no secret, a wrong secret)."""

    wrong_secret: str
    """The error code for a wrong client secret (an unknown client or a missing secret is
    `invalid_client` in both profiles). RFC 6749 §5.2: `invalid_client`; Authgear says
    `invalid_request` "invalid client secret"."""

    status: int
    """The HTTP status of every client-authentication failure. RFC 6749 §5.2: 401 when the
    client authenticated with the Authorization header (MUST), and it MAY for the others;
    Authgear answers 400."""

    challenge: str | None
    """The WWW-Authenticate header sent with it (RFC 6749 §5.2, RFC 7235 §3.1: a 401 carries
    one), or None."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """The behaviours in which the mock can follow either Authgear or the RFCs."""

    name: str
    summary: str  # one line, for the banner and GET /_mock/

    pkce_required_for_all: bool
    """The authorization endpoint refuses a request without `code_challenge` from a
    confidential client too (a redirect with `error=invalid_request`, RFC 6749 §4.1.2.1), and
    the token endpoint asks every client for `code_verifier`. RFC 9700 §2.1.1 requires PKCE of
    public clients and RECOMMENDS it for confidential ones (which may rely on `nonce` instead):
    the strict profile takes the recommendation as the rule. Authgear requires PKCE of public
    clients only."""

    rotate_refresh_tokens: bool
    """Every refresh issues a new refresh token and the one used dies, whatever the client's
    `refresh_token_rotation` says. RFC 9700 §4.14.2. Authgear rotates only for a client
    configured to (off by default)."""

    refresh_reuse_revokes_grant: bool
    """A rotated-out refresh token presented again is `invalid_grant` AND revokes its whole
    grant: the newest refresh token and every access token issued from it. RFC 9700 §4.14.2
    (reuse detection). Authgear answers `invalid_grant` and revokes nothing."""

    code_replay_revokes_tokens: bool
    """A code redeemed a second time (while it would still have been valid) is `invalid_grant`
    AND revokes the tokens the first redemption issued. RFC 6749 §4.1.2 and §10.5 (SHOULD).
    Authgear answers `invalid_grant` and revokes nothing."""

    client_auth_errors: ClientAuthErrors
    """The answer to a client-authentication failure: see ClientAuthErrors. RFC 6749 §5.2."""

    authenticate_client_first: bool
    """The authorization_code grant authenticates the client before it looks at the code, so
    a client that fails authentication gets `invalid_client` whatever else is wrong, and a
    replay without the client's secret revokes nothing. RFC 6749 §3.2.1, §4.1.3. Authgear
    checks the code, its redirect URI and PKCE first and the secret last."""

    refresh_checks_secret: bool
    """The refresh_token grant authenticates a confidential client, before it looks at the
    refresh token (so a reuse without the secret revokes nothing). RFC 6749 §6. Authgear
    accepts any secret, or none, there."""

    revocation_authenticates_client: bool
    """The revocation endpoint authenticates the client (401 `invalid_client` for an unknown
    client, or a confidential one without its secret) and revokes only the client's own
    tokens (400 `unauthorized_client` for another client's). RFC 7009 §2.1. Authgear answers
    200 to anyone and revokes any token."""


AUTHGEAR = Profile(
    name="authgear",
    summary="Authgear's behaviour, quirks included",
    pkce_required_for_all=False,
    rotate_refresh_tokens=False,
    refresh_reuse_revokes_grant=False,
    code_replay_revokes_tokens=False,
    client_auth_errors=ClientAuthErrors(wrong_secret="invalid_request", status=400, challenge=None),
    authenticate_client_first=False,
    refresh_checks_secret=False,
    revocation_authenticates_client=False,
)

STRICT = Profile(
    name="strict",
    summary="RFC 6749, RFC 7009 and RFC 9700 where Authgear is looser",
    pkce_required_for_all=True,
    rotate_refresh_tokens=True,
    refresh_reuse_revokes_grant=True,
    code_replay_revokes_tokens=True,
    client_auth_errors=ClientAuthErrors(wrong_secret="invalid_client", status=401,
                                        challenge='Basic realm="mock_idp"'),
    authenticate_client_first=True,
    refresh_checks_secret=True,
    revocation_authenticates_client=True,
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (AUTHGEAR, STRICT)}
DEFAULT = AUTHGEAR.name


def profile_named(name: str | Profile) -> Profile:
    """The profile called `name` (a Profile is returned as it is); ValueError names the choices."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {name!r}: choose from {', '.join(PROFILES)}") from None
