"""Notebook 04's exercises: the token request's form body, and the client_secret_basic header."""

from __future__ import annotations

import base64
import re
import binascii
import urllib.parse

from . import Case, Exercise, WrongAnswer, register

REDIRECT_URI = "http://localhost:3000/auth-redirect"


# --- token_request: RFC 6749 §4.1.3, and RFC 7636 §4.5 for the verifier -------------------

def token_request(code: str, redirect_uri: str, client_id: str, client_secret: str,
                  code_verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",  # which kind of exchange (RFC 6749 §4.1.3)
        "code": code,
        "redirect_uri": redirect_uri,  # the same string as in the authorization request
        "client_id": client_id,
        "client_secret": client_secret,  # client_secret_post (RFC 6749 §2.3.1)
        "code_verifier": code_verifier,  # PKCE (RFC 7636 §4.5)
    }


MISSING = {
    "grant_type": "grant_type=authorization_code says which exchange this is (RFC 6749 §4.1.3).",
    "code": "the code is what is being exchanged.",
    "redirect_uri": ("RFC 6749 §4.1.3: the redirect_uri goes again, the same string as in the authorization "
                     "request; Authgear refuses the exchange without it."),
    "client_id": "client_secret_post sends client_id and client_secret in the body (RFC 6749 §2.3.1).",
    "client_secret": "client_secret_post sends client_id and client_secret in the body (RFC 6749 §2.3.1).",
    "code_verifier": ("RFC 7636 §4.5: the login sent a code_challenge, so the exchange sends its "
                      "code_verifier; without it Authgear refuses the code."),
}
NOT_HERE = {
    "response_type": ("the tutorial's stray response_type: it belongs to the authorization request (03). "
                      "Authgear ignores it here (RFC 6749 §3.2), but leave it out."),
    "code_challenge": "the code_challenge went in the authorization request; here the verifier goes.",
    "code_challenge_method": "code_challenge_method went in the authorization request (03).",
    "scope": "the scope was fixed by the authorization request; the code carries it.",
    "state": "state stays in the app: it was checked on the callback (03) and is never sent here.",
    "nonce": "the nonce went in the authorization request; it comes back inside the ID token (05).",
}


def judge_form(expected: dict[str, str]) -> object:
    def judge(answer: object) -> str | None:
        if isinstance(answer, (str, bytes)):
            return ("it returned the body as text: return a dict, and let requests form-encode it "
                    "(requests.post(url, data=form)).")
        if not isinstance(answer, dict):
            return f"it returned a {type(answer).__name__}, not a dict."
        if answer == expected:
            return None
        if "grant_type" not in answer and "response_type" in answer:
            return ("it has response_type but no grant_type: response_type is for the authorization request (03); "
                    "the token request says grant_type=authorization_code (RFC 6749 §4.1.3).")
        for field, why in MISSING.items():
            if field not in answer:
                return f"the field {field} is missing: {why}"
        for field in answer:
            if field not in expected:
                return f"it sends {field}: " + NOT_HERE.get(field, "that field does not belong in the token request.")
        for field, value in expected.items():
            if answer[field] == value:
                continue
            if isinstance(answer[field], str) and urllib.parse.unquote_plus(answer[field]) == value:
                return (f"{field} is encoded: put the values in as they are; requests form-encodes the "
                        "whole body once (data=). Encoded twice, Authgear reads another value.")
            if field == "grant_type":
                return f"grant_type is {answer[field]!r}: for a code it is 'authorization_code' (RFC 6749 §4.1.3)."
            return f"{field} is {answer[field]!r}, expected {value!r}: is an argument in the wrong place?"
        return None
    return judge


FIRST = ("La5VTJ97wEGr1qkZ", REDIRECT_URI, "mock-client", "mock-secret", "TTPpYG6R" + "x" * 35)
SECOND = ("fVEbtUqa9Lx0pQe2", "https://app.example.com/auth-redirect?from=login", "a1b2c3d4e5f6a7b8",
          "s+cret/with=odd&chars", "kYc1oY5D-._~" + "y" * 31)
WHY_FORM = ("RFC 6749 §4.1.3 and RFC 7636 §4.5: grant_type, code, redirect_uri, client_id, client_secret "
            "and code_verifier, the values as they are.")

register(Exercise(
    name="token_request",
    reference=token_request,
    cases=[
        Case("the bundled mock's client", FIRST, WHY_FORM, judge=judge_form(token_request(*FIRST))),
        Case("a redirect URI with a query, a secret with + / = &", SECOND, WHY_FORM,
             judge=judge_form(token_request(*SECOND))),
    ],
    wrong_answers=[
        WrongAnswer(lambda code, uri, cid, secret, verifier: {
            "response_type": "code", "code": code, "redirect_uri": uri, "client_id": cid,
            "client_secret": secret, "code_verifier": verifier}, "no grant_type"),
        WrongAnswer(lambda code, uri, cid, secret, verifier: {
            "grant_type": "authorization_code", "code": code, "client_id": cid, "client_secret": secret,
            "code_verifier": verifier}, "the same string as in the authorization request"),
        WrongAnswer(lambda code, uri, cid, secret, verifier: {
            "grant_type": "authorization_code", "code": code, "redirect_uri": uri, "client_id": cid,
            "client_secret": secret}, "RFC 7636 §4.5"),
        # The tutorial's body, with the verifier added.
        WrongAnswer(lambda code, uri, cid, secret, verifier: {
            "client_id": cid, "client_secret": secret, "code": code, "grant_type": "authorization_code",
            "response_type": "code", "redirect_uri": uri, "code_verifier": verifier}, "stray response_type"),
        WrongAnswer(lambda code, uri, cid, secret, verifier: {
            field: urllib.parse.quote_plus(value) for field, value in token_request(code, uri, cid, secret, verifier).items()},
            "form-encodes the whole body once"),
        WrongAnswer(lambda code, uri, cid, secret, verifier: urllib.parse.urlencode(
            token_request(code, uri, cid, secret, verifier)), "return a dict"),
    ],
))


