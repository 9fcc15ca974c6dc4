"""Notebook 05's exercises: decoding a JWT segment, the RS256 signature by hand, and the ID token's claim checks."""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import Case, Exercise, WrongAnswer, register, shown


def b64url_encode_json(value: dict[str, Any]) -> str:
    """A JWT segment: compact JSON, UTF-8, base64url without '=' padding (RFC 7515 §2)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


# --- decode_segment: base64url, padding restored, then JSON (RFC 7515 §2, RFC 7519 §7.2) ----

def decode_segment(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)  # JWTs drop the '=' padding: put it back
    return json.loads(base64.urlsafe_b64decode(padded))  # base64url ('-', '_'), then JSON


def judge_segment(value: dict[str, Any]) -> Callable[[Any], str | None]:
    def judge(answer: Any) -> str | None:
        if answer == value:
            return None
        if isinstance(answer, (bytes, str)):
            return (f"it returned the JSON text ({type(answer).__name__}) {shown(repr(answer))}: "
                    "parse it with json.loads to get a dict.")
        return f"it returned {shown(repr(answer))}, expected {shown(repr(value))}."
    return judge


WHY_PADDING = ("JWTs drop base64's '=' padding (RFC 7515 §2), and Python's decoder wants it back: "
               "add '=' * (-len(segment) % 4) before decoding.")
WHY_URLSAFE = ("A JWT segment is base64url (RFC 4648 §5): '-' and '_' where plain base64 has '+' and '/'. "
               "base64.b64decode silently drops '-' and '_'; use base64.urlsafe_b64decode.")
WHY_JSON = "The header and the payload are JSON objects (RFC 7519 §7.2): return the dict json.loads gives."

HEADER = {"alg": "RS256", "kid": "key-01", "typ": "JWT"}  # 56 characters: no padding was dropped
TWO_DROPPED = {"sub": "420"}  # 18 characters: two '=' were dropped
ONE_DROPPED = {"nonce": "n-0S6"}  # 23 characters: one '=' was dropped
URLSAFE = {"name": "Zoë ~~~?>>!", "email_verified": True}  # 60 characters, with '-' and '_'

register(Exercise(
    name="decode_segment",
    reference=decode_segment,
    cases=[
        Case("a header whose length is a multiple of 4 (no padding was dropped)", (b64url_encode_json(HEADER),),
             WHY_JSON, judge=judge_segment(HEADER)),
        Case("a segment that lost two '='", (b64url_encode_json(TWO_DROPPED),), WHY_PADDING,
             judge=judge_segment(TWO_DROPPED)),
        Case("a segment that lost one '='", (b64url_encode_json(ONE_DROPPED),), WHY_PADDING,
             judge=judge_segment(ONE_DROPPED)),
        Case("a payload whose base64url has '-' and '_'", (b64url_encode_json(URLSAFE),), WHY_URLSAFE,
             judge=judge_segment(URLSAFE)),
    ],
    wrong_answers=[
        WrongAnswer(lambda s: json.loads(base64.urlsafe_b64decode(s)), "padding"),
        WrongAnswer(lambda s: json.loads(base64.b64decode(s + "=" * (-len(s) % 4))), "urlsafe_b64decode"),
        WrongAnswer(lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "json.loads"),
        WrongAnswer(lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode(), "json.loads"),
    ],
))


# --- check_id_token_claims: OpenID Connect Core §3.1.3.7, on claims whose signature passed ---

def check_id_token_claims(claims: dict[str, Any], issuer: str, client_id: str, nonce: str, now: int,
                          leeway: int = 30) -> list[str]:
    problems = []
    # 2. iss: exactly the issuer of the discovery document (a trailing slash is another issuer)
    if claims.get("iss") != issuer:
        problems.append(f"iss is {claims.get('iss')!r}, not the issuer {issuer!r}")
    # 3. aud: a string or a list (Authgear: a list); ours must be in it, and nobody else we do not trust
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences or []
    if client_id not in audiences:
        problems.append(f"aud {claims.get('aud')!r} does not contain our client_id {client_id!r}")
    elif len(audiences) > 1:
        problems.append(f"aud {claims.get('aud')!r} also names audiences we do not trust")
    # 4-5. azp: when present, it must be us
    if "azp" in claims and claims["azp"] != client_id:
        problems.append(f"azp is {claims['azp']!r}, not our client_id")
    # 9. exp: still valid now (a little leeway for clocks that differ)
    if not isinstance(claims.get("exp"), (int, float)):
        problems.append("exp is missing: a token without it would never expire")
    elif now >= claims["exp"] + leeway:
        problems.append("exp is past: the token has expired")
    # 10. iat: not issued in the future
    if not isinstance(claims.get("iat"), (int, float)):
        problems.append("iat is missing")
    elif claims["iat"] > now + leeway:
        problems.append("iat is in the future: check the clocks")
    # 11. nonce: the one this login sent, compared in constant time
    if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        problems.append("nonce is not the one this login sent: the token was made for another login")
    return problems


ISSUER = "https://myproject.authgear.cloud"
CLIENT_ID = "a1b2c3d4e5f60718"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
GOOD = {  # an ID token as Authgear writes it, a minute old
    "iss": ISSUER, "aud": [CLIENT_ID], "iat": NOW - 60, "exp": NOW + 240, "auth_time": NOW - 60,
    "sub": "3c5f874a-24fe-5b74-998c-fae424d0e219", "sid": "c2lkLTE", "nonce": NONCE,
}


def changed(**claims: Any) -> dict[str, Any]:
    """GOOD with some claims changed; a claim set to None is left out."""
    return {name: value for name, value in {**GOOD, **claims}.items() if value is not None}


def judge_fine(answer: Any) -> str | None:
    if not isinstance(answer, list):
        return f"it returned {shown(repr(answer))}: return a list of problems, [] when all is well."
    if not answer:
        return None
    found = "; ".join(map(str, answer))
    hints = [hint for claim, hint in HINTS.items() if re.search(rf"\b{claim}\b", found)]
    return " ".join([f"it found problems in claims that are fine: {shown(found)}.", *hints])


def judge_flagged(claim: str) -> Callable[[Any], str | None]:
    def judge(answer: Any) -> str | None:
        if not isinstance(answer, list):
            return f"it returned {shown(repr(answer))}: return a list of problems, [] when all is well."
        if not answer:
            return "it found no problem, so this token would be accepted."
        if not any(claim in str(problem) for problem in answer):
            return f"it found {shown('; '.join(map(str, answer)))}, but no problem names {claim!r}."
        return None
    return judge


def fine(label: str, claims: dict[str, Any], why: str) -> Case:
    return Case(label, (claims, ISSUER, CLIENT_ID, NONCE, NOW), why, judge=judge_fine)


def flagged(label: str, claims: dict[str, Any], claim: str, why: str) -> Case:
    return Case(label, (claims, ISSUER, CLIENT_ID, NONCE, NOW), why, judge=judge_flagged(claim))


WHY_AUD = ("OIDC Core §2: aud is a string or a list of strings, and Authgear always sends a list "
           "(['<client_id>']): check that client_id is IN the audiences, not that aud == client_id.")
WHY_EXP = ("exp is when the token stops being valid: it is good while now < exp + leeway, and expired "
           "after (OIDC Core §3.1.3.7, item 9). Check which way your comparison goes.")
WHY_FINE = "Every claim here is right: a token like this one must pass."
# What a problem reported for claims that are fine most likely comes from, by the claim it names.
HINTS = {
    "aud": WHY_AUD,
    "exp": WHY_EXP + " The leeway (30 s) absorbs small differences between our clock and Authgear's.",
    "iat": "iat is in the past here: only an iat beyond now + leeway is a problem.",
    "azp": "azp is a problem only when it is present and is not our client_id.",
    "nonce": "Compare the token's nonce with the nonce argument, the one this login sent.",
    "iss": "Compare iss with the issuer argument, as a whole string.",
}

def mistake(**switched_on: bool) -> Callable[..., list[str]]:
    """A learner's check_id_token_claims with one typical mistake switched on."""
    return lambda claims, issuer, client_id, nonce, now, leeway=30: _wrong_claims(
        claims, issuer, client_id, nonce, now, **switched_on)


