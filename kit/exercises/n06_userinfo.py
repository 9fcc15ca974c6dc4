"""Notebook 06's exercises: which token goes into the Authorization header, and reading a 401's
WWW-Authenticate header."""

from __future__ import annotations

import re
from typing import Any, Callable

from . import Case, Exercise, WrongAnswer, register, shown

# --- authorization_header: the access token, as a Bearer credential (RFC 6750 §2.1) ----------


class NotABearerToken(ValueError):
    """The token response has no access token that may go out as `Authorization: Bearer`."""


def authorization_header(token_response: dict[str, Any]) -> str:
    # RFC 6749 §5.1: token_type is case-insensitive; only a Bearer token goes out as one
    if str(token_response.get("token_type", "")).lower() != "bearer":
        raise NotABearerToken(f"token_type is {token_response.get('token_type')!r}, not Bearer")
    access_token = token_response.get("access_token")
    if not access_token:  # never fall back to the ID token: it is for the app, not for APIs
        raise NotABearerToken("the token response has no access_token")
    return "Bearer " + access_token  # RFC 6750 §2.1: the scheme, one space, the token


ACCESS = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.the-access-token.c2ln"
ID = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.the-id-token.c2ln"
REFRESH = "7f3c2a9e-5b1d-4c8e-9a0f-1e2d3c4b5a69.Qm9yZWRPZlRoaXNZZXQ1MjFjaGFyYWN0"
AUTHGEAR_RESPONSE = {  # what Authgear's token endpoint answers (notebook 04)
    "access_token": ACCESS, "token_type": "Bearer", "expires_in": 1800,
    "id_token": ID, "refresh_token": REFRESH,
}


def judge_header(expected: str) -> Callable[[Any], str | None]:
    def judge(answer: Any) -> str | None:
        if answer == expected:
            return None
        if not isinstance(answer, str):
            return f"it returned {shown(repr(answer))}: return the header's value, a str."
        if ID in answer:
            return ("it sends the ID token. The ID token is for your app (its aud is your client_id, "
                    "OIDC Core §2); an API or UserInfo takes the ACCESS token (RFC 6749 §1.4).")
        if REFRESH in answer:
            return "it sends the refresh token, which only ever goes to the token endpoint (notebook 07)."
        if answer == ACCESS:
            return ("it is the bare token: the header's value is the scheme, one space, then the token: "
                    "'Bearer <access token>' (RFC 6750 §2.1).")
        if answer.lower() == expected.lower() or answer.split(" ", 1)[-1] == ACCESS:
            return f"it returned {shown(repr(answer))}: write exactly 'Bearer ' (capital B, one space), then the token."
        return f"it returned {shown(repr(answer))}, expected {shown(repr(expected))}."
    return judge


WHY_BEARER = ("RFC 6750 §2.1: Authorization: Bearer <access token>. The access token is the one for APIs; "
              "the ID token and the refresh token never go there.")
WHY_NO_FALLBACK = ("No access token means nothing may go to the API: raise NotABearerToken. Never fall back "
                   "to the ID token: it is addressed to your app, not to the API.")

register(Exercise(
    name="authorization_header",
    reference=authorization_header,
    cases=[
        Case("Authgear's token response (access, ID and refresh token)", (AUTHGEAR_RESPONSE,), WHY_BEARER,
             judge=judge_header("Bearer " + ACCESS)),
        Case("token_type written 'bearer'", ({**AUTHGEAR_RESPONSE, "token_type": "bearer"},),
             "RFC 6749 §5.1: the token_type value is case-insensitive: 'bearer' is Bearer too "
             "(compare .lower()). The header itself still says 'Bearer'.",
             judge=judge_header("Bearer " + ACCESS)),
        Case("a response with an ID token but no access token",
             ({"token_type": "Bearer", "id_token": ID, "expires_in": 300},), WHY_NO_FALLBACK,
             raises=NotABearerToken),
        Case("a DPoP-bound token (token_type DPoP)", ({**AUTHGEAR_RESPONSE, "token_type": "DPoP"},),
             "A token of another type must not go out as a Bearer token: a DPoP-bound token goes with the DPoP "
             "scheme and a fresh proof on each request (RFC 9449 §7.1). Raise NotABearerToken when token_type "
             "is not Bearer.",
             raises=NotABearerToken),
    ],
    wrong_answers=[
        WrongAnswer(lambda response: "Bearer " + response["id_token"], "ID token is for your app"),
        WrongAnswer(lambda response: response["access_token"], "the bare token"),
        WrongAnswer(lambda response: _exact_type(response), "case-insensitive"),
        WrongAnswer(lambda response: "Bearer " + (response.get("access_token") or response["id_token"]),
                    "Never fall back"),
    ],
))


