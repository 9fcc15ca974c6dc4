"""Notebook 02's exercises: the checks an app makes on a discovery document before relying on
it, and picking the key a token's header names from the JWKS."""

from __future__ import annotations

import copy
import urllib.parse
from typing import Any

from mock_idp.discovery import metadata as discovery_metadata

from . import Case, Exercise, WrongAnswer, register

# --- check_discovery: what an app checks before it relies on the discovery document -------

# The endpoints the later notebooks use (03 to 09): each must be there. The client secret and the
# refresh token go to revocation_endpoint (06, 08, 09), so it needs https as much as the token endpoint.
NEEDED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                    "end_session_endpoint", "revocation_endpoint")


def check_discovery(metadata: dict[str, Any], expected_issuer: str) -> list[str]:
    problems = []
    # OpenID Connect Discovery 1.0 §4.3: identical to the issuer the app was configured with.
    if metadata.get("issuer") != expected_issuer:
        problems.append(f"issuer is {metadata.get('issuer')!r}, not {expected_issuer!r}")
    # Secrets and tokens travel to these: https, or the issuer's own origin (the mock on localhost).
    issuer = urllib.parse.urlsplit(expected_issuer)
    for field in NEEDED_ENDPOINTS:
        url = metadata.get(field)
        if not isinstance(url, str) or not url:
            problems.append(f"{field} is missing")
            continue
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" and (parts.scheme, parts.netloc) != (issuer.scheme, issuer.netloc):
            problems.append(f"{field} {url} is neither https nor on the issuer's origin")
    # RFC 8414 §2: no code_challenge_methods_supported means no PKCE.
    if "S256" not in metadata.get("code_challenge_methods_supported", []):
        problems.append("no PKCE with S256 (code_challenge_methods_supported)")
    # OpenID Connect Discovery 1.0 §3: RS256 MUST be listed.
    if "RS256" not in metadata.get("id_token_signing_alg_values_supported", []):
        problems.append("ID tokens are not signed with RS256 (id_token_signing_alg_values_supported)")
    return problems


AUTHGEAR_ISSUER = "https://myapp.authgear.cloud"
MOCK_ISSUER = "http://localhost:4000"


