"""Notebook 08's exercises: the revocation request (RFC 7009 §2.1), the RP-initiated logout URL
(OpenID Connect RP-Initiated Logout 1.0 §2), and reading the prompt=none probe that proves the
logout (OpenID Connect Core §3.1.2.6)."""

from __future__ import annotations

import copy
import secrets
import urllib.parse
from typing import Any

from . import Case, Exercise, WrongAnswer, register, shown

# A session as the app keeps it after a login. The three tokens look alike on purpose: Authgear's
# access token and ID token are both JWTs (three base64url parts), so only the key tells them apart.
SESSION = {
    "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJjbGllbnRfaWQiOiJhY2Nlc3MifQ.QUNDRVNTLXNpZw",
    "id_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJub25jZSI6ImlkLXRva2VuIn0.SUQtVE9LRU4tc2ln",
    "refresh_token": "0b6f1c2e-7d4a-4f7e-9a51-3f0c2d9e8b17.Rk9yZXZva2F0aW9uMTIzNDU2Nzg5MGFi",
    "expires_at": 1767227400.0,
}
OTHER_SESSION = {
    "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJib2IifQ.Qk9CLUFDQ0VTUw",
    "id_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJib2IiLCJhdWQiOiJhcHAifQ.Qk9CLUlE",
    "refresh_token": "5e2d8a90-1c3b-4d6e-8f70-a1b2c3d4e5f6.zX9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE",
    "expires_at": 1767229200.0,
}


# --- revoke_request: RFC 7009 §2.1 ----------------------------------------------------------

def revoke_request(session: dict, client_id: str, client_secret: str) -> dict[str, str]:
    return {
        "token": session["refresh_token"],  # the refresh token: the whole grant dies with it
        "token_type_hint": "refresh_token",  # RFC 7009 §2.1: optional, says what `token` is
        "client_id": client_id,  # RFC 7009 §2.1: a confidential client authenticates
        "client_secret": client_secret,
    }


def judge_revoke(session: dict, client_id: str, client_secret: str) -> Any:
    session = copy.deepcopy(session)

    def judge(form: object) -> str | None:
        if not isinstance(form, dict):
            return (f"it returned a {type(form).__name__}: return the form as a dict of field names to values "
                    "(requests' data= form-encodes it).")
        if "token" not in form:
            if "refresh_token" in form:
                return ("RFC 7009 §2.1 names the field `token`. `refresh_token=` is the refresh grant's field "
                        "(notebook 07): the revocation endpoint does not read it, answers 200 anyway, and "
                        "revokes nothing.")
            return "no `token` field: RFC 7009 §2.1 sends the token to revoke as token=…."
        token = form["token"]
        if token == session["access_token"]:
            return ("it sends the access token. That revokes one access token at most (Authgear: only that "
                    "one), and the refresh token, the grant itself, lives on: it still mints new access "
                    "tokens. Send the refresh token: Authgear then revokes the whole grant, its access "
                    "tokens included.")
        if token == session["id_token"]:
            return "it sends the ID token: it is no credential, nothing revokes it. Send the refresh token."
        if token != session["refresh_token"]:
            return f"token is {shown(repr(token))}: send the session's refresh token."
        hint = form.get("token_type_hint", "refresh_token")
        if hint != "refresh_token":
            return (f"token_type_hint is {shown(repr(hint))}: the hint says what kind of token `token` is, "
                    "here refresh_token (RFC 7009 §2.1). Authgear ignores it; other servers look the token "
                    "up by it.")
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return ("the client's id and secret are missing (or wrong): RFC 7009 §2.1 says a confidential "
                    "client authenticates here as at the token endpoint. Authgear does not ask; other "
                    "providers refuse the request without them.")
        if "grant_type" in form:
            return "it sends grant_type: revocation is its own endpoint, with no grant (RFC 7009 §2.1)."
        return None
    return judge


WHY_REVOKE = "(RFC 7009 §2.1, and the task above.)"

register(Exercise(
    name="revoke_request",
    reference=revoke_request,
    cases=[
        Case("alice's session, the mock's client", (SESSION, "mock-client", "mock-secret"), WHY_REVOKE,
             judge=judge_revoke(SESSION, "mock-client", "mock-secret")),
        Case("bob's session, an Authgear project's client",
             (OTHER_SESSION, "7d8e9f0a1b2c3d4e", "q1W2e3R4t5Y6u7I8o9P0a1S2d3F4g5H6"), WHY_REVOKE,
             judge=judge_revoke(OTHER_SESSION, "7d8e9f0a1b2c3d4e", "q1W2e3R4t5Y6u7I8o9P0a1S2d3F4g5H6")),
    ],
    wrong_answers=[
        WrongAnswer(lambda s, cid, secret: {"token": s["access_token"], "client_id": cid, "client_secret": secret},
                    "lives on"),
        WrongAnswer(lambda s, cid, secret: {"refresh_token": s["refresh_token"], "client_id": cid,
                                            "client_secret": secret}, "names the field `token`"),
        WrongAnswer(lambda s, cid, secret: {"token": s["refresh_token"], "token_type_hint": "refresh_token"},
                    "authenticates here"),
        WrongAnswer(lambda s, cid, secret: {"token": s["refresh_token"], "token_type_hint": "access_token",
                                            "client_id": cid, "client_secret": secret}, "kind of token"),
    ],
))