def _exact_type(response: dict[str, Any]) -> str:
    if response.get("token_type") != "Bearer":
        raise NotABearerToken("not Bearer")
    return "Bearer " + response["access_token"]


# --- parse_www_authenticate: a 401's challenge, read into a dict (RFC 6750 §3, RFC 9110 §11.2) ---

# auth-param = token BWS "=" BWS ( token / quoted-string ): a quoted value may hold commas and
# spaces; RFC 6750 §3 keeps '"' and '\' out of its values, so no quoted-pair to undo here.
AUTH_PARAM = re.compile(r'([A-Za-z0-9_.~+-]+)\s*=\s*(?:"([^"]*)"|([^\s,"]*))')


def parse_www_authenticate(header: str) -> dict[str, str]:
    _scheme, _, params = header.strip().partition(" ")  # "Bearer", then the parameters
    return {name: quoted or bare for name, quoted, bare in AUTH_PARAM.findall(params)}


def judge_params(expected: dict[str, str]) -> Callable[[Any], str | None]:
    def judge(answer: Any) -> str | None:
        if answer == expected:
            return None
        if not isinstance(answer, dict):
            return f"it returned {shown(repr(answer))}: return a dict of the parameters."
        values = [str(value) for value in answer.values()]
        names = [str(name) for name in answer]
        if any(value.startswith('"') or value.endswith('"') for value in values):
            return (f"it returned {shown(repr(answer))}: the values still have their quotes. "
                    "A quoted-string's quotes are not part of the value: strip them.")
        if any("bearer" in name.lower() or " " in name.strip() for name in names):
            return (f"it returned {shown(repr(answer))}: the scheme 'Bearer' stuck to the first parameter's "
                    "name. The header is the scheme, a space, then the parameters.")
        cut = [name for name, value in expected.items() if name in answer and answer[name] != value
               and value.startswith(str(answer[name]).strip())]
        if cut:
            return (f"it returned {shown(repr(answer))}: {cut[0]} was cut short. A quoted value may hold "
                    "commas and spaces.")
        return f"it returned {shown(repr(answer))}, expected {shown(repr(expected))}."
    return judge


def challenge(label: str, header: str, expected: dict[str, str], why: str) -> Case:
    return Case(label, (header,), why, judge=judge_params(expected))


WHY_CHALLENGE = ("RFC 6750 §3: WWW-Authenticate: Bearer, then name=\"value\" parameters separated by commas; "
                 "return {name: value} without the quotes.")

register(Exercise(
    name="parse_www_authenticate",
    reference=parse_www_authenticate,
    cases=[
        challenge("Authgear's answer to a bad token",
                  'Bearer error="invalid_grant", error_description="invalid session"',
                  {"error": "invalid_grant", "error_description": "invalid session"}, WHY_CHALLENGE),
        challenge("RFC 6750 §3's own example, with a realm",
                  'Bearer realm="example", error="invalid_token", error_description="The access token expired"',
                  {"realm": "example", "error": "invalid_token", "error_description": "The access token expired"},
                  WHY_CHALLENGE),
        challenge("a description with a comma inside the quotes",
                  'Bearer error="invalid_token", error_description="expired, or revoked at logout"',
                  {"error": "invalid_token", "error_description": "expired, or revoked at logout"},
                  "A comma inside a quoted value belongs to the value (RFC 9110 §5.6.4): split between "
                  "parameters, not inside quotes."),
        challenge("a missing scope, the scopes separated by spaces (RFC 6750 §3.1, insufficient_scope)",
                  'Bearer error="insufficient_scope", scope="openid email"',
                  {"error": "insufficient_scope", "scope": "openid email"},
                  "The scope value is one quoted string holding spaces: keep it whole."),
        challenge("the answer to a request with no token at all (RFC 6750 §3.1: no error code)",
                  'Bearer realm="example"', {"realm": "example"},
                  "A request without a token gets the challenge and no error: there is no 'error' key to return."),
        challenge("the scheme alone, no parameters", "Bearer", {},
                  "A challenge may have no parameters at all: return an empty dict."),
    ],
    wrong_answers=[
        WrongAnswer(lambda header: dict(part.strip().split("=", 1) for part in header[len("Bearer "):].split(",")),
                    "still have their quotes"),
        WrongAnswer(lambda header: {name.strip(): value.strip().strip('"') for name, value in
                                    (part.split("=", 1) for part in header[len("Bearer "):].split(","))},
                    "split between parameters, not inside quotes"),
        WrongAnswer(lambda header: {name.strip(): value.strip().strip('"') for name, value in
                                    (part.split("=", 1) for part in header.split(","))},
                    "stuck to the first parameter"),
    ],
))