register(Exercise(
    name="check_id_token_claims",
    reference=check_id_token_claims,
    cases=[
        fine("an ID token as Authgear writes it (aud is a list)", GOOD, WHY_FINE),
        fine("the same with aud as a single string (OpenID Connect allows both)", changed(aud=CLIENT_ID), WHY_FINE),
        flagged("iss with a trailing slash", changed(iss=ISSUER + "/"), "iss",
                "OIDC Core §3.1.3.7, item 2: iss must EXACTLY match the discovery document's issuer; "
                "a trailing slash makes another issuer."),
        flagged("a token for another app", changed(aud=["another-app"]), "aud",
                "OIDC Core §3.1.3.7, item 3: reject a token whose aud does not contain our client_id."),
        flagged("aud as a string that merely contains our client_id", changed(aud=CLIENT_ID + "-admin"), "aud",
                "A string aud is one audience: `client_id in aud` on a string is a substring test. "
                "Make a one-element list of it first."),
        flagged("our client_id and another audience", changed(aud=[CLIENT_ID, "another-app"]), "aud",
                "OIDC Core §3.1.3.7, item 3 (errata set 2): reject a token that also names audiences the "
                "client does not trust. This app trusts none besides itself."),
        flagged("azp naming another app", changed(azp="another-app"), "azp",
                "OIDC Core §3.1.3.7, item 5: when azp is present, it must be our client_id."),
        fine("azp naming us", changed(azp=CLIENT_ID), WHY_FINE),
        flagged("expired a minute ago", changed(iat=NOW - 360, exp=NOW - 60), "exp", WHY_EXP),
        fine("expired 10 seconds ago, within the 30 seconds of leeway", changed(iat=NOW - 310, exp=NOW - 10),
             "The leeway (30 s) absorbs small differences between our clock and Authgear's: "
             "compare now with exp + leeway."),
        flagged("no exp at all", changed(exp=None), "exp",
                "OIDC Core §2: exp is REQUIRED. A token without it would never expire: a missing claim is a "
                "problem, not a KeyError and not a pass."),
        flagged("issued an hour in the future", changed(iat=NOW + 3600, exp=NOW + 3900), "iat",
                "OIDC Core §3.1.3.7, item 10: iat is when the token was made; far in the future (beyond the "
                "leeway) means a clock is wrong or the token is not what it claims."),
        flagged("the nonce of another login", changed(nonce="the-nonce-of-another-login"), "nonce",
                "OIDC Core §3.1.3.7, item 11: the nonce must be the one this login sent (notebook 03); "
                "otherwise the token was made for another login and is replayed here."),
        flagged("no nonce, although the login sent one", changed(nonce=None), "nonce",
                "OIDC Core §3.1.3.7, item 11: the login sent a nonce, so the token must carry it."),
    ],
    wrong_answers=[
        WrongAnswer(mistake(aud_equal=True),
                    "not that aud == client_id"),
        WrongAnswer(mistake(skip_nonce=True),
                    "another login"),
        WrongAnswer(mistake(exp_reversed=True),
                    "which way your comparison goes"),
        WrongAnswer(mistake(no_leeway=True),
                    "leeway"),
        WrongAnswer(mistake(iss_prefix=True),
                    "EXACTLY"),
        WrongAnswer(mistake(substring_aud=True),
                    "substring"),
        WrongAnswer(mistake(exp_if_present=True),
                    "never expire"),
    ],
))