# --- basic_auth: client_secret_basic, RFC 6749 §2.3.1 --------------------------------------

def basic_auth(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode each part first, then base64("id:secret")
    pair = urllib.parse.quote_plus(client_id) + ":" + urllib.parse.quote_plus(client_secret)
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def judge_header(client_id: str, client_secret: str) -> object:
    expected = basic_auth(client_id, client_secret)
    encoded = expected.split(" ", 1)[1]

    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def judge(answer: object) -> str | None:
        if isinstance(answer, bytes):
            return "it returned bytes: a header value is a str (.decode('ascii') after base64)."
        if not isinstance(answer, str):
            return f"it returned a {type(answer).__name__}, not a str."
        scheme, _, credentials = answer.partition(" ")
        if scheme.lower() == "basic" and credentials == encoded:
            return None  # the scheme's name is case-insensitive (RFC 7235 §2.1)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            sent_id, colon, sent_secret = decoded.partition(":")
            if (colon and not re.search(r"[ +:%]|[^\x21-\x7e]", re.sub(r"%[0-9A-Fa-f]{2}", "", sent_id + sent_secret))
                    and (urllib.parse.unquote_plus(sent_id), urllib.parse.unquote_plus(sent_secret))
                    == (client_id, client_secret)):
                return None  # another correct form encoding (%20 for a space, %HH for more): the server reads the same
        if answer in (encoded, encoded.rstrip("=")) or (not credentials and scheme == encoded):
            return "the 'Basic ' in front is missing: the header is 'Basic ' + base64(…) (RFC 7617 §2)."
        if scheme.lower() != "basic":
            return f"it starts with {scheme[:20]!r}: the header value is 'Basic ' + base64(…) (RFC 7617 §2)."
        if credentials == b64(f"{client_id}:{client_secret}"):
            return ("it base64-encodes the id and the secret as they are: form-urlencode each one first "
                    "(urllib.parse.quote_plus), or a server that follows RFC 6749 §2.3.1 reads another secret.")
        if credentials == base64.urlsafe_b64encode(encoded_pair(client_id, client_secret)).decode("ascii"):
            return ("it uses base64url ('-' and '_'): the Basic scheme uses plain base64, with '+' and '/' "
                    "(base64.b64encode, RFC 7617 §2).")
        if credentials == encoded.rstrip("="):
            return "the '=' padding is missing: the Basic scheme keeps it (plain base64, RFC 7617 §2)."
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return f"{shown_value(credentials)} is not base64 of 'id:secret'."
        return f"it encodes {decoded!r}, expected {urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)!s}."
    return judge


def encoded_pair(client_id: str, client_secret: str) -> bytes:
    return (urllib.parse.quote_plus(client_id) + ":" + urllib.parse.quote_plus(client_secret)).encode("utf-8")


def shown_value(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


WHY_BASIC = ("RFC 6749 §2.3.1: 'Basic ' + base64(form-urlencoded client_id + ':' + form-urlencoded "
             "client_secret).")
BASIC_CASES = [
    ("an Authgear client: letters, digits and _ only", "a1b2c3d4e5f6a7b8", "Xk3_9fQm2LrT8vWz0hJd_5sYc"),
    ("a space, '+', ':' and '%'", "my app", "p+ss:w%rd"),
    ("'/', '~', '?' and a space", "svc~~", "a/b c~~?"),
    ("a secret that is not ASCII", "mock-client", "pässwörd"),
]

register(Exercise(
    name="basic_auth",
    reference=basic_auth,
    cases=[Case(label, (client_id, secret), WHY_BASIC, judge=judge_header(client_id, secret))
           for label, client_id, secret in BASIC_CASES],
    wrong_answers=[
        # What `curl -u` and requests' auth= send.
        WrongAnswer(lambda cid, secret: "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode(),
                    "form-urlencode each one first"),
        WrongAnswer(lambda cid, secret: base64.b64encode(encoded_pair(cid, secret)).decode(), "'Basic ' in front"),
        WrongAnswer(lambda cid, secret: "Basic " + base64.urlsafe_b64encode(encoded_pair(cid, secret)).decode(),
                    "base64url"),
        WrongAnswer(lambda cid, secret: b"Basic " + base64.b64encode(encoded_pair(cid, secret)), "bytes"),
    ],
))
