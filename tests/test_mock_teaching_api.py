"""The teaching API under /_mock/: the exchange log (secrets shortened), the clock, reset,
and clients and users changed at runtime.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests

from mock_idp import RunningServer
from tests.flow import (
    CLIENT_SECRET,
    REDIRECT_URI,
    Flow,
    add_client,
    add_user,
    advance_clock,
    basic_auth,
    callback,
    refresh,
    userinfo,
    verify_jwt,
)


def exchanges(idp: RunningServer, since: int = 0) -> list[dict[str, Any]]:
    response = requests.get(idp.url + "/_mock/exchanges", params={"since": since})
    assert response.status_code == 200
    return response.json()["exchanges"]


def test_index_lists_the_teaching_endpoints(idp: RunningServer) -> None:
    response = requests.get(idp.url + "/_mock/")
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == idp.url
    assert any("/_mock/exchanges" in name for name in body["endpoints"])
    assert any("/_mock/clock" in name for name in body["endpoints"])


# -- the exchange log

def full_flow(idp: RunningServer, flow: Flow) -> dict[str, Any]:
    """Every protocol endpoint once; returns every secret that went over the wire."""
    started = flow.authorize()
    answer = flow.submit_login(started)
    code = callback(answer)["code"]
    tokens = flow.exchange(code).json()
    assert userinfo(idp.url, tokens["access_token"]).status_code == 200
    refreshed = refresh(idp.url, tokens["refresh_token"]).json()
    requests.post(idp.url + "/oauth2/revoke", data={"token": tokens["refresh_token"]})
    flow.browser.get(idp.url + "/oauth2/end_session", params={"id_token_hint": refreshed["id_token"]},
                     allow_redirects=False)
    return {"code": code, "verifier": flow.verifier, "session": answer.cookies["mock_idp_session"],
            **{f"first_{k}": v for k, v in tokens.items() if isinstance(v, str) and len(v) > 20},
            **{f"second_{k}": v for k, v in refreshed.items() if isinstance(v, str) and len(v) > 20}}


def test_exchanges_record_every_protocol_request_in_order(idp: RunningServer, flow: Flow) -> None:
    full_flow(idp, flow)
    seen = exchanges(idp)
    paths = [(e["method"], e["path"], e["status"]) for e in seen]
    assert paths == [
        ("GET", "/oauth2/authorize", 303),
        ("GET", "/login", 200),
        ("POST", "/login", 303),
        ("POST", "/oauth2/token", 200),
        ("GET", "/oauth2/userinfo", 200),
        ("POST", "/oauth2/token", 200),
        ("POST", "/oauth2/revoke", 200),
        ("GET", "/oauth2/end_session", 303),
    ]
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
    token = seen[3]
    assert token["params"]["grant_type"] == "authorization_code"
    assert token["params"]["client_id"] == "mock-client"
    assert token["params"]["redirect_uri"] == REDIRECT_URI
    assert token["request_headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert token["response_headers"]["cache-control"] == "no-store"
    assert token["response_body"]["token_type"] == "Bearer"
    assert seen[0]["params"]["scope"] == flow.last["scope"]
    assert seen[0]["response_headers"]["location"].startswith(idp.url + "/login?")


def test_exchanges_never_show_a_secret_whole(idp: RunningServer, flow: Flow) -> None:
    secrets = full_flow(idp, flow)
    text = json.dumps(exchanges(idp), ensure_ascii=False)
    for name, value in {**secrets, "client_secret": CLIENT_SECRET, "password": "alice123"}.items():
        assert value not in text, name
    # Shortened, not hidden: a learner still sees which value went where.
    assert "mock-sec…" in text
    assert secrets["code"][:8] + "…" in text
    assert secrets["first_access_token"][:8] + "…" in text


def test_short_secrets_are_not_shown_whole_either(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="tiny", client_secret="tiny-pw", redirect_uris=[REDIRECT_URI])
    code = flow.login(client_id="tiny")["code"]
    assert flow.exchange(code, client_id="tiny", client_secret="tiny-pw").status_code == 200
    text = json.dumps(exchanges(idp), ensure_ascii=False)
    assert "tiny-pw" not in text


def test_basic_credentials_and_location_codes_are_shortened(idp: RunningServer, flow: Flow) -> None:
    answer = flow.submit_login(flow.authorize())
    code = callback(answer)["code"]
    authorization = basic_auth("mock-client", CLIENT_SECRET)
    requests.post(idp.url + "/oauth2/token", headers={"Authorization": authorization}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": flow.verifier})
    seen = exchanges(idp)
    login = next(e for e in seen if e["method"] == "POST" and e["path"] == "/login")
    assert code not in login["response_headers"]["location"]
    assert "code=" + code[:8] + "…" in login["response_headers"]["location"]
    assert login["params"]["password"] == "••••••"
    token = next(e for e in seen if e["path"] == "/oauth2/token")
    shown = token["request_headers"]["authorization"]
    assert shown.startswith("Basic ") and shown.endswith("…")
    assert authorization.split()[1] not in shown


def test_error_responses_are_recorded(idp: RunningServer) -> None:
    requests.post(idp.url + "/oauth2/token", data={"client_id": "nope"})
    requests.get(idp.url + "/oauth2/authorize", params={"client_id": "nope"})
    token, page = exchanges(idp)
    assert token["status"] == 400
    assert token["response_body"] == {"error": "invalid_client", "error_description": "invalid client ID"}
    assert page["status"] == 400
    assert "unauthorized_client" in page["response_body"]


def test_exchanges_since_and_delete(idp: RunningServer) -> None:
    for _ in range(3):
        requests.post(idp.url + "/oauth2/revoke", data={"token": "x"})
    seen = exchanges(idp)
    assert len(seen) == 3
    assert exchanges(idp, since=seen[0]["seq"]) == seen[1:]
    assert exchanges(idp, since=seen[-1]["seq"]) == []
    deleted = requests.delete(idp.url + "/_mock/exchanges")
    assert deleted.status_code == 200
    assert exchanges(idp) == []


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "²", "١", "9" * 5000])
def test_bad_since_is_400_not_500(idp: RunningServer, since: str) -> None:
    response = requests.get(idp.url + "/_mock/exchanges", params={"since": since})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- the clock

def test_clock_get_advance_and_set(idp: RunningServer) -> None:
    assert requests.get(idp.url + "/_mock/clock").json()["offset"] == 0
    moved = advance_clock(idp.url, 301)
    assert moved["offset"] == 301
    assert abs(moved["now"] - (time.time() + 301)) < 5
    assert advance_clock(idp.url, 100)["offset"] == 401
    back = requests.post(idp.url + "/_mock/clock", json={"offset": 0})
    assert back.status_code == 200 and back.json()["offset"] == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"{}", b"[]", b"not json", b'{"advance": "60"}', b'{"advance": 1.5}', b'{"advance": true}',
     b'{"advance": null}', b'{"advance": 1e400}', b'{"offset": 99999999999999999999}', b'{"speed": 2}',
     b"[" * 100_000, b'"\xff"'],
)
def test_bad_clock_bodies_are_400(idp: RunningServer, body: bytes) -> None:
    response = requests.post(idp.url + "/_mock/clock", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "?" not in response.json()["error_description"]  # readable: no `"` turned into `?`
    assert requests.get(idp.url + "/_mock/clock").json()["offset"] == 0


TEN_YEARS = 10 * 365 * 86400


@pytest.mark.parametrize(("before", "body", "field"), [
    (TEN_YEARS, {"advance": 1}, "advance"),
    (TEN_YEARS - 5, {"advance": 6}, "advance"),
    (-TEN_YEARS, {"advance": -1}, "advance"),
    (0, {"offset": TEN_YEARS + 1}, "offset"),
    (0, {"offset": -TEN_YEARS - 1}, "offset"),
    (TEN_YEARS // 2, {"advance": TEN_YEARS // 2 + 1}, "advance"),
])
def test_the_clock_stays_within_ten_years_of_real_time(idp: RunningServer, before: int, body: dict[str, int],
                                                      field: str) -> None:
    """Each step was bounded, the offset was not: 900 steps of ten years put tokens in year ~11000."""
    assert requests.post(idp.url + "/_mock/clock", json={"offset": before}).json()["offset"] == before
    response = requests.post(idp.url + "/_mock/clock", json=body)
    assert response.status_code == 400, response.text
    if field == "advance":
        assert response.json()["error_description"] == (
            f"advance would put the clock {before + body['advance']} seconds from real time: it stays within ten "
            f"years ({TEN_YEARS} seconds) either way; send {{'offset': 0}} to go back to real time")
    assert response.json()["error"] == "invalid_request"
    description = response.json()["error_description"]
    assert description.startswith(field) and "ten years" in description
    assert requests.get(idp.url + "/_mock/clock").json()["offset"] == before  # nothing changed


def test_the_clock_moves_up_to_ten_years_from_real_time_either_way(idp: RunningServer) -> None:
    for _ in range(2):
        assert advance_clock(idp.url, TEN_YEARS // 2)["offset"] in (TEN_YEARS // 2, TEN_YEARS)
    assert advance_clock(idp.url, -TEN_YEARS)["offset"] == 0
    assert advance_clock(idp.url, -TEN_YEARS)["offset"] == -TEN_YEARS
    assert requests.post(idp.url + "/_mock/clock", json={"offset": TEN_YEARS}).json()["offset"] == TEN_YEARS
    assert advance_clock(idp.url, -TEN_YEARS)["offset"] == 0


def test_advancing_the_clock_expires_codes(idp: RunningServer, flow: Flow) -> None:
    code = flow.login()["code"]
    advance_clock(idp.url, 301)
    response = flow.exchange(code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_advancing_the_clock_expires_access_tokens(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    advance_clock(idp.url, 1801)
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
    # The refresh token (52 weeks, 30 days idle) still works and gives a live access token.
    refreshed = refresh(idp.url, tokens["refresh_token"]).json()
    assert userinfo(idp.url, refreshed["access_token"]).status_code == 200


def test_tokens_are_issued_by_the_mock_clock(idp: RunningServer, flow: Flow) -> None:
    advance_clock(idp.url, 3600)
    claims = verify_jwt(idp.url, flow.tokens()["id_token"], "mock-client", "JWT", leeway=3600)
    assert abs(claims["iat"] - (time.time() + 3600)) < 5
    assert abs(claims["auth_time"] - (time.time() + 3600)) < 5


# -- reset

def test_reset_forgets_sessions_tokens_clock_log_and_runtime_changes(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    add_client(idp.url, client_id="temp", client_secret="s", redirect_uris=[REDIRECT_URI])
    add_user(idp.url, email="temp@example.com", password="temp123")
    advance_clock(idp.url, 60)
    response = requests.post(idp.url + "/_mock/reset")
    assert response.status_code == 200
    assert response.json()["offset"] == 0
    assert exchanges(idp) == []
    assert requests.get(idp.url + "/_mock/clock").json()["offset"] == 0
    assert refresh(idp.url, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
    assert callback(flow.authorize(prompt="none"))["error"] == "login_required"
    ids = [c["client_id"] for c in requests.get(idp.url + "/_mock/clients").json()["clients"]]
    assert "temp" not in ids and "mock-client" in ids
    emails = [u["email"] for u in requests.get(idp.url + "/_mock/users").json()["users"]]
    assert "temp@example.com" not in emails and "alice@example.com" in emails


def test_reset_keeps_the_signing_key(idp: RunningServer) -> None:
    before = requests.get(idp.url + "/oauth2/jwks").json()
    requests.post(idp.url + "/_mock/reset")
    assert requests.get(idp.url + "/oauth2/jwks").json() == before


# -- clients at runtime

def test_clients_list_shortens_secrets(idp: RunningServer) -> None:
    response = requests.get(idp.url + "/_mock/clients")
    assert response.status_code == 200
    clients = {c["client_id"]: c for c in response.json()["clients"]}
    assert {"mock-client", "mock-spa"} <= set(clients)
    assert CLIENT_SECRET not in response.text
    assert clients["mock-spa"]["client_secret"] is None
    assert clients["mock-client"]["redirect_uris"][0] == REDIRECT_URI


@pytest.mark.parametrize("secret", ["q7z", "q7zx", "q7z9xw"])
def test_clients_list_never_shows_a_short_secret_whole(idp: RunningServer, secret: str) -> None:
    created = add_client(idp.url, client_id="short-secret", client_secret=secret, redirect_uris=[REDIRECT_URI])
    listed = requests.get(idp.url + "/_mock/clients").text
    assert secret not in json.dumps(created) and secret not in listed
    assert created["client_secret"].endswith("…")


def test_client_added_at_runtime_works_and_can_be_removed(idp: RunningServer, flow: Flow) -> None:
    created = add_client(idp.url, client_id="new-app", client_secret="new-secret-123",
                         redirect_uris=["http://localhost:3000/new"], post_logout_redirect_uris=["http://localhost:3000/bye"])
    assert created["client_id"] == "new-app"
    assert "new-secret-123" not in json.dumps(created)
    code = flow.login(client_id="new-app", redirect_uri="http://localhost:3000/new")["code"]
    tokens = flow.exchange(code, client_id="new-app", client_secret="new-secret-123")
    assert tokens.status_code == 200
    deleted = requests.delete(idp.url + "/_mock/clients/new-app")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    gone = requests.get(idp.url + "/oauth2/authorize", params={"client_id": "new-app"}, allow_redirects=False)
    assert gone.status_code == 400 and "unauthorized_client" in gone.text
    assert requests.delete(idp.url + "/_mock/clients/new-app").status_code == 404


def test_client_replaced_at_runtime(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="mock-client", client_secret="changed", redirect_uris=[REDIRECT_URI])
    code = flow.login()["code"]
    assert flow.exchange(code).json()["error_description"] == "invalid client secret"
    assert flow.exchange(code, client_secret="changed").status_code == 200


def test_public_client_added_at_runtime_requires_pkce(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="spa2", redirect_uris=[REDIRECT_URI])
    response = flow.authorize(client_id="spa2", code_challenge=None, code_challenge_method=None)
    assert callback(response)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"client_id": "x"},
        {"client_id": "", "redirect_uris": ["http://localhost:3000/cb"]},
        {"client_id": 5, "redirect_uris": ["http://localhost:3000/cb"]},
        {"client_id": "x", "redirect_uris": "http://localhost:3000/cb"},
        {"client_id": "x", "redirect_uris": [5]},
        {"client_id": "x", "redirect_uris": []},  # nobody could log in with it
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "client_secret": ""},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "client_secret": 5},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "refresh_token_rotation": "yes"},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "access_token_lifetime": 0},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "access_token_lifetime": "60"},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "access_token_lifetime": True},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "post_logout_redirect_uris": "x"},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "grant_types": ["implicit"]},
        {"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "name": 5},
        [],
        "client",
    ],
)
def test_bad_client_bodies_are_400(idp: RunningServer, body: Any) -> None:
    response = requests.post(idp.url + "/_mock/clients", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"]
    ids = [c["client_id"] for c in requests.get(idp.url + "/_mock/clients").json()["clients"]]
    assert ids == ["mock-client", "mock-spa"]


def test_non_json_client_body_is_400(idp: RunningServer) -> None:
    for body in (b"client_id=x", b"\xff\xfe", b"{" * 100_000):
        response = requests.post(idp.url + "/_mock/clients", data=body)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


# -- users at runtime

def test_users_list_hides_passwords(idp: RunningServer) -> None:
    response = requests.get(idp.url + "/_mock/users")
    assert response.status_code == 200
    users = {u["email"]: u for u in response.json()["users"]}
    assert {"alice@example.com", "bob@example.com"} <= set(users)
    assert "alice123" not in response.text and "bob123" not in response.text
    assert users["alice@example.com"]["sub"]


def test_user_added_at_runtime_can_log_in_with_custom_claims(idp: RunningServer, flow: Flow) -> None:
    created = add_user(idp.url, email="Dave@Example.com", password="dave-pass", sub="11111111-2222-3333-4444-555555555555",
                       claims={"name": "Dave"}, custom_attributes={"tier": 3}, roles=["viewer"], email_verified=False)
    assert "dave-pass" not in json.dumps(created)
    tokens = flow.tokens(email="dave@example.com", password="dave-pass")  # emails are case-insensitive
    info = userinfo(idp.url, tokens["access_token"]).json()
    assert info["sub"] == "11111111-2222-3333-4444-555555555555"
    assert info["name"] == "Dave"
    assert info["email_verified"] is False
    assert info["custom_attributes"] == {"tier": 3}
    assert info["https://authgear.com/claims/user/roles"] == ["viewer"]
    assert info["https://authgear.com/claims/user/is_verified"] is False


def test_user_replaced_at_runtime_changes_the_password(idp: RunningServer, flow: Flow) -> None:
    add_user(idp.url, email="alice@example.com", password="new-password")
    answer = flow.submit_login(flow.authorize(), "alice@example.com", "alice123")
    assert answer.status_code != 303 and "Incorrect email or password" in answer.text
    with requests.Session() as browser:
        assert "code" in Flow(idp.url, browser).login(password="new-password")


def test_a_sub_another_user_holds_is_400_and_changes_nothing(idp: RunningServer, flow: Flow) -> None:
    """Tokens name their user by sub alone: a second user with alice's would log in as alice."""
    alice = idp.ctx.store.config.find_user("alice@example.com")
    assert alice is not None
    response = requests.post(idp.url + "/_mock/users", json={"email": "mallory@example.com", "password": "m1",
                                                              "sub": alice.sub})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"] == (
        f"sub '{alice.sub}' is already the sub of 'alice@example.com': each user needs their own "
        "(a token names its user by sub alone)")
    assert sorted(idp.ctx.store.config.users) == ["alice@example.com", "bob@example.com"]
    answer = flow.submit_login(flow.authorize(), "mallory@example.com", "m1")
    assert "Incorrect email or password" in answer.text
    # A user given bob's derived sub first makes the one derived for that email taken too.
    bob_sub = idp.ctx.store.config.find_user("bob@example.com").sub
    assert requests.delete(idp.url + "/_mock/users/bob@example.com").status_code == 200
    assert add_user(idp.url, email="robert@example.com", password="r1", sub=bob_sub)["sub"] == bob_sub
    taken = requests.post(idp.url + "/_mock/users", json={"email": "Bob@Example.com", "password": "b1"})
    assert taken.status_code == 400 and "'robert@example.com'" in taken.json()["error_description"]