def _wrong_claims(claims: dict[str, Any], issuer: str, client_id: str, nonce: str, now: int, *,
                  aud_equal: bool = False, skip_nonce: bool = False, exp_reversed: bool = False,
                  no_leeway: bool = False, iss_prefix: bool = False, substring_aud: bool = False,
                  exp_if_present: bool = False) -> list[str]:
    """The reference, written with one typical mistake switched on."""
    leeway = 0 if no_leeway else 30
    problems = []
    if (not claims.get("iss", "").startswith(issuer)) if iss_prefix else claims.get("iss") != issuer:
        problems.append("iss")
    aud = claims.get("aud")
    if aud_equal:
        if aud != client_id:
            problems.append("aud")
    else:
        audiences = aud if substring_aud or not isinstance(aud, str) else [aud]
        if client_id not in audiences or (isinstance(audiences, list) and len(audiences) > 1):
            problems.append("aud")
    if claims.get("azp", client_id) != client_id:
        problems.append("azp")
    if "exp" in claims or not exp_if_present:
        exp = claims.get("exp", 0)
        if (now < exp - leeway) if exp_reversed else now >= exp + leeway:
            problems.append("exp")
    if claims.get("iat", 0) > now + leeway:
        problems.append("iat")
    if not skip_nonce and claims.get("nonce") != nonce:
        problems.append("nonce")
    return problems


