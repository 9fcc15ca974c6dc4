"""Notebook 09's exercises: the API's check of a Bearer access token, and the challenge it
answers a refused request with.

The check runs the learner's `authenticate` against tokens signed here, with a key made at
import time: its own small "Authgear" (an issuer, a JWKS of one key, an app's client ID), so the
check needs no network and no mock. The tokens look like Authgear's: an access token is a JWT
with `typ` at+jwt, `aud` [issuer], `scope` and `client_id`; an ID token has `typ` JWT and `aud`
[client_id] (mock_idp/tokens.py makes both the same way).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any, Callable

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import Case, Exercise, WrongAnswer, register, shown


# --- The errors an API raises, one class per RFC 6750 §3.1 error code ---------------------

class BearerError(Exception):
    """A refused request, as RFC 6750 §3 describes it: an HTTP status, an error code (none when
    the request had no token at all), a description, and the scope that was missing (403 only)."""

    status: int = 401
    error: str | None = None

    def __init__(self, description: str, scope: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.scope = scope


class NoToken(BearerError):
    """No Bearer token at all: no Authorization header, or another scheme (RFC 6750 §3.1: 401
    with the challenge and no error code)."""


class InvalidRequest(BearerError):
    """A malformed request, such as `Bearer` with no token after it (RFC 6750 §3.1: 400)."""

    status = 400
    error = "invalid_request"


class InvalidToken(BearerError):
    """A token that failed a check: not a JWT, not an access token, bad signature, wrong iss or
    aud, expired (RFC 6750 §3.1: 401)."""

    error = "invalid_token"


class InsufficientScope(BearerError):
    """A valid token that does not allow this request (RFC 6750 §3.1: 403, with the scope it lacks)."""

    status = 403
    error = "insufficient_scope"


# --- authenticate: RFC 6750 §2.1, RFC 9068 §4 ----------------------------------------------

def authenticate(authorization_header: str | None, signing_key: Callable[[str | None], Any],
                 issuer: str, audience: str) -> dict:
    # 1. the scheme: Bearer, in any case (RFC 9110 §11.1), then the token (RFC 6750 §2.1)
    scheme, _, token = (authorization_header or "").partition(" ")
    if scheme.lower() != "bearer":
        raise NoToken("send an access token: Authorization: Bearer <token>")
    token = token.strip()
    if not token:
        raise InvalidRequest("the Authorization header says Bearer but carries no token")
    # 2. an access token, not an ID token (RFC 9068 §4)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("not a JWT") from None
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise InvalidToken("not an access token (typ is not at+jwt): is this an ID token?")
    # 3. the key its kid names, and every check with the algorithm pinned
    key = signing_key(header.get("kid"))  # raises InvalidToken for a kid the JWKS does not have
    try:
        return jwt.decode(
            token,
            key,
            algorithms=["RS256"],  # pinned: never taken from the token
            issuer=issuer,
            audience=audience,
            leeway=30,  # seconds of clock difference tolerated on exp and iat
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the access token has expired") from None
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"the access token failed a check: {error}") from None


# The check's own small "Authgear": an issuer, one signing key published in a JWKS, an app.
ISSUER = "https://myproject.authgear.cloud"
CLIENT_ID = "3f9a1c2b4d5e6f70"
SUB = "0b6a3c2e-5d4f-4e1a-9c8b-7a6f5e4d3c2b"
KID = "5b1d6e0a-2c3f-4a8b-9d7e-1f2a3b4c5d6e"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_ATTACKERS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = _KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
NOW = int(time.time())
LIFETIME = 365 * 24 * 3600  # the check's good tokens outlive any kernel (Authgear's live 30 minutes)


def check_signing_key(kid: str | None) -> Any:
    """The check's `signing_key`: the public key the JWKS publishes under `kid`."""
    if kid != KID:
        raise InvalidToken("unknown signing key")
    return _KEY.public_key()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_claims(**changes: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": [ISSUER], "iat": NOW, "exp": NOW + LIFETIME, "sub": SUB,
              "client_id": CLIENT_ID, "scope": "openid offline_access profile", "jti": str(uuid.uuid4())}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def signed(claims: dict[str, Any], typ: str = "at+jwt", key: Any = _KEY) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID, "typ": typ})


