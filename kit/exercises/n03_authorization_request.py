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


# --- authorization_url: the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1) --

def authorization_url(endpoint: str, client_id: str, redirect_uri: str, scope: str, state: str, nonce: str,
                      code_challenge: str) -> str:
    return endpoint + "?" + urllib.parse.urlencode({
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    })


EXPECTED_PARAMS = {"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
                   "code_challenge_method"}


def judge_url(args: tuple[str, ...]) -> object:
    endpoint, client_id, redirect_uri, scope, state, nonce, challenge = args
    wanted = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope,
              "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}

    def judge(answer: object) -> str | None:
        if not isinstance(answer, str):
            return f"it returned a {type(answer).__name__}, not the URL as a str."
        parts = urllib.parse.urlsplit(answer)
        if f"{parts.scheme}://{parts.netloc}{parts.path}" != endpoint:
            return f"the URL does not start with the authorization endpoint {endpoint!r} and a '?'."
        sent = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        if any(len(values) > 1 for values in sent.values()):
            return "a parameter is sent twice."
        got = {name: values[0] for name, values in sent.items()}
        missing = sorted(set(wanted) - set(got))
        if missing:
            hints = {"code_challenge_method": "without it Authgear takes the challenge as 'plain' and refuses it "
                                              "('only S256 is supported', RFC 7636 §4.3)",
                     "state": "no state: login CSRF is open (RFC 6749 §10.12)",
                     "nonce": "no nonce: nothing ties the ID token to this login (OIDC Core §3.1.2.1)",
                     "response_type": "response_type=code asks for the authorization-code flow (RFC 6749 §4.1.1)"}
            return f"missing {', '.join(missing)}: " + "; ".join(hints.get(name, "required") for name in missing) + "."
        wrong = sorted(name for name in wanted if got[name] != wanted[name])
        if wrong:
            name = wrong[0]
            if name == "response_type":
                return (f"response_type={got[name]!r}: the authorization-code flow is response_type=code "
                        "(token is the implicit flow, which Authgear refuses).")
            if name == "code_challenge_method":
                return f"code_challenge_method is {got[name]!r}: it must be exactly 'S256' (RFC 7636 §4.3)."
            if name == "scope" and ("[" in got[name] or "," in got[name]):
                return f"scope reads as {got[name]!r}: it is one string, the scopes separated by spaces (RFC 6749 §3.3)."
            pasted_in = got[name] == urllib.parse.unquote_plus(wanted[name]) or (
                any(c in wanted[name] for c in "&#") and wanted[name].startswith(got[name]))
            if pasted_in:  # what the server reads when the value went into the URL as it is
                return (f"{name} reads as {got[name]!r} on the server, not {wanted[name]!r}: encode every value "
                        "with urllib.parse.urlencode (a space, '&', '/' or ':' in a value must be percent-encoded).")
            return f"{name} is {got[name]!r}, expected {wanted[name]!r}."
        return None
    return judge


CASES_ARGS = [
    ("http://localhost:4000/oauth2/authorize", "mock-client", "http://localhost:3000/auth-redirect",
     "openid offline_access", "s-1", "n-1", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
    ("https://myproject.authgear.cloud/oauth2/authorize", "3f9a1c2b4d5e6f70",
     "https://app.example.com/cb?from=login&x=1", "openid email profile", "a&b=c", "n/+=", "abc-_xyz"),
]
WHY_URL = "RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3) and OpenID Connect's nonce: the parameters of section 5."

register(Exercise(
    name="authorization_url",
    reference=authorization_url,
    cases=[Case(f"the request to {args[0]}", args, WHY_URL, judge=judge_url(args)) for args in CASES_ARGS],
    wrong_answers=[
        WrongAnswer(lambda e, c, r, s, st, n, ch: f"{e}?client_id={c}&redirect_uri={r}&response_type=code&scope={s}"
                    f"&state={st}&nonce={n}&code_challenge={ch}&code_challenge_method=S256", "encode every value"),
        WrongAnswer(lambda e, c, r, s, st, n, ch: e + "?" + urllib.parse.urlencode(
            {"client_id": c, "redirect_uri": r, "response_type": "code", "scope": s, "state": st, "nonce": n,
             "code_challenge": ch}), "plain"),
        WrongAnswer(lambda e, c, r, s, st, n, ch: e + "?" + urllib.parse.urlencode(
            {"client_id": c, "redirect_uri": r, "response_type": "token", "scope": s, "state": st, "nonce": n,
             "code_challenge": ch, "code_challenge_method": "S256"}), "implicit flow"),
        WrongAnswer(lambda e, c, r, s, st, n, ch: e + "?" + urllib.parse.urlencode(
            {"client_id": c, "redirect_uri": r, "response_type": "code", "scope": s, "code_challenge": ch,
             "code_challenge_method": "S256"}), "login CSRF"),
    ],
))