def changed(mapping: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `mapping` with `changes` applied (None removes a member)."""
    result = {**mapping, **{name: value for name, value in changes.items() if value is not None}}
    for name in (name for name, value in changes.items() if value is None):
        result.pop(name, None)
    return result


def document(issuer: str, /, **changes: Any) -> dict[str, Any]:
    """The discovery document the bundled mock (like Authgear) serves for `issuer`, with `changes`."""
    return changed(discovery_metadata(issuer), changes)


def no_problem(answer: object) -> str | None:
    if answer == []:
        return None
    if answer is None:
        return "it returned None: return a list, empty when nothing is wrong."
    return f"it found a problem in a good document: {answer!r}."


def some_problem(answer: object) -> str | None:
    if isinstance(answer, list) and answer:
        return None
    if answer is None:
        return "it returned None: return the list of problems."
    return f"it returned {answer!r}: this document has a problem, and the list should name it."


WHY_GOOD = "Nothing is wrong here: return an empty list."
WHY_ISSUER = ("OpenID Connect Discovery 1.0 §4.3: the issuer MUST be identical to the one the app was "
              "configured with, compared with ==, nothing trimmed or normalised; the tokens' `iss` is "
              "compared the same way (05).")
WHY_ENDPOINT = ("The code, the client secret and the tokens travel to these endpoints: each must be https, "
                "or on the issuer's own origin (same scheme, host and port, as the bundled mock on "
                "localhost), or they cross the network in clear.")

register(Exercise(
    name="check_discovery",
    reference=check_discovery,
    cases=[
        Case("Authgear's document (https)", (document(AUTHGEAR_ISSUER), AUTHGEAR_ISSUER), WHY_GOOD,
             judge=no_problem),
        Case("the bundled mock's document (http on localhost)", (document(MOCK_ISSUER), MOCK_ISSUER),
             WHY_GOOD + " An endpoint on the issuer's own origin is fine even over http: that is the mock "
             "on your own machine. Only an http endpoint elsewhere is a problem.", judge=no_problem),
        Case("a provider that signs with two algorithms",
             (document(AUTHGEAR_ISSUER, id_token_signing_alg_values_supported=["ES256", "RS256"]), AUTHGEAR_ISSUER),
             WHY_GOOD + " The list may name RS256 at any position: look for it in the list.", judge=no_problem),
        Case("the issuer with a trailing slash",
             (document(AUTHGEAR_ISSUER, issuer=AUTHGEAR_ISSUER + "/"), AUTHGEAR_ISSUER),
             WHY_ISSUER + " A trailing slash is another issuer.", judge=some_problem),
        Case("an issuer that only starts with yours",
             (document(AUTHGEAR_ISSUER, issuer=AUTHGEAR_ISSUER + ".attacker.example"), AUTHGEAR_ISSUER),
             WHY_ISSUER, judge=some_problem),
        Case("no token_endpoint", (document(AUTHGEAR_ISSUER, token_endpoint=None), AUTHGEAR_ISSUER),
             "The app cannot exchange a code without a token endpoint: name the missing field "
             "(metadata.get(field), not metadata[field], so the check reports instead of crashing).",
             judge=some_problem),
        Case("no revocation_endpoint", (document(AUTHGEAR_ISSUER, revocation_endpoint=None), AUTHGEAR_ISSUER),
             "The app revokes the refresh token there at logout (08): without it, a logout leaves the grant "
             "alive. It is in NEEDED_ENDPOINTS: name the missing field.", judge=some_problem),
        Case("the token endpoint over plain http",
             (document(AUTHGEAR_ISSUER, token_endpoint="http://myapp.authgear.cloud/oauth2/token"), AUTHGEAR_ISSUER),
             WHY_ENDPOINT, judge=some_problem),
        Case("a jwks_uri on a host that only starts like the mock's",
             (document(MOCK_ISSUER, jwks_uri="http://localhost:4000@attacker.example/oauth2/jwks"), MOCK_ISSUER),
             WHY_ENDPOINT + " A common prefix is not an origin: compare urlsplit(url).scheme and .netloc.",
             judge=some_problem),
        Case("no code_challenge_methods_supported",
             (document(AUTHGEAR_ISSUER, code_challenge_methods_supported=None), AUTHGEAR_ISSUER),
             "RFC 8414 §2: a provider that leaves code_challenge_methods_supported out does not support "
             "PKCE. Report it (metadata.get(field, [])), do not crash.", judge=some_problem),
        Case("PKCE with plain only",
             (document(AUTHGEAR_ISSUER, code_challenge_methods_supported=["plain"]), AUTHGEAR_ISSUER),
             "The app sends code_challenge_method=S256 (03): it needs S256 in the list, and `plain` "
             "(the verifier itself in the URL) protects nothing.", judge=some_problem),
        Case("ID tokens signed with HS256 only",
             (document(AUTHGEAR_ISSUER, id_token_signing_alg_values_supported=["HS256"]), AUTHGEAR_ISSUER),
             "OpenID Connect Discovery 1.0 §3: RS256 MUST be in id_token_signing_alg_values_supported; "
             "notebook 05 verifies RS256 signatures with the JWKS.", judge=some_problem),
    ],
    wrong_answers=[
        # Forgives a trailing slash.
        WrongAnswer(lambda m, i: _checks(m, i, issuer_ok=lambda got, want: (got or "").rstrip("/") == want.rstrip("/")),
                    "A trailing slash is another issuer"),
        # Takes any issuer that starts with the expected one.
        WrongAnswer(lambda m, i: _checks(m, i, issuer_ok=lambda got, want: (got or "").startswith(want)),
                    "only starts with yours"),
        # Wants https everywhere: the bundled mock fails.
        WrongAnswer(lambda m, i: _checks(m, i, endpoint_ok=lambda url, issuer: url.startswith("https://")),
                    "issuer's own origin is fine even over http"),
        # Checks that the endpoints are there, not where they go.
        WrongAnswer(lambda m, i: _checks(m, i, endpoint_ok=lambda url, issuer: True), "in clear"),
        # Same origin as a prefix of the URL.
        WrongAnswer(lambda m, i: _checks(m, i, endpoint_ok=lambda url, issuer: url.startswith(("https://", issuer))),
                    "A common prefix is not an origin"),
        # metadata["code_challenge_methods_supported"]: a KeyError when the provider leaves it out.
        WrongAnswer(lambda m, i: _checks(m, i, pkce_ok=lambda m: "S256" in m["code_challenge_methods_supported"]),
                    "RFC 8414 §2"),
        # Any PKCE method will do.
        WrongAnswer(lambda m, i: _checks(m, i, pkce_ok=lambda m: bool(m.get("code_challenge_methods_supported"))),
                    "protects nothing"),
        # RS256 first in the list.
        WrongAnswer(lambda m, i: _checks(m, i, alg_ok=lambda m: m.get("id_token_signing_alg_values_supported",
                                                                       [""])[0] == "RS256"),
                    "at any position"),
        # Looks at the issuer only.
        WrongAnswer(lambda m, i: [] if m.get("issuer") == i else ["issuer"], "name the missing field"),
    ],
))


def _same_issuer(got: Any, want: str) -> bool:
    return got == want


def _safe_endpoint(url: str, issuer: str) -> bool:
    parts, origin = urllib.parse.urlsplit(url), urllib.parse.urlsplit(issuer)
    return parts.scheme == "https" or (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)


def _checks(metadata: dict[str, Any], expected_issuer: str, issuer_ok: Any = _same_issuer,
            endpoint_ok: Any = _safe_endpoint, pkce_ok: Any = None, alg_ok: Any = None) -> list[str]:
    """check_discovery with one of its checks replaced by a typical wrong one (the wrong answers)."""
    problems = []
    if not issuer_ok(metadata.get("issuer"), expected_issuer):
        problems.append("issuer")
    for field in NEEDED_ENDPOINTS:
        url = metadata.get(field)
        if not url or not endpoint_ok(url, expected_issuer):
            problems.append(field)
    if not (pkce_ok or (lambda m: "S256" in m.get("code_challenge_methods_supported", [])))(metadata):
        problems.append("pkce")
    if not (alg_ok or (lambda m: "RS256" in m.get("id_token_signing_alg_values_supported", [])))(metadata):
        problems.append("alg")
    return problems


# --- pick_key: the JWKS key a token's header names (RFC 7517, OpenID Connect Core §10.1.1) --

class KeyRefused(Exception):
    """No key in the JWKS may verify this token."""


class KeyNotFound(KeyRefused):
    """No key has this `kid`: the provider may have rotated its keys. Fetch the JWKS again,
    once, and refuse the token if the `kid` is still unknown."""


class UnusableKey(KeyRefused):
    """The `kid` names a key that must not verify an RS256 ID token (or names more than one)."""


# RFC 7518 §6.3.2 (RSA) and §6.4.1 (a symmetric key): members that only a private key has.
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def pick_key(jwks: dict[str, Any], kid: str) -> dict[str, Any]:
    found = [key for key in jwks.get("keys", []) if key.get("kid") == kid]
    if not found:
        raise KeyNotFound(f"no key in the JWKS has kid {kid!r}")
    if len(found) > 1:
        raise UnusableKey(f"{len(found)} keys have kid {kid!r}: which one signed is ambiguous")
    key = found[0]
    if PRIVATE_MEMBERS & set(key):
        raise UnusableKey(f"key {kid!r} publishes private members {sorted(PRIVATE_MEMBERS & set(key))}: "
                          "anyone can sign with it")
    if key.get("kty") != "RSA":
        raise UnusableKey(f"key {kid!r} is kty {key.get('kty')!r}, not RSA")
    if key.get("use", "sig") != "sig":  # RFC 7517 §4.2: optional; when given, "sig" for signatures
        raise UnusableKey(f"key {kid!r} is for use {key['use']!r}, not sig")
    if key.get("alg", "RS256") != "RS256":  # RFC 7517 §4.4: optional; when given, the only algorithm
        raise UnusableKey(f"key {kid!r} is for alg {key['alg']!r}, not RS256")
    return key


def rsa_key(kid: str, **changes: Any) -> dict[str, Any]:
    key = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": "oCLifjUDsppeEJi0" + kid[:4], "e": "AQAB"}
    return changed(key, changes)


OLD, NEW = "3b1a57c2-old-key", "d5b987a4-new-key"
ROTATING = {"keys": [rsa_key(OLD), rsa_key(NEW)]}
WHY_PICK = "A token's header names its key with `kid`: pick by kid, never by position."
WHY_USABLE = "Raise UnusableKey: this key must not verify an RS256 ID token."

register(Exercise(
    name="pick_key",
    reference=pick_key,
    cases=[
        Case("Authgear's JWKS, one key", ({"keys": [rsa_key(NEW)]}, NEW), WHY_PICK, expect=rsa_key(NEW)),
        Case("two keys during a rotation, the token names the second", (copy.deepcopy(ROTATING), NEW), WHY_PICK,
             expect=rsa_key(NEW)),
        Case("a kid the JWKS does not list (a rotated key, or a forged token)", (copy.deepcopy(ROTATING), "nobody-has-it"),
             "Raise KeyNotFound, never fall back to another key: a real app then fetches the JWKS again, once "
             "(the keys may have rotated), and refuses the token if the kid is still unknown.",
             raises=KeyNotFound),
        Case("two keys with the same kid", ({"keys": [rsa_key(NEW), rsa_key(NEW, n="AnotherModulus")]}, NEW),
             "Two keys answer to this kid, so which one signed is ambiguous. " + WHY_USABLE, raises=UnusableKey),
        Case("a key that publishes its private members (d, p, q…)",
             ({"keys": [rsa_key(NEW, d="PrivateExponent", p="PrimeOne", q="PrimeTwo")]}, NEW),
             "A JWKS with the private key in it lets anyone sign tokens (RFC 7518 §6.3.2: d, p, q, dp, dq, qi "
             "are private). " + WHY_USABLE, raises=UnusableKey),
        Case("an encryption key (use: enc)", ({"keys": [rsa_key(NEW, use="enc")]}, NEW),
             "RFC 7517 §4.2: use, when given, must be `sig` for a key that verifies signatures. " + WHY_USABLE,
             raises=UnusableKey),
        Case("an elliptic-curve key (kty: EC)",
             ({"keys": [{"kty": "EC", "kid": NEW, "crv": "P-256", "x": "f83OJ3D2", "y": "x_FEzRu9"}]}, NEW),
             "The ID token says RS256: only a kty RSA key can verify it. " + WHY_USABLE, raises=UnusableKey),
        Case("a key for another algorithm (alg: RS512)", ({"keys": [rsa_key(NEW, alg="RS512")]}, NEW),
             "RFC 7517 §4.4: alg, when given, is the only algorithm the key is for. " + WHY_USABLE,
             raises=UnusableKey),
        Case("a key without alg (it is optional)", ({"keys": [rsa_key(NEW, alg=None)]}, NEW),
             "RFC 7517 §4.4: alg is optional. Check it only when it is there (key.get('alg', 'RS256')).",
             expect=rsa_key(NEW, alg=None)),
    ],
    wrong_answers=[
        WrongAnswer(lambda jwks, kid: jwks["keys"][0], "never by position"),
        WrongAnswer(lambda jwks, kid: {key["kid"]: key for key in jwks["keys"]}[kid], "fetches the JWKS again"),
        WrongAnswer(lambda jwks, kid: next((k for k in jwks["keys"] if k["kid"] == kid), jwks["keys"][0]),
                    "never fall back"),
        WrongAnswer(lambda jwks, kid: next(k for k in jwks["keys"] if k["kid"] == kid and k["kty"] == "RSA"
                                           and k["use"] == "sig" and k["alg"] == "RS256"), "alg is optional"),
        WrongAnswer(lambda jwks, kid: _checked_first(jwks, kid), "ambiguous"),
        WrongAnswer(lambda jwks, kid: _checked_first(jwks, kid, private=False), "lets anyone sign tokens"),
    ],
))


def _checked_first(jwks: dict[str, Any], kid: str, private: bool = True) -> dict[str, Any]:
    """The first key with this kid, checked (for the wrong answers): misses duplicates, and
    with private=False misses private members too."""
    key = next((key for key in jwks["keys"] if key.get("kid") == kid), None)
    if key is None:
        raise KeyNotFound(kid)
    if private and PRIVATE_MEMBERS & set(key):
        raise UnusableKey(kid)
    if key.get("kty") != "RSA" or key.get("use", "sig") != "sig" or key.get("alg", "RS256") != "RS256":
        raise UnusableKey(kid)
    return key