def unsigned(claims: dict[str, Any]) -> str:
    """alg none: no signature at all."""
    header = {"alg": "none", "typ": "at+jwt", "kid": KID}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def key_confused(claims: dict[str, Any]) -> str:
    """Key confusion: an HMAC (HS256) whose secret is the public key anyone can download."""
    header = {"alg": "HS256", "typ": "at+jwt", "kid": KID}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(PUBLIC_PEM, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


ACCESS_TOKEN = signed(access_claims())
ID_TOKEN = signed({"iss": ISSUER, "aud": [CLIENT_ID], "iat": NOW, "exp": NOW + LIFETIME, "sub": SUB,
                   "auth_time": NOW, "email": "alice@example.com"}, typ="JWT")


def returns_the_claims(answer: object) -> str | None:
    if isinstance(answer, dict) and answer.get("sub") == SUB:
        return None
    return f"it returned {shown(repr(answer))}: return the token's claims, the dict jwt.decode gives."


def bearer(token: str) -> tuple[str, Callable[[str | None], Any], str, str]:
    """The arguments of one call: the header as the API receives it, the key lookup, iss, aud."""
    return (f"Bearer {token}", check_signing_key, ISSUER, ISSUER)


def header(value: str | None) -> tuple[str | None, Callable[[str | None], Any], str, str]:
    return (value, check_signing_key, ISSUER, ISSUER)


PIN = "Pin the algorithm: algorithms=[\"RS256\"], never the token's own alg."


# Typical wrong answers (tests/test_exercises.py checks that each fails, with its explanation).

def _token(authorization_header: str | None) -> str:
    scheme, _, token = (authorization_header or "").partition(" ")
    if scheme.lower() != "bearer":
        raise NoToken("no token")
    if not token.strip():
        raise InvalidRequest("no token")
    return token.strip()


def _decode(authorization_header: str | None, signing_key: Callable, check_typ: bool, **options: Any) -> dict:
    token = _token(authorization_header)
    try:
        header = jwt.get_unverified_header(token)
        if check_typ and header.get("typ") != "at+jwt":
            raise InvalidToken("typ")
        return jwt.decode(token, signing_key(header.get("kid")), algorithms=["RS256"], **options)
    except jwt.InvalidTokenError as error:
        raise InvalidToken(str(error)) from None


def _accepts_the_id_token(authorization_header, signing_key, issuer, audience):
    # only the signature, iss and exp: no typ, no aud
    return _decode(authorization_header, signing_key, False, issuer=issuer, options={"verify_aud": False})


def _no_aud_check(authorization_header, signing_key, issuer, audience):
    return _decode(authorization_header, signing_key, True, issuer=issuer, options={"verify_aud": False})


def _no_typ_check(authorization_header, signing_key, issuer, audience):
    return _decode(authorization_header, signing_key, False, issuer=issuer, audience=audience)


def _skips_exp(authorization_header, signing_key, issuer, audience):
    return _decode(authorization_header, signing_key, True, issuer=issuer, audience=audience,
                   options={"verify_exp": False})


def _requires_nothing(authorization_header, signing_key, issuer, audience):
    return _decode(authorization_header, signing_key, True, issuer=issuer, audience=audience)


def _skips_the_signature(authorization_header, signing_key, issuer, audience):
    return _decode(authorization_header, signing_key, True, options={"verify_signature": False})


def _invalid_token_for_everything(authorization_header, signing_key, issuer, audience):
    if not (authorization_header or "").lower().startswith("bearer "):
        raise InvalidToken("no Bearer token")
    return authenticate(authorization_header, signing_key, issuer, audience)


def _trusts_the_tokens_alg(authorization_header, signing_key, issuer, audience):
    """By hand, the way old libraries did it: the token's own alg decides how it is checked."""
    token = _token(authorization_header)
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
        signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    except ValueError:
        raise InvalidToken("not a JWT") from None
    if header.get("typ") != "at+jwt":
        raise InvalidToken("typ")
    key = signing_key(header.get("kid"))
    signing_input = f"{header_b64}.{claims_b64}".encode("ascii")
    if header.get("alg") == "none":
        pass
    elif header.get("alg") == "HS256":
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        if not hmac.compare_digest(hmac.new(pem, signing_input, hashlib.sha256).digest(), signature):
            raise InvalidToken("signature")
    else:
        try:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise InvalidToken("signature") from None
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if claims.get("iss") != issuer or audience not in audiences or not isinstance(claims.get("exp"), int) \
            or claims["exp"] < time.time():
        raise InvalidToken("claims")
    return claims


register(Exercise(
    name="authenticate",
    reference=authenticate,
    cases=[
        Case("a good access token", bearer(ACCESS_TOKEN),
             "Return the claims when every check passes. Use the parameters (signing_key, issuer, audience), "
             "not the notebook's ISSUER and AUDIENCE: the check passes its own.", judge=returns_the_claims),
        Case("the scheme in lower case: bearer <token>", header(f"bearer {ACCESS_TOKEN}"),
             "The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`; compare scheme.lower().",
             judge=returns_the_claims),
        Case("no Authorization header (None)", header(None),
             "RFC 6750 §3.1: a request with no token gets no error code: raise NoToken, not InvalidToken.",
             raises=NoToken),
        Case("another scheme: Basic …", header("Basic bXktYXBwOnNlY3JldA=="),
             "RFC 6750 §3.1: another scheme (an authentication method this API does not support) counts as "
             "no token, so no error code: raise NoToken.", raises=NoToken),
        Case("Bearer with no token after it", header("Bearer "),
             "RFC 6750 §3.1: a malformed request is invalid_request (status 400): raise InvalidRequest.",
             raises=InvalidRequest),
        Case("garbage: Bearer not-a-token", header("Bearer not-a-token"),
             "Not a JWT at all: raise InvalidToken (invalid_token). Catch jwt.InvalidTokenError, and "
             "never let PyJWT's own error escape: the API would answer 500.", raises=InvalidToken),
        Case("the app's ID token (typ JWT, aud = the client ID)", bearer(ID_TOKEN),
             "An ID token must never open an API. RFC 9068 §4: check typ is at+jwt (an ID token's is JWT); "
             "its aud (the app's client ID) is not the API's audience either.", raises=InvalidToken),
        Case("a JWT signed by the same key, aud = issuer, but typ JWT", bearer(signed(access_claims(), typ="JWT")),
             "RFC 9068 §4: check the header's typ (at+jwt). The same key signs other JWTs, and only typ "
             "says which ones are access tokens.", raises=InvalidToken),
        Case("an access token for another API (aud)",
             bearer(signed(access_claims(aud=["https://payments.example.com"]))),
             "Check aud (audience=): a token issued for another API must not open this one. Authgear's "
             "access tokens carry aud = [issuer].", raises=InvalidToken),
        Case("a token from another Authgear project (iss)",
             bearer(signed(access_claims(iss="https://another-project.authgear.cloud"))),
             "Check iss (issuer=): only tokens from the issuer in the discovery document.", raises=InvalidToken),
        Case("an access token that expired an hour ago", bearer(signed(access_claims(iat=NOW - 5400, exp=NOW - 3600))),
             "Check exp: leave PyJWT's verify_exp on (leeway is for a few seconds of clock difference, "
             "not an hour).", raises=InvalidToken),
        Case("an access token without exp", bearer(signed(access_claims(exp=None))),
             "A token without exp would be valid forever (RFC 9068 §2.2 makes exp REQUIRED). PyJWT checks exp "
             "only when the token has one: list it in options={\"require\": [...]}.", raises=InvalidToken),
        Case("alg none, no signature at all", bearer(unsigned(access_claims())),
             PIN + " With alg none a token needs no signature.", raises=InvalidToken),
        Case("alg HS256, with Authgear's public key as the HMAC secret", bearer(key_confused(access_claims())),
             "Key confusion: the attacker makes the API verify with the wrong kind of key, an HMAC \"signed\" "
             "with Authgear's public key, which anyone can download from the JWKS. " + PIN, raises=InvalidToken),
        Case("signed by an attacker's own key, under Authgear's kid",
             bearer(signed(access_claims(), key=_ATTACKERS_KEY)),
             "Verify the signature with the key signing_key(kid) returns: anyone can write a kid.",
             raises=InvalidToken),
    ],
    wrong_answers=[
        WrongAnswer(_accepts_the_id_token, "ID token"),
        WrongAnswer(_no_aud_check, "Check aud"),
        WrongAnswer(_no_typ_check, "typ"),
        WrongAnswer(_skips_exp, "Check exp"),
        WrongAnswer(_requires_nothing, "require"),
        WrongAnswer(_skips_the_signature, "Verify the signature"),
        WrongAnswer(_invalid_token_for_everything, "no error code"),
        WrongAnswer(_trusts_the_tokens_alg, "Key confusion"),
    ],
))


# --- challenge: the WWW-Authenticate value, RFC 6750 §3 ------------------------------------

REALM = "notebook-api"


def challenge(error: str | None, description: str | None = None, scope: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if error is not None:  # RFC 6750 §3.1: no token sent, no error information at all
        parts.append(f'error="{error}"')
        if description:
            # RFC 6750 §3: only %x20-21 / %x23-5B / %x5D-7E, so no '"', no '\', no line break
            allowed = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
            parts.append(f'error_description="{allowed}"')
        if scope:
            parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def allowed(character: str) -> bool:
    """RFC 6750 §3: error and error_description use only %x20-21 / %x23-5B / %x5D-7E."""
    return " " <= character <= "~" and character not in '"\\'


PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|\Z)', re.DOTALL)


def read_challenge(value: str) -> tuple[dict[str, str] | None, str | None]:
    """The auth-params of a `Bearer ...` value, or why it cannot be read."""
    if not value.startswith("Bearer "):
        return None, f"it returned {shown(repr(value))}: the value starts with the scheme, 'Bearer ' (RFC 6750 §3)."
    rest, position, params = value[len("Bearer "):], 0, {}
    while position < len(rest):
        match = PARAM.match(rest, position)
        if match is None or match.end() == position:
            hint = " (a '\"' inside a value ends that value early)" if rest[position:].count('"') > 2 else ""
            return None, (f"after 'Bearer ' it should be name=\"value\" pairs separated by ', ', but "
                          f"{shown(repr(rest[position:]))} is not{hint}.")
        name, raw = match.group(1), match.group(2)
        if name in params:
            return None, f"{name} appears twice."
        if not (len(raw) >= 2 and raw.startswith('"') and raw.endswith('"')):
            return None, f'{name}={raw} is not quoted: write each value between double quotes, {name}="…".'
        params[name] = raw[1:-1]
        position = match.end()
    return params, None


def judge_challenge(error: str | None, description: str | None = None, scope: str | None = None) -> Callable:
    def judge(answer: object) -> str | None:
        if not isinstance(answer, str):
            return f"it returned a {type(answer).__name__}, not a str (the header's value)."
        params, problem = read_challenge(answer)
        if params is None:
            return problem
        if params.get("realm") != REALM:
            return f'it has no realm="{REALM}": every challenge names the realm (REALM above), first.'
        if error is None:
            extra = sorted(set(params) - {"realm"})
            if extra:
                return (f"it has {', '.join(extra)}, but no token was sent: then RFC 6750 §3.1 wants no error code "
                        "and no other error information, only the realm.")
            return None
        expected = {"realm", "error"}
        expected |= {"error_description"} if description else set()
        expected |= {"scope"} if scope else set()
        if set(params) != expected:
            missing, extra = sorted(expected - set(params)), sorted(set(params) - expected)
            return (f"it returned {shown(repr(answer))}: "
                    + (f"missing {', '.join(missing)}" if missing else "")
                    + ("; " if missing and extra else "")
                    + (f"{', '.join(extra)} should not be there" if extra else "") + ".")
        if params["error"] != error:
            return f'error="{params["error"]}", expected error="{error}".'
        if scope and params["scope"] != scope:
            return f'scope="{params["scope"]}", expected scope="{scope}".'
        if description:
            value = params["error_description"]
            bad = sorted({c for c in value if not allowed(c)})
            if bad:
                return (f"error_description still has {', '.join(repr(c) for c in bad)}: RFC 6750 §3 does not allow "
                        "characters outside %x20-21 / %x23-5B / %x5D-7E (no '\"', no '\\', no line break, only "
                        "printable ASCII), not even escaped: take them out.")
            kept = "".join(re.escape(c) if allowed(c) else r"[ -!#-\[\]-~]?" for c in description)
            if not re.fullmatch(kept, value):
                return (f"error_description=\"{shown(value)}\", expected the description {shown(repr(description))} "
                        "with only the characters RFC 6750 §3 does not allow taken out.")
        return None
    return judge


def challenge_case(label: str, why: str, error: str | None, description: str | None = None,
                   scope: str | None = None) -> Case:
    return Case(label, (error, description, scope), why, judge=judge_challenge(error, description, scope))


NO_ERROR = ("RFC 6750 §3.1: when the request had no token, the challenge is only Bearer realm=\"…\": "
            "nothing was wrong with a token, there was none.")
FORMAT = ("RFC 6750 §3: Bearer realm=\"…\", error=\"…\", error_description=\"…\", scope=\"…\", each value quoted, "
          "the pairs separated by ', '.")
CHARACTERS = ("RFC 6750 §3: error_description may hold only printable ASCII without '\"' and '\\'. A description "
              "often quotes what the request sent, and a line break would start a header of the attacker's choice.")

register(Exercise(
    name="challenge",
    reference=challenge,
    cases=[
        challenge_case("no token was sent", NO_ERROR, None),
        challenge_case("no token was sent, a description for the response body", NO_ERROR, None,
                       "send an access token: Authorization: Bearer <token>"),
        challenge_case("an expired token", FORMAT, "invalid_token", "the access token has expired"),
        challenge_case("an error without a description", FORMAT + " No description: no error_description.",
                       "invalid_token"),
        challenge_case("a valid token without the scope", FORMAT + " The scope says what the token lacks.",
                       "insufficient_scope", "this endpoint needs the 'profile' scope", "profile"),
        challenge_case("two missing scopes", FORMAT + " Several scopes: one quoted value, separated by spaces.",
                       "insufficient_scope", "this endpoint needs profile and email", "profile email"),
        challenge_case("a description with double quotes and a backslash", CHARACTERS, "invalid_token",
                       'no key for kid "k\\1"'),
        challenge_case("a description with a line break (header injection)", CHARACTERS, "invalid_token",
                       "not a JWT\r\nSet-Cookie: session=attacker"),
    ],
    wrong_answers=[
        WrongAnswer(lambda error, description=None, scope=None:
                    f'Bearer realm="{REALM}", error="{error}", error_description="{description}"',
                    "no token was sent"),
        WrongAnswer(lambda error, description=None, scope=None:
                    f"Bearer realm={REALM}" + (f", error={error}" if error else ""), "not quoted"),
        WrongAnswer(lambda error, description=None, scope=None: "Bearer " + (f'error="{error}"' if error else ""),
                    "realm"),
        WrongAnswer(lambda error, description=None, scope=None:
                    f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
                    + (f', error_description="{description}"' if error and description else "")
                    + (f', scope="{scope}"' if error and scope else ""), "does not allow"),
    ],
))
