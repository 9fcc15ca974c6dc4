"""Checking a signed JWT: the part the ID token (OIDC Core §3.1.3.7) and the API's access
tokens (RFC 9068 §4) share.

PyJWT checks the signature with the key the token's `kid` names, `iss`, `aud` and that the
required claims are there. The times (`exp`, `iat`) are checked here against the app's
clock (see clock.py) with a small allowance for clocks that differ by a few seconds.
Each check is recorded, so the page can show what was checked, not just "valid".
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from .steps import Check, too_deep

CLOCK_SKEW = 10  # seconds of disagreement between clocks that are tolerated
ALGORITHMS = ["RS256"]  # what Authgear signs with (discovery: id_token_signing_alg_values_supported)

KeyLookup = Callable[[str], Awaitable[jwt.PyJWK | None]]


def shown(value: Any) -> str:
    """A value from the token's (unverified) header, quoted and cut short for messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def is_time(value: Any) -> bool:
    """A NumericDate (RFC 7519 §2): a finite number. JSON parsers accept Infinity and NaN, and
    int(Infinity) raises; 10**400 does not fit a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and abs(value) < 1e15
    except OverflowError:
        return False


class TokenCheckFailed(Exception):
    def __init__(self, reason: str, checks: list[Check]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.checks = checks


async def verify(token: str, key_for: KeyLookup, *, issuer: str, audience: str, now: float,
                 required: tuple[str, ...] = ("iss", "aud", "exp", "iat", "sub"),
                 typ: str | None = None) -> tuple[dict[str, Any], list[Check]]:
    """The token's claims if it passes; raises TokenCheckFailed naming the failed check."""
    checks: list[Check] = []

    def fail(name: str, detail: str) -> TokenCheckFailed:
        checks.append(Check(name, False, detail))
        return TokenCheckFailed(f"{name}: {detail}", checks)

    try:
        header = jwt.get_unverified_header(token)
    except (jwt.InvalidTokenError, RecursionError):
        raise fail("format", "not a JWT (three base64url parts, the first a JSON header)") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        # Never let the token choose a weaker algorithm (or "none").
        raise fail("alg", f"{shown(alg)} is not an accepted algorithm ({', '.join(ALGORITHMS)})")
    if typ is not None and str(header.get("typ", "")).lower() != typ:
        raise fail("typ", f"header typ is {shown(header.get('typ'))}, expected {typ!r}")
    if not isinstance(kid, str):
        raise fail("kid", "the header names no key")
    key = await key_for(kid)
    if key is None:
        raise fail("signature", f"no key {shown(kid)} in the provider's JWKS")
    try:
        claims = jwt.decode(
            token, key.key, algorithms=ALGORITHMS, issuer=issuer, audience=audience,
            options={"require": list(required), "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise fail("signature", f"does not verify with key {shown(kid)}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise fail("claims", f"the {exc.claim!r} claim is missing") from None
    except jwt.InvalidIssuerError:
        raise fail("iss", f"the token's issuer is not {issuer!r}") from None
    except jwt.InvalidAudienceError:
        raise fail("aud", f"{audience!r} is not in the token's audience") from None
    except jwt.InvalidTokenError as exc:
        raise fail("format", str(exc) or type(exc).__name__) from None
    except RecursionError:  # a payload nested a thousand levels deep
        raise fail("format", "the claims are nested too deeply") from None
    if too_deep(claims):
        raise fail("format", "the claims are nested too deeply")
    checks.append(Check("signature", True, f"RS256 with key {kid[:8]}… from the JWKS"))
    checks.append(Check("iss", True, f"is {issuer}"))
    checks.append(Check("aud", True, f"contains {audience}"))

    exp, iat = claims.get("exp"), claims.get("iat")
    if not is_time(exp):
        raise fail("exp", "is not a number of seconds")
    if now >= exp + CLOCK_SKEW:
        raise fail("exp", f"expired {int(now - exp)} s ago")
    checks.append(Check("exp", True, f"still valid for {int(exp - now)} s"))
    if not is_time(iat):
        raise fail("iat", "is not a number of seconds")
    if iat > now + CLOCK_SKEW:
        raise fail("iat", f"issued {int(iat - now)} s in the future (clocks out of step?)")
    checks.append(Check("iat", True, f"issued {max(0, int(now - iat))} s ago"))
    return claims, checks