# --- rs256_valid: the signature, by hand (RFC 7515 §5.2, RFC 7518 §3.3) -----------------------------


def rs256_valid(token: str, public_key: Any) -> bool:
    header_b64, payload_b64, signature_b64 = token.split(".")
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    signing_input = (header_b64 + "." + payload_b64).encode("ascii")  # exactly the bytes that were signed
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _signed(private_key: Any, claims: dict[str, Any]) -> str:
    header = b64url_encode_json({"alg": "RS256", "kid": "k1", "typ": "JWT"})
    payload = b64url_encode_json(claims)
    signature = private_key.sign(f"{header}.{payload}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")


# Keys made here, once: the check needs no network. 2048 bits, as Authgear's.
_AUTHGEAR_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_FORGERS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_CLAIMS = {"iss": "https://myproject.authgear.cloud", "sub": "3c5f874a", "aud": ["mock-client"], "nonce": "n-1"}
_GOOD = _signed(_AUTHGEAR_KEY, _CLAIMS)
_h, _p, _s = _GOOD.split(".")
_TAMPERED = ".".join([_h, b64url_encode_json({**_CLAIMS, "sub": "the-attacker"}), _s])
_FORGED = _signed(_FORGERS_KEY, _CLAIMS)
_PUBLIC = _AUTHGEAR_KEY.public_key()

WHY_SIGNATURE = ("RS256 (RFC 7518 §3.3) is RSA PKCS#1 v1.5 with SHA-256 over the signing input, the ASCII bytes "
                 "header_b64 + '.' + payload_b64 (RFC 7515 §5.2); the signature segment is base64url without "
                 "'=' padding.")


def judge_valid(answer: Any) -> str | None:
    if answer is True:
        return None
    if answer is False:
        return ("it says a token Authgear's key signed is NOT valid: check the signing input (the two first "
                "segments with their '.', as they are, not decoded), the base64url decoding of the signature, and "
                "PKCS#1 v1.5 with SHA-256 (not PSS).")
    return f"it returned {shown(repr(answer))}: return True or False."


def judge_invalid(answer: Any) -> str | None:
    if answer is False:
        return None
    if answer is True:
        return "it accepts a token whose signature does not match: is the signature checked at all?"
    return f"it returned {shown(repr(answer))}: return True or False."


def _verifies(public_key: Any, signature: bytes, data: bytes, scheme: Any) -> bool:
    try:
        public_key.verify(signature, data, scheme, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _segments(token: str) -> tuple[str, str, bytes]:
    header_b64, payload_b64, signature_b64 = token.split(".")
    return header_b64, payload_b64, base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))


def _payload_only(token: str, public_key: Any) -> bool:
    """Typical mistake: the payload alone taken for the signing input."""
    _, payload_b64, signature = _segments(token)
    return _verifies(public_key, signature, payload_b64.encode("ascii"), padding.PKCS1v15())


def _pss(token: str, public_key: Any) -> bool:
    """Typical mistake: PSS padding (that is PS256, not RS256)."""
    header_b64, payload_b64, signature = _segments(token)
    return _verifies(public_key, signature, f"{header_b64}.{payload_b64}".encode("ascii"),
                     padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32))


def _raises(token: str, public_key: Any) -> bool:
    """Typical mistake: InvalidSignature let out instead of answering False."""
    header_b64, payload_b64, signature = _segments(token)
    public_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return True


register(Exercise(
    name="rs256_valid",
    reference=rs256_valid,
    cases=[
        Case("a token Authgear's key signed", (_GOOD, _PUBLIC), WHY_SIGNATURE, judge=judge_valid),
        Case("the same token with the payload changed (sub: the attacker)", (_TAMPERED, _PUBLIC),
             "A changed payload must fail: the signature covers header and payload. Catch InvalidSignature and "
             "return False.", judge=judge_invalid),
        Case("a token a forger signed with their own key", (_FORGED, _PUBLIC),
             "Signed by another key: verify with Authgear's public key only, and return False when it fails "
             "(catch cryptography.exceptions.InvalidSignature).", judge=judge_invalid),
    ],
    wrong_answers=[
        WrongAnswer(_payload_only, "signing input"),
        WrongAnswer(_pss, "PKCS#1 v1.5"),
        WrongAnswer(_raises, "InvalidSignature"),
        WrongAnswer(lambda token, key: True, "is the signature checked at all"),
    ],
))