def test_replacing_a_user_by_email_keeps_or_changes_its_sub(idp: RunningServer, flow: Flow) -> None:
    alice = idp.ctx.store.config.find_user("alice@example.com")
    assert alice is not None
    kept = requests.post(idp.url + "/_mock/users", json={"email": "ALICE@example.com", "password": "a2", "sub": alice.sub})
    assert kept.status_code == 201, kept.text
    with requests.Session() as browser:
        tokens = Flow(idp.url, browser).tokens(email="alice@example.com", password="a2")
    assert userinfo(idp.url, tokens["access_token"]).json()["sub"] == alice.sub
    # ... and alice's old sub is free for another once alice has a new one
    assert add_user(idp.url, email="alice@example.com", password="a3", sub="alice-2")["sub"] == "alice-2"
    assert add_user(idp.url, email="carol@example.com", password="c1", sub=alice.sub)["sub"] == alice.sub


def test_user_removed_at_runtime_can_no_longer_log_in(idp: RunningServer, flow: Flow) -> None:
    deleted = requests.delete(idp.url + "/_mock/users/bob@example.com")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    answer = flow.submit_login(flow.authorize(), "bob@example.com", "bob123")
    assert "Incorrect email or password" in answer.text
    assert requests.delete(idp.url + "/_mock/users/bob@example.com").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "x@example.com"},
        {"password": "x"},
        {"email": "", "password": "x"},
        {"email": "x@example.com", "password": 5},
        {"email": "x@example.com", "password": "x", "claims": []},
        {"email": "x@example.com", "password": "x", "custom_attributes": "x"},
        {"email": "x@example.com", "password": "x", "roles": "admin"},
        {"email": "x@example.com", "password": "x", "email_verified": "yes"},
        {"email": "x@example.com", "password": "x", "sub": 5},
        {"email": "x@example.com", "password": "x", "admin": True},
        {"email": "x@example.com", "password": "x", "updated_at": "yesterday"},
        {"email": "x@example.com", "password": "x", "updated_at": -1},
        # claims is for OIDC standard claims: these would override what the mock answers
        {"email": "x@example.com", "password": "x", "claims": {"sub": "someone-else"}},
        {"email": "x@example.com", "password": "x", "claims": {"email": "other@example.com"}},
        {"email": "x@example.com", "password": "x", "claims": {"https://authgear.com/claims/user/roles": ["admin"]}},
        {"email": "x@example.com", "password": "x", "claims": {"favourite_colour": "blue"}},
        [],
    ],
)
def test_bad_user_bodies_are_400(idp: RunningServer, body: Any) -> None:
    response = requests.post(idp.url + "/_mock/users", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    emails = [u["email"] for u in requests.get(idp.url + "/_mock/users").json()["users"]]
    assert emails == ["alice@example.com", "bob@example.com"]


# -- what clients and users may say (the config file is checked by the same code)

DAY = 86400
CB = "http://localhost:3000/cb"
BAD_CLIENT_FIELDS = [
    ({"redirect_uris": [CB, "http://localhost:3000/cb#frag"]},
     "redirect_uris[1] must be an absolute URI without a fragment, with a host if http(s) "
     "(RFC 6749 section 3.1.2, RFC 8252 section 7.1): 'http://localhost:3000/cb#frag': it has a fragment"),
    ({"redirect_uris": []}, "redirect_uris must hold at least one URI"),
    ({"redirect_uris": [CB + "#"]}, "redirect_uris[0] must be an absolute URI"),
    ({"redirect_uris": ["/auth-redirect"]}, "redirect_uris[0] must be an absolute URI"),
    ({"redirect_uris": ["localhost:3000/cb"]}, "it has no scheme (localhost:3000 reads as a host and port"),
    ({"redirect_uris": ["//localhost:3000/cb"]}, "it has no scheme"),
    ({"redirect_uris": ["http:/cb"]}, "it has no host (an http URI needs one)"),
    ({"redirect_uris": ["HTTPS:///cb"]}, "it has no host"),
    ({"redirect_uris": ["com.example.app:/cb#x"]}, "it has a fragment"),
    ({"redirect_uris": ["http://localhost:99999/cb"]}, "port"),
    ({"redirect_uris": [" " + CB]}, "space"),
    ({"redirect_uris": ["http://localhost:3000/ä"]}, "non-ASCII"),
    ({"redirect_uris": [CB + "/" + "a" * 1100]}, "longer than 1024"),
    ({"redirect_uris": [f"{CB}/{i}" for i in range(101)]}, "redirect_uris may hold at most 100"),
    ({"post_logout_redirect_uris": ["http://localhost:3000/", "bye"]}, "post_logout_redirect_uris[1] must be"),
    ({"post_logout_redirect_uris": ["http://localhost:3000/#top"]}, "post_logout_redirect_uris[0] must be"),
    ({"access_token_lifetime": 0}, "access_token_lifetime must be a whole number of seconds from 1 to 31536000"),
    ({"access_token_lifetime": 365 * DAY + 1}, "access_token_lifetime"),
    ({"id_token_lifetime": DAY + 1}, "id_token_lifetime must be a whole number of seconds from 1 to 86400"),
    ({"refresh_token_lifetime": 10**20}, "refresh_token_lifetime must be a whole number of seconds from 1 to 315360000"),
    ({"refresh_token_idle": -1}, "refresh_token_idle"),
    ({"refresh_token_idle": 1.5}, "refresh_token_idle"),
    ({"client_id": "x" * 1025}, "client_id must be at most 1024"),
]


@pytest.mark.parametrize(("fields", "description"), BAD_CLIENT_FIELDS)
def test_client_fields_out_of_bounds_are_400_naming_the_field(idp: RunningServer, fields: dict[str, Any],
                                                              description: str) -> None:
    body = {"client_id": "checked", "client_secret": "s", "redirect_uris": [CB], **fields}
    response = requests.post(idp.url + "/_mock/clients", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert description in response.json()["error_description"]
    assert "checked" not in idp.ctx.store.config.clients and len(idp.ctx.store.config.clients) == 2


# A browser runs these itself (or reads the learner's disk): the code, or a form_post answer,
# must never go there. Whatever the case, and whatever a browser drops before reading a URL
# (C0 controls and spaces at the ends, tabs and newlines anywhere: WHATWG URL Standard).
SCRIPT_URIS = ["javascript://x/%0aalert(1)", "javascript:alert(1)", "JavaScript:alert(1)", "JAVASCRIPT:alert(1)",
               " javascript:alert(1)", "javascript:alert(1) ", "\tjavascript:alert(1)", "\x00javascript:alert(1)",
               "java\tscript:alert(1)", "java\nscript:alert(1)", "data:text/html,<script>alert(1)</script>",
               "DATA:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)", "VBScript:msgbox(1)",
               "file:///etc/passwd", "FILE://localhost/etc/passwd", " \r\nfile:///etc/passwd"]


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
@pytest.mark.parametrize("uri", SCRIPT_URIS)
def test_script_and_local_schemes_are_400_naming_the_field(idp: RunningServer, field: str, uri: str) -> None:
    body = {"client_id": "checked", "redirect_uris": [CB], field: [CB, uri]}
    response = requests.post(idp.url + "/_mock/clients", json=body)
    assert response.status_code == 400, response.text
    description = response.json()["error_description"]
    assert description.startswith(f"{field}[1] must be an absolute URI")
    scheme = uri.lower().replace("\t", "").replace("\n", "").replace("\r", "").strip(" \x00").split(":")[0]
    assert f"a browser runs or reads a {scheme}: URI itself" in description
    assert "checked" not in idp.ctx.store.config.clients


def test_a_native_apps_private_use_scheme_is_a_redirect_uri(idp: RunningServer, flow: Flow) -> None:
    """RFC 8252 §7.1: Authgear's native SDKs register `com.example.app:/oauth2redirect`, no host."""
    native = "com.example.app:/oauth2redirect"
    added = requests.post(idp.url + "/_mock/clients", json={
        "client_id": "native", "redirect_uris": [native, "myapp://callback", "myapp:cb"],
        "post_logout_redirect_uris": ["com.example.app:/logged-out"]})
    assert added.status_code == 201, added.text
    assert added.json()["redirect_uris"] == [native, "myapp://callback", "myapp:cb"]
    # The authorization endpoint takes it (a public client: PKCE) and sends the code there.
    answer = flow.submit_login(flow.authorize(client_id="native", redirect_uri=native))
    assert answer.status_code == 303 and answer.headers["location"].startswith(native + "?code="), answer.text


@pytest.mark.parametrize("fields", [
    {"redirect_uris": ["http://[::1]:3000/cb", "https://app.example/cb?tab=1", "com.example.app://callback/x"]},
    {"redirect_uris": ["com.example.app:/oauth2redirect", "myapp:/cb", "Com.Example.App:/cb", "myapp:cb"]},
    {"post_logout_redirect_uris": ["com.example.app:/logged-out", "myapp://bye"]},
    {"redirect_uris": ["javascript.example.app:/cb", "https://data.example/cb", "http://localhost/javascript:x"]},
    {"post_logout_redirect_uris": ["http://localhost:3000", "https://app.example/bye?x=%20"]},
    {"access_token_lifetime": 1, "id_token_lifetime": 1, "refresh_token_lifetime": 1, "refresh_token_idle": 1},
    {"access_token_lifetime": 365 * DAY, "id_token_lifetime": DAY, "refresh_token_lifetime": 3650 * DAY,
     "refresh_token_idle": 3650 * DAY},
])
def test_client_fields_at_their_bounds_are_taken(idp: RunningServer, fields: dict[str, Any]) -> None:
    body = {"client_id": "bounds", "client_secret": "s", "redirect_uris": [CB], **fields}
    response = requests.post(idp.url + "/_mock/clients", json=body)
    assert response.status_code == 201, response.text
    stored = idp.ctx.store.config.clients["bounds"]
    for name, value in fields.items():
        assert getattr(stored, name) == value


@pytest.mark.parametrize(("fields", "description"), [
    ({"updated_at": -1}, "updated_at must be a whole number of seconds since 1970, before 2100"),
    ({"updated_at": 4102444801}, "updated_at"),
    ({"updated_at": 10**30}, "updated_at"),
    ({"updated_at": 1.5e9}, "updated_at"),
    ({"email": "carol"}, "email must be an address"),
    ({"email": "carol@"}, "email must be an address"),
    ({"email": "@example.com"}, "email must be an address"),
    ({"email": "carol @example.com"}, "email must be an address"),
    ({"email": "carol@example.com\n"}, "email must be an address"),
    ({"email": "c" * 243 + "@example.com"}, "at most 254 characters"),
    ({"password": "p" * 1025}, "password must be at most 1024"),
])
def test_user_fields_out_of_bounds_are_400_naming_the_field(idp: RunningServer, fields: dict[str, Any],
                                                            description: str) -> None:
    response = requests.post(idp.url + "/_mock/users", json={"email": "carol@example.com", "password": "c1", **fields})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert description in response.json()["error_description"]
    assert sorted(idp.ctx.store.config.users) == ["alice@example.com", "bob@example.com"]


@pytest.mark.parametrize("fields", [{"updated_at": 0}, {"updated_at": 4102444800}, {"email": "c" * 242 + "@example.com"},
                                    {"email": "o'brien+tag@mail.example"}])
def test_user_fields_at_their_bounds_are_taken(idp: RunningServer, fields: dict[str, Any]) -> None:
    response = requests.post(idp.url + "/_mock/users", json={"email": "carol@example.com", "password": "c1", **fields})
    assert response.status_code == 201, response.text
    assert response.json()["email"] == fields.get("email", "carol@example.com")
    assert response.json()["updated_at"] == fields.get("updated_at", 1767225600)


def test_what_was_sent_is_echoed_short_and_escaped(idp: RunningServer) -> None:
    sent = "http://localhost:3000/cb#\u202e<script>alert(1)</script>\n" + "A" * 5000
    description = requests.post(idp.url + "/_mock/clients", json={
        "client_id": "x", "redirect_uris": [sent]}).json()["error_description"]
    assert description.startswith("redirect_uris[0] must be an absolute URI")
    # escaped, not the character itself; cut short with "..."
    assert "'http://localhost:3000/cb#<U+202E><script>alert(1)</script><U+000A>AAAA" in description
    assert "\u202e" not in description and "AAA...'" in description
    assert "\n" not in description and "A" * 100 not in description and len(description) < 300
    unknown = requests.post(idp.url + "/_mock/users", json={
        "email": "x@example.com", "password": "p", **{f"field{i}\n": 1 for i in range(50)}}).json()["error_description"]
    assert unknown.startswith("unknown user field(s): 'field0<U+000A>'") and "and 45 more" in unknown
    assert "\n" not in unknown


SAFE_DESCRIPTION = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]*')  # RFC 6749 §4.1.2.1


@pytest.mark.parametrize(("path", "body", "readable"), [
    ("/_mock/users", {"email": "q'\"\\@b", "password": "p", "nope": 1}, "unknown user field(s): 'nope'"),
    ("/_mock/users", {"email": "q'\"\\ @b", "password": "p"}, "email must be an address"),
    ("/_mock/users", {"email": "q@b", "password": "p", "say \"hi\"\\": 1}, "'say <U+0022>hi<U+0022><U+005C>'"),
    ("/_mock/clients", {"client_id": "x", "redirect_uris": ['http://a/b?c="x"\\#"f"']},
     "'http://a/b?c=<U+0022>x<U+0022><U+005C>#<U+0022>f<U+0022>': it has a fragment"),
    ("/_mock/clients", {"client_id": "x", "redirect_uris": ["http://a/\u00e9\U0001F600"]}, "'http://a/<U+00E9><U+1F600>'"),
    ("/_mock/clock", b'{"advance": "\xff"}', "the body must be JSON"),
])
def test_teaching_api_errors_are_rfc_6749_descriptions_and_readable(idp: RunningServer, path: str, body: Any,
                                                                    readable: str) -> None:
    """Like every other error the mock answers: no `"`, no `\\`, nothing outside printable ASCII;
    what was sent still reads as what was sent."""
    if isinstance(body, bytes):
        response = requests.post(idp.url + path, data=body, headers={"Content-Type": "application/json"})
    else:
        response = requests.post(idp.url + path, json=body)
    assert response.status_code == 400, response.text
    description = response.json()["error_description"]
    assert SAFE_DESCRIPTION.fullmatch(description), description
    assert readable in description


@pytest.mark.parametrize(("method", "path"), [("PUT", "/_mock/clock"), ("GET", "/_mock/reset"),
                                              ("PUT", "/_mock/clients"), ("GET", "/_mock/clients/mock-client"),
                                              ("POST", "/_mock/exchanges")])
def test_teaching_api_wrong_method_is_405(idp: RunningServer, method: str, path: str) -> None:
    assert requests.request(method, idp.url + path).status_code == 405


# -- requests from other sites

CROSS_SITE = [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Origin": "http://localhost:3000"},
              {"Sec-Fetch-Site": "cross-site"}]
CHANGES = [
    ("POST", "/_mock/reset", None),
    ("POST", "/_mock/users", {"email": "mallory@example.com", "password": "mallory1"}),
    ("DELETE", "/_mock/users/alice@example.com", None),
    ("POST", "/_mock/clients", {"client_id": "evil", "client_secret": "s", "redirect_uris": ["https://evil.example/cb"]}),
    ("DELETE", "/_mock/clients/mock-client", None),
    ("POST", "/_mock/clock", {"advance": 3600}),
    ("DELETE", "/_mock/exchanges", None),
]


def teaching_state(idp: RunningServer) -> dict[str, Any]:
    """Everything the teaching API can change, as it reads back."""
    return {
        "users": requests.get(idp.url + "/_mock/users").json(),
        "clients": requests.get(idp.url + "/_mock/clients").json(),
        "offset": requests.get(idp.url + "/_mock/clock").json()["offset"],
        "exchanges": exchanges(idp),
    }


@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize(("method", "path", "body"), CHANGES)
def test_cross_site_changes_are_403_and_change_nothing(idp: RunningServer, flow: Flow, method: str, path: str,
                                                       body: Any, headers: dict[str, str]) -> None:
    # A page on another site (a form POST, a fetch) must not reset the mock or add a user
    # whose password it knows: the teaching API listens on localhost for anyone's browser.
    tokens = flow.tokens()
    before = teaching_state(idp)
    response = requests.request(method, idp.url + path, json=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "access_denied"
    assert teaching_state(idp) == before
    assert "code" in callback(flow.authorize(prompt="none"))  # the session survived (no reset)
    assert userinfo(idp.url, tokens["access_token"]).status_code == 200


def test_a_cross_site_form_post_cannot_add_a_user(idp: RunningServer) -> None:
    # What evil.example's auto-submitting form would send (text/plain can carry a JSON body).
    response = requests.post(idp.url + "/_mock/users", data='{"email": "mallory@example.com", "password": "x1"}',
                             headers={"Content-Type": "text/plain", "Origin": "https://evil.example",
                                      "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    emails = [u["email"] for u in requests.get(idp.url + "/_mock/users").json()["users"]]
    assert emails == ["alice@example.com", "bob@example.com"]


def test_same_origin_changes_and_cross_site_reads_are_allowed(idp: RunningServer) -> None:
    same = {"Origin": idp.url, "Sec-Fetch-Site": "same-origin"}
    added = requests.post(idp.url + "/_mock/users", json={"email": "carol@example.com", "password": "carol123"},
                          headers=same)
    assert added.status_code == 201, added.text
    assert requests.post(idp.url + "/_mock/clock", json={"advance": 5}, headers=same).json()["offset"] == 5
    # Reading is not refused (the API sends no CORS headers, so another site cannot read it anyway).
    read = requests.get(idp.url + "/_mock/users", headers={"Origin": "https://evil.example"})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
    assert requests.post(idp.url + "/_mock/reset", headers=same).status_code == 200