# --- logout_url: OpenID Connect RP-Initiated Logout 1.0 §2 ----------------------------------

def logout_url(end_session_endpoint: str, session: dict, post_logout_redirect_uri: str, state: str) -> str:
    query = urllib.parse.urlencode({  # urlencode: every value URL-encoded
        "id_token_hint": session["id_token"],  # the ID token, never the access token
        "post_logout_redirect_uri": post_logout_redirect_uri,  # registered for the app, exactly
        "state": state,  # checked when the browser comes back
    })
    return end_session_endpoint + "?" + query


def judge_logout(end_session_endpoint: str, session: dict, post_logout_redirect_uri: str, state: str) -> Any:
    session = copy.deepcopy(session)

    def judge(url: object) -> str | None:
        if not isinstance(url, str):
            return f"it returned a {type(url).__name__}: return the URL, a str."
        parts = urllib.parse.urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}{parts.path}" != end_session_endpoint:
            return f"the URL must start with the end_session_endpoint {end_session_endpoint!r} (from discovery)."
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = dict(pairs)
        hint = query.get("id_token_hint")
        if hint is None:
            if "id_token" in query:
                return "the parameter is named id_token_hint, not id_token (RP-Initiated Logout §2)."
            return ("no id_token_hint. RP-Initiated Logout §2 RECOMMENDS it, all the more with a "
                    "post_logout_redirect_uri: it tells the provider which login and which app (the "
                    "relying party) are logging out, so it can check the address against that app.")
        if hint == session["access_token"]:
            return ("id_token_hint is the access token: that is the API's token. The hint is the ID token, "
                    "the one token made for the app itself (RP-Initiated Logout §2).")
        if hint == session["refresh_token"]:
            return "id_token_hint is the refresh token: never put a refresh token in a URL. The hint is the ID token."
        if hint != session["id_token"]:
            return f"id_token_hint is {shown(repr(hint))}: send the session's ID token."
        if query.get("post_logout_redirect_uri") != post_logout_redirect_uri:
            if post_logout_redirect_uri in url:
                return ("the values are not URL-encoded: the `?`, `=` and `&` inside post_logout_redirect_uri "
                        f"cut it into pieces (it arrives as {shown(repr(query.get('post_logout_redirect_uri')))}). "
                        "Build the query with urllib.parse.urlencode.")
            return (f"post_logout_redirect_uri is {shown(repr(query.get('post_logout_redirect_uri')))}, not the "
                    f"registered {post_logout_redirect_uri!r}: it must match a registered one exactly.")
        if query.get("state") != state:
            return ("no state (or another one): send the state this app keeps, so it can tell, when the browser "
                    "comes back, that this visit ends the logout it started (RP-Initiated Logout §2).")
        if len(pairs) != len(query):
            return "a parameter appears twice: send each once."
        return None
    return judge


ENDPOINT = "https://myapp.authgear.cloud/oauth2/end_session"
WHY_LOGOUT = "(RP-Initiated Logout §2, and the task above.)"


def logout_case(label: str, session: dict, uri: str, state: str) -> Case:
    return Case(label, (ENDPOINT, session, uri, state), WHY_LOGOUT, judge=judge_logout(ENDPOINT, session, uri, state))


register(Exercise(
    name="logout_url",
    reference=logout_url,
    cases=[
        logout_case("the tutorial's registered address", SESSION, "http://localhost:3000", "u8Qm3v_HjX2cF9rLs0PaTw"),
        logout_case("a registered address with a query of its own", OTHER_SESSION,
                    "http://localhost:3000/signed-out?from=logout&lang=en", "Zq3x-our-own-state"),
    ],
    wrong_answers=[
        # The tutorial's: only the address.
        WrongAnswer(lambda endpoint, s, uri, state: endpoint + "?" + urllib.parse.urlencode(
            {"post_logout_redirect_uri": uri}), "no id_token_hint"),
        WrongAnswer(lambda endpoint, s, uri, state: endpoint + "?" + urllib.parse.urlencode(
            {"id_token_hint": s["access_token"], "post_logout_redirect_uri": uri, "state": state}),
            "is the access token"),
        WrongAnswer(lambda endpoint, s, uri, state:
                    f"{endpoint}?id_token_hint={s['id_token']}&post_logout_redirect_uri={uri}&state={state}",
                    "not URL-encoded"),
        WrongAnswer(lambda endpoint, s, uri, state: endpoint + "?" + urllib.parse.urlencode(
            {"id_token_hint": s["id_token"], "post_logout_redirect_uri": uri}), "no state"),
    ],
))


