"""Notebook 03's exercises: the PKCE transform, and reading the callback in the right order."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import urllib.parse

from . import Case, Exercise, WrongAnswer, register

REDIRECT_URI = "http://localhost:3000/auth-redirect"


def b64url(data: bytes) -> str:
    """base64url without '=' padding (RFC 7636 Appendix A): the notebook defines it too."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- s256: BASE64URL(SHA256(ASCII(code_verifier))), RFC 7636 §4.2 -----------------------

RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def judge_challenge(verifier: str) -> object:
    expected = s256(verifier)

    def judge(answer: object) -> str | None:
        if answer == expected:
            return None
        if isinstance(answer, bytes):
            return "it returned bytes: the challenge goes into a URL, so return a str (.decode('ascii'))."
        if not isinstance(answer, str):
            return f"it returned a {type(answer).__name__}, not a str."
        if answer.rstrip("=") == expected:
            return "it ends with '=': PKCE's base64url has no padding (RFC 7636 Appendix A): strip the '='."
        if re.fullmatch(r"[0-9a-f]{64}", answer):
            return "it is the SHA-256 digest in hex: base64url-encode the 32 digest bytes instead (.digest(), not .hexdigest())."
        if answer.replace("+", "-").replace("/", "_").rstrip("=") == expected:
            return "it has '+' or '/': that is plain base64; base64url uses '-' and '_' (urlsafe_b64encode)."
        if answer == b64url(verifier.encode("ascii")):
            return "it encodes the verifier itself: hash it with SHA-256 first, then base64url the digest."
        return f"it returned {answer[:20]!r}…, not the S256 challenge {expected[:20]!r}…."
    return judge


WHY_S256 = "RFC 7636 §4.2: code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."

register(Exercise(
    name="s256",
    reference=s256,
    cases=[
        Case("the RFC's own example (RFC 7636 Appendix B)", (RFC_VERIFIER,), WHY_S256,
             judge=judge_challenge(RFC_VERIFIER)),
        Case("a 43-character verifier with - . _ ~", ("-._~" * 10 + "abc",), WHY_S256,
             judge=judge_challenge("-._~" * 10 + "abc")),
        Case("the longest verifier, 128 characters", ("A1" * 64,), WHY_S256, judge=judge_challenge("A1" * 64)),
    ],
    wrong_answers=[
        WrongAnswer(lambda v: base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).decode(), "'='"),
        WrongAnswer(lambda v: hashlib.sha256(v.encode()).hexdigest(), "hex"),
        WrongAnswer(lambda v: base64.b64encode(hashlib.sha256(v.encode()).digest()).decode().rstrip("="),
                    "plain base64"),
        WrongAnswer(lambda v: b64url(v.encode()), "hash it with SHA-256 first"),
        WrongAnswer(lambda v: base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"="), "bytes"),
    ],
))


# --- read_callback: state first, then error, then the code (RFC 6749 §4.1.2, §10.12) -----

class LoginFailed(Exception):
    """The callback brings no usable code."""


class StateMismatch(LoginFailed):
    """The state is not the one this app stored: not our login (old tab, or login CSRF)."""


class ErrorRedirect(LoginFailed):
    """Authgear answered with `error` (RFC 6749 §4.1.2.1): refused, or cancelled by the user."""


class NoCode(LoginFailed):
    """No code in the callback (a proxy dropped the query string?)."""


def read_callback(landed_url: str, expected_state: str) -> str:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landed_url).query))
    # 1. state: this browser started this login (compared in constant time, like any secret)
    if not secrets.compare_digest(query.get("state", "").encode(), expected_state.encode()):
        raise StateMismatch("state does not match: this app did not start this login "
                            "(an old tab, or a login CSRF attempt). Start the login again.")
    # 2. an error redirect: refused, or cancelled by the user
    if "error" in query:
        raise ErrorRedirect(f"{query['error']} ({query.get('error_description', 'no description')})")
    # 3. the code
    if not query.get("code"):
        raise NoCode("no code in the callback: did a proxy drop the query string?")
    return query["code"]


def callback(**query: str) -> str:
    return REDIRECT_URI + "?" + urllib.parse.urlencode(query)


STATE = "Zq3x-our-own-state"
WHY_STATE = ("Check state first (RFC 6749 §10.12): until it matches, nothing else in the callback is "
             "about your login, not even its error.")

register(Exercise(
    name="read_callback",
    reference=read_callback,
    cases=[
        Case("a good callback", (callback(code="abc123", state=STATE), STATE),
             "With the right state and a code, return the code.", expect="abc123"),
        Case("a forged callback (someone else's code, a made-up state)",
             (callback(code="TheAttackersOwnCode", state="made-up"), STATE), WHY_STATE, raises=StateMismatch),
        Case("a callback without any state", (callback(code="abc123"), STATE), WHY_STATE, raises=StateMismatch),
        Case("an error redirect with a state this app did not make",
             (callback(error="access_denied", error_description="call 555-0100 to unlock", state="made-up"), STATE),
             WHY_STATE + " Anyone can craft that link, text included.", raises=StateMismatch),
        Case("the user pressed Cancel (our state, error=access_denied)",
             (callback(error="access_denied", state=STATE), STATE),
             "With our state, an `error` means Authgear refused or the user cancelled (RFC 6749 §4.1.2.1): "
             "raise ErrorRedirect.", raises=ErrorRedirect),
        Case("our state but no code (a proxy dropped part of the query)", (callback(state=STATE), STATE),
             "No code and no error: raise NoCode, never go on with an empty code.", raises=NoCode),
    ],
    wrong_answers=[
        # The tutorial's way: takes the code, never looks at state.
        WrongAnswer(lambda url, expected: dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["code"],
                    "Check state first"),
        # Looks at error before state.
        WrongAnswer(lambda url, expected: _error_first(url, expected), "not even its error"),
    ],
))


def _error_first(url: str, expected: str) -> str:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if "error" in query:
        raise ErrorRedirect(query["error"])
    if query.get("state") != expected:
        raise StateMismatch("state")
    if not query.get("code"):
        raise NoCode("no code")
    return query["code"]