# --- is_logged_out: reading the prompt=none probe (OpenID Connect Core §3.1.2.6) -----------

class StateMismatch(Exception):
    """The callback's state is not the one this app sent: not the answer to our probe."""


class ProbeFailed(Exception):
    """The answer says nothing about Authgear's session: the probe itself went wrong."""


# OpenID Connect Core §3.1.2.6: with prompt=none, these say the session lives but needs a page.
SESSION_LIVES = ("interaction_required", "consent_required", "account_selection_required")


def is_logged_out(callback_url: str, expected_state: str) -> bool:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback_url).query))
    # 1. state first: until it matches, nothing in this callback is about our probe
    if not secrets.compare_digest(query.get("state", "").encode(), expected_state.encode()):
        raise StateMismatch("state does not match: this is not the answer to our probe")
    # 2. login_required: no session at Authgear, the user is logged out
    if query.get("error") == "login_required":
        return True
    # 3. a code, or an error that needs a page: the session at Authgear lives
    if "code" in query or query.get("error") in SESSION_LIVES:
        return False
    # 4. anything else (invalid_request, nothing at all) says nothing about the session
    raise ProbeFailed(f"the probe failed: {query.get('error', 'no code and no error')}")


PROBE_STATE = "sRSKaUqJ61L0qbhe7ooevw"


def probe_answer(**query: str) -> str:
    return "http://localhost:3000/auth-redirect?" + urllib.parse.urlencode(query)


WHY_PROBE = ("OpenID Connect Core §3.1.2.6: with prompt=none, login_required means no session at Authgear; "
             "a code, interaction_required, consent_required or account_selection_required mean it lives.")
WHY_STATE = ("Check state first, as for every callback (RFC 6749 §10.12): anyone can send the app a "
             "`login_required`, and until the state matches it is not the answer to our probe.")

register(Exercise(
    name="is_logged_out",
    reference=is_logged_out,
    cases=[
        Case("after the logout: error=login_required",
             (probe_answer(error="login_required", state=PROBE_STATE), PROBE_STATE), WHY_PROBE, expect=True),
        Case("before the logout: a code",
             (probe_answer(code="Qm9vX2NvZGVfMTIzNDU2Nzg5MGFiY2Rl", state=PROBE_STATE), PROBE_STATE),
             WHY_PROBE + " A code: the user is still logged in.", expect=False),
        Case("a session that needs a page: error=interaction_required",
             (probe_answer(error="interaction_required", state=PROBE_STATE), PROBE_STATE),
             WHY_PROBE + " interaction_required: Authgear still knows the user, it only needs to show a page.",
             expect=False),
        Case("error=consent_required", (probe_answer(error="consent_required", state=PROBE_STATE), PROBE_STATE),
             WHY_PROBE, expect=False),
        Case("login_required with a state this app did not send",
             (probe_answer(error="login_required", state="made-up"), PROBE_STATE), WHY_STATE, raises=StateMismatch),
        Case("a probe Authgear refused: error=invalid_request (prompt=none with max_age)",
             (probe_answer(error="invalid_request", state=PROBE_STATE), PROBE_STATE),
             "invalid_request says the probe was wrong, and nothing about the session: raise ProbeFailed.",
             raises=ProbeFailed),
        Case("neither a code nor an error", (probe_answer(state=PROBE_STATE), PROBE_STATE),
             "No code and no error says nothing about the session: raise ProbeFailed.", raises=ProbeFailed),
    ],
    wrong_answers=[
        # Any error counts as logged out.
        WrongAnswer(lambda url, state: "code" not in dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)),
                    "only needs to show a page"),
        # No state check.
        WrongAnswer(lambda url, state: _without_state_check(url), "Check state first"),
        # login_required or not: a failed probe reads as "still logged in".
        WrongAnswer(lambda url, state: _login_required_only(url, state), "says nothing about the session"),
    ],
))


def _without_state_check(url: str) -> bool:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if query.get("error") == "login_required":
        return True
    if "code" in query or query.get("error") in SESSION_LIVES:
        return False
    raise ProbeFailed("probe")


def _login_required_only(url: str, state: str) -> bool:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if query.get("state") != state:
        raise StateMismatch("state")
    return query.get("error") == "login_required"
