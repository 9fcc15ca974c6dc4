"""Room mode (mock_idp/room/), over real HTTP on loopback: joining, each learner on their own
mock behind one address, the teaching API per learner, the instructor's progress view."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from mock_idp.browser import Browser
from mock_idp.room import Room, create_room_app
from mock_idp.room.router import ADDRESS_MEMORY
from mock_idp.server import RunningServer, bind, serve_app
from tests.flow import pkce_pair

REDIRECT = "http://localhost:3000/auth-redirect"
JSON = {"Accept": "application/json"}


@pytest.fixture
def room() -> Iterator[tuple[Room, RunningServer]]:
    sock = bind("127.0.0.1", 0)
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    the_room = Room(issuer, max_learners=5)
    server = serve_app(create_room_app(the_room), sock, issuer)
    try:
        yield the_room, server
    finally:
        server.stop()


def join(issuer: str, name: str, **extra: str) -> requests.Response:
    return requests.post(issuer + "/join", data={"name": name, **extra}, headers=JSON, timeout=5)


def joined(issuer: str, name: str) -> dict[str, Any]:
    answer = join(issuer, name)
    assert answer.status_code == 201, answer.text
    return answer.json()


def log_in(issuer: str, learner: dict[str, Any], browser: requests.Session | None = None) -> dict[str, Any]:
    """The notebooks' flow for one learner: discovery, authorize (state, nonce, PKCE), the login
    form, the code exchange. Returns the token response."""
    metadata = requests.get(issuer + "/.well-known/openid-configuration", timeout=5).json()
    verifier, challenge = pkce_pair()
    url = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": learner["client_id"], "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid offline_access email profile", "state": "st", "nonce": "no",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    landed = Browser(browser or requests.Session()).login(url, until=REDIRECT, email=learner["email"],
                                                          password=learner["password"])
    answer = requests.post(metadata["token_endpoint"], timeout=5, data={
        "grant_type": "authorization_code", "code": landed.params["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier}, auth=(learner["client_id"], learner["client_secret"]))
    assert answer.status_code == 200, answer.text
    return answer.json()


def userinfo(issuer: str, access_token: str) -> requests.Response:
    return requests.get(issuer + "/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=5)


def teaching(issuer: str, learner: dict[str, Any], method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, issuer + path, auth=(learner["client_id"], learner["client_secret"]),
                            timeout=5, **kwargs)


# --- Joining ------------------------------------------------------------------------------------

def test_joining_gives_a_client_a_user_and_the_env_lines(room: tuple[Room, RunningServer]) -> None:
    the_room, server = room
    ada = joined(server.url, "  Ada   Lovelace ")
    assert ada["name"] == "Ada Lovelace" and ada["client_id"].startswith("room-ada-lovelace-")
    assert ada["client_secret"] and ada["password"] and ada["email"] == "ada-lovelace@room.example"
    assert REDIRECT in ada["redirect_uris"] and "http://localhost:3000" in ada["post_logout_redirect_uris"]
    assert ada["env"] == (f"AUTHGEAR_ENDPOINT={server.url}\nAUTHGEAR_CLIENT_ID={ada['client_id']}\n"
                          f"AUTHGEAR_CLIENT_SECRET={ada['client_secret']}\nAUTHGEAR_REDIRECT_URL={REDIRECT}\n")
    # The client is a confidential one of the room's issuer: the whole flow works with it.
    tokens = log_in(server.url, ada)
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["iss"] == server.url and claims["aud"] == [ada["client_id"]] and claims["email"] == ada["email"]


def test_the_join_page_escapes_the_name_and_shows_the_details_again_to_the_same_browser(
        room: tuple[Room, RunningServer]) -> None:
    _, server = room
    browser = requests.Session()
    page = browser.post(server.url + "/join", data={"name": "<script>alert(1)</script>"}, timeout=5)
    assert page.status_code == 201
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "AUTHGEAR_CLIENT_SECRET=" in page.text
    again = browser.get(server.url + "/join", timeout=5)  # the join cookie: the same details
    assert again.status_code == 200 and "You joined the room earlier" in again.text
    assert page.text.split("AUTHGEAR_CLIENT_SECRET=")[1][:20] == again.text.split("AUTHGEAR_CLIENT_SECRET=")[1][:20]
    # Another browser typing the same name gets no secret.
    other = requests.post(server.url + "/join", data={"name": "<script>alert(1)</script>"}, timeout=5)
    assert other.status_code == 409 and "AUTHGEAR_CLIENT_SECRET" not in other.text
    assert "<script>" not in other.text


def test_joining_twice_with_one_name(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    first = joined(server.url, "Grace")
    again = join(server.url, "grace", join_token=first["join_token"])  # the same script, asking again
    assert again.status_code == 200 and again.json()["client_secret"] == first["client_secret"]
    assert again.json()["new"] is False
    stranger = join(server.url, "GRACE")
    assert stranger.status_code == 409 and stranger.json()["error"] == "name_taken"
    assert "client_secret" not in stranger.json()


@pytest.mark.parametrize("name", ["", "   ", "x" * 41, "bell\x07", "zero\u200bwidth", "nul\x00", "rtl\u202eoverride"])
def test_names_that_are_not_names_are_refused(room: tuple[Room, RunningServer], name: str) -> None:
    _, server = room
    answer = join(server.url, name)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_a_full_room_says_so(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    for number in range(5):
        joined(server.url, f"learner {number}")
    full = join(server.url, "one too many")
    assert full.status_code == 403 and "full" in full.json()["error_description"]


def test_a_form_from_another_site_cannot_join(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    answer = requests.post(server.url + "/join", data={"name": "spam"}, headers={"Origin": "https://evil.example"},
                           timeout=5)
    assert answer.status_code == 403
    assert requests.get(server.url + "/_room/progress", params={"token": room[0].instructor_token},
                        timeout=5).json()["learners"] == []


# --- Each learner on their own ------------------------------------------------------------------

def test_the_teaching_api_needs_the_learners_credentials(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    ada = joined(server.url, "Ada")
    bare = requests.get(server.url + "/_mock/clock", timeout=5)
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"] == 'Basic realm="mock_idp room"'
    wrong = requests.get(server.url + "/_mock/clock", auth=(ada["client_id"], "not-the-secret"), timeout=5)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    bearer = requests.get(server.url + "/_mock/clock", headers={"Authorization": "Bearer " + "x" * 40}, timeout=5)
    assert bearer.status_code == 401
    assert teaching(server.url, ada, "GET", "/_mock/clock").json()["offset"] == 0


def test_one_learners_clock_reset_and_log_are_their_own(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    ada, bob = joined(server.url, "Ada"), joined(server.url, "Bob")
    ada_tokens, bob_tokens = log_in(server.url, ada), log_in(server.url, bob)
    assert userinfo(server.url, ada_tokens["access_token"]).json()["email"] == ada["email"]

    assert teaching(server.url, ada, "POST", "/_mock/clock", json={"advance": 7200}).json()["offset"] == 7200
    assert userinfo(server.url, ada_tokens["access_token"]).status_code == 401  # Ada's token expired
    assert userinfo(server.url, bob_tokens["access_token"]).status_code == 200  # Bob's did not
    assert teaching(server.url, bob, "GET", "/_mock/clock").json()["offset"] == 0

    ada_log = teaching(server.url, ada, "GET", "/_mock/exchanges").json()["exchanges"]
    bob_log = teaching(server.url, bob, "GET", "/_mock/exchanges").json()["exchanges"]
    assert ada_log and bob_log
    assert all(bob["client_id"] not in str(entry) for entry in ada_log)
    assert all(ada["client_id"] not in str(entry) for entry in bob_log)

    assert teaching(server.url, ada, "POST", "/_mock/reset").status_code == 200
    assert teaching(server.url, ada, "GET", "/_mock/exchanges").json()["exchanges"] == []
    assert len(teaching(server.url, bob, "GET", "/_mock/exchanges").json()["exchanges"]) >= len(bob_log)
    assert userinfo(server.url, bob_tokens["access_token"]).status_code == 200
    # After her reset Ada's own client and user are still there: she logs in again.
    assert userinfo(server.url, log_in(server.url, ada)["access_token"]).status_code == 200


def test_a_learner_cannot_use_a_classmates_code_or_token(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    ada, bob = joined(server.url, "Ada"), joined(server.url, "Bob")
    bob_tokens = log_in(server.url, bob)
    refresh = requests.post(server.url + "/oauth2/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": bob_tokens["refresh_token"]},
        auth=(ada["client_id"], ada["client_secret"]))
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    # A code of Ada's, sent with Bob's client: Bob's mock never issued it.
    metadata = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    verifier, challenge = pkce_pair()
    landed = Browser(requests.Session()).login(metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": ada["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256"}), until=REDIRECT, email=ada["email"],
        password=ada["password"])
    stolen = requests.post(server.url + "/oauth2/token", timeout=5, data={
        "grant_type": "authorization_code", "code": landed.params["code"], "redirect_uri": REDIRECT,
        "code_verifier": verifier}, auth=(bob["client_id"], bob["client_secret"]))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    # Nor Ada's login with Bob's password: each learner's mock knows its own user only.
    with pytest.raises(Exception, match="Incorrect email or password|stopped"):
        Browser(requests.Session()).login(metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
            "client_id": ada["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
            "code_challenge": challenge, "code_challenge_method": "S256"}), until=REDIRECT, email=bob["email"],
            password=bob["password"])


def test_a_client_a_learner_registers_is_routed_to_their_mock(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    ada = joined(server.url, "Ada")
    second = {"client_id": ada["client_id"] + "-rotating", "client_secret": "mock-rotating-secret",
              "redirect_uris": [REDIRECT], "refresh_token_rotation": True}
    assert teaching(server.url, ada, "POST", "/_mock/clients", json=second).status_code == 201
    tokens = log_in(server.url, {**ada, **second})
    rotated = requests.post(server.url + "/oauth2/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(second["client_id"], second["client_secret"]))
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != tokens["refresh_token"]


def test_a_learner_registers_clients_only_under_their_own_id(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    ada, bob = joined(server.url, "Ada"), joined(server.url, "Bob")
    for taken in (bob["client_id"], bob["client_id"] + "-rotating", "mock-client"):
        answer = teaching(server.url, ada, "POST", "/_mock/clients",
                          json={"client_id": taken, "client_secret": "s", "redirect_uris": [REDIRECT]})
        assert answer.status_code == 400 and ada["client_id"] in answer.json()["error_description"]
    assert log_in(server.url, bob)["access_token"]  # Bob's client is still Bob's


def test_requests_that_name_nobody_get_authgears_answers(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    unknown = requests.get(server.url + "/oauth2/authorize", params={
        "client_id": "nobody", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"}, timeout=5)
    assert unknown.status_code == 400 and "invalid client ID" in unknown.text
    assert requests.get(server.url + "/oauth2/userinfo", headers={"Authorization": "Bearer junk"},
                        timeout=5).status_code == 401
    assert requests.post(server.url + "/oauth2/token", data={"grant_type": "client_credentials"},
                         timeout=5).status_code in (400, 401)
    assert requests.get(server.url + "/oauth2/jwks", timeout=5).json()["keys"]
    assert requests.post(server.url + "/join", data={"name": "x" * 2_000_000}, timeout=10).status_code == 413


# --- The instructor's view ----------------------------------------------------------------------

def test_progress_needs_the_instructors_token(room: tuple[Room, RunningServer]) -> None:
    the_room, server = room
    assert requests.get(server.url + "/_room/progress", timeout=5).status_code == 401
    assert requests.get(server.url + "/_room/progress", params={"token": "wrong"}, timeout=5).status_code == 403
    assert requests.get(server.url + "/_room", timeout=5).status_code == 401
    assert requests.get(server.url + "/_room/progress", timeout=5,
                        headers={"Authorization": f"Bearer {the_room.instructor_token}"}).status_code == 200
    # The dashboard's address carries the token once; the page itself is served without it.
    browser = requests.Session()
    first = browser.get(server.url + "/_room", params={"token": the_room.instructor_token}, allow_redirects=False,
                        timeout=5)
    assert first.status_code == 303 and first.headers["location"] == "/_room"
    page = browser.get(server.url + "/_room", timeout=5)
    assert page.status_code == 200 and the_room.instructor_token not in page.text
    assert browser.get(server.url + "/_room/progress", timeout=5).status_code == 200


def test_progress_shows_each_learners_steps_and_errors(room: tuple[Room, RunningServer]) -> None:
    the_room, server = room
    ada, bob = joined(server.url, "Ada"), joined(server.url, "Bob")
    tokens = log_in(server.url, ada)  # discovery, authorize, login, token
    assert userinfo(server.url, tokens["access_token"]).status_code == 200
    refreshed = requests.post(server.url + "/oauth2/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(ada["client_id"], ada["client_secret"]))
    assert refreshed.status_code == 200
    requests.post(server.url + "/oauth2/revoke", data={"token": tokens["refresh_token"]},
                  auth=(ada["client_id"], ada["client_secret"]), timeout=5)
    bad = requests.post(server.url + "/oauth2/token", timeout=5, data={
        "grant_type": "authorization_code", "code": "made-up", "redirect_uri": REDIRECT},
        auth=(bob["client_id"], bob["client_secret"]))
    assert bad.status_code == 400

    view = requests.get(server.url + "/_room/progress", params={"token": the_room.instructor_token}, timeout=5).json()
    assert view["steps"] == ["discovery", "authorize", "login", "token", "userinfo", "refresh", "revocation", "logout"]
    rows = {row["name"]: row for row in view["learners"]}
    assert set(rows) == {"Ada", "Bob"} and rows["Ada"]["client_id"] == ada["client_id"]
    done = {step for step, at in rows["Ada"]["steps"].items() if at is not None}
    # Discovery came from 127.0.0.1, where two learners are seen: not counted for either.
    assert done == {"authorize", "login", "token", "userinfo", "refresh", "revocation"}
    assert rows["Ada"]["authorize"] == {"state": True, "nonce": True, "pkce": True}
    assert rows["Ada"]["last_done"] >= rows["Ada"]["steps"]["revocation"]
    assert rows["Ada"]["errors"] == 0 and rows["Ada"]["last_seen"] <= time.time()
    assert rows["Bob"]["errors"] == 1 and rows["Bob"]["last_error"]["step"] == "token"
    assert rows["Bob"]["last_error"]["error"] == "invalid_grant"
    assert all(at is None for at in rows["Bob"]["steps"].values())


def test_the_authorize_flags_are_those_of_the_request_that_logged_in(room: tuple[Room, RunningServer]) -> None:
    """A probe of the authorization endpoint without state, nonce or PKCE (notebook 01's
    preflight) does not mark a learner who logs in with all three."""
    the_room, server = room
    ada = joined(server.url, "Ada")
    probe = requests.get(server.url + "/oauth2/authorize", allow_redirects=False, timeout=5, params={
        "client_id": ada["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"})
    assert probe.status_code in (302, 303)
    log_in(server.url, ada)
    row = the_room.progress()["learners"][0]
    assert row["authorize"] == {"state": True, "nonce": True, "pkce": True}


def test_discovery_counts_for_the_only_learner_at_an_address(room: tuple[Room, RunningServer]) -> None:
    the_room, server = room
    ada = joined(server.url, "Ada")
    teaching(server.url, ada, "GET", "/_mock/clock")  # the kit's connect() does this first
    requests.get(server.url + "/.well-known/openid-configuration", timeout=5)
    view = the_room.progress()
    assert view["learners"][0]["steps"]["discovery"] is not None
    assert ADDRESS_MEMORY >= 600


def test_the_command_line_prints_the_dashboard_and_join_addresses() -> None:
    process = subprocess.Popen([sys.executable, "-m", "mock_idp", "--room", "--host", "127.0.0.1", "--port", "0",
                                "--max-learners", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        issuer = lines[0].split()[3]
        assert issuer.startswith("http://127.0.0.1:") and "up to 3 learners" in lines[0]
        assert lines[1].split()[-1] == issuer + "/join"
        dashboard = lines[2].split()[-1]
        assert dashboard.startswith(issuer + "/_room?token=")
        assert requests.get(dashboard.replace("/_room?", "/_room/progress?"), timeout=5).json()["learners"] == []
    finally:
        process.terminate()
        process.wait(10)


def test_the_join_page_works_under_another_name_of_the_machine(room: tuple[Room, RunningServer]) -> None:
    """Opened as http://localhost:PORT/join while the issuer says 127.0.0.1: the page posts to
    its own origin, and that origin is not another site."""
    _, server = room
    other_name = server.url.replace("127.0.0.1", "localhost")
    page = requests.get(other_name + "/join", timeout=5)
    assert 'action="/join"' in page.text
    answer = requests.post(other_name + "/join", data={"name": "Lin"}, headers={"Origin": other_name}, timeout=5)
    assert answer.status_code == 201 and f"AUTHGEAR_ENDPOINT={server.url}" in answer.text


def test_the_join_page_says_how_many_places_are_taken(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    joined(server.url, "Ada")
    assert "1 of 5 places taken." in requests.get(server.url + "/join", timeout=5).text


def test_one_browser_joins_once(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    browser = requests.Session()
    assert browser.post(server.url + "/join", data={"name": "Ada"}, timeout=5).status_code == 201
    second = browser.post(server.url + "/join", data={"name": "Ada again"}, timeout=5)
    assert second.status_code == 409 and "joined already" in second.text


def test_the_flags_are_those_of_the_login_that_ended_not_of_a_later_probe(room: tuple[Room, RunningServer]) -> None:
    the_room, server = room
    ada = joined(server.url, "Ada")
    verifier, challenge = pkce_pair()
    browser = requests.Session()  # the pending login is tied to the browser that started it
    started = browser.get(server.url + "/oauth2/authorize", allow_redirects=False, timeout=5, params={
        "client_id": ada["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"})
    requests.get(server.url + "/oauth2/authorize", allow_redirects=False, timeout=5, params={
        "client_id": ada["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"})
    login_page = urllib.parse.urljoin(server.url, started.headers["location"])
    landed = Browser(browser).login(login_page, until=REDIRECT, email=ada["email"], password=ada["password"])
    assert landed.params["code"]
    assert the_room.progress()["learners"][0]["authorize"] == {"state": True, "nonce": True, "pkce": True}


def test_a_logout_that_names_nobody_still_goes_back_to_the_app(room: tuple[Room, RunningServer]) -> None:
    """The tutorial's logout sends only post_logout_redirect_uri: the room sends the browser back
    as the bundled mock does, not to the lobby's settings page."""
    the_room, server = room
    ada = joined(server.url, "Ada")
    answer = requests.get(server.url + "/oauth2/end_session", params={"post_logout_redirect_uri": "http://localhost:3000"},
                          allow_redirects=False, timeout=5)
    assert answer.status_code == 303 and answer.headers["location"] == "http://localhost:3000"
    # Nobody's logout: not in Ada's progress, not in her log (the lobby answered it).
    assert the_room.learners[ada["client_id"]].progress.view()["steps"]["logout"] is None
    assert not teaching(server.url, ada, "GET", "/_mock/exchanges").json()["exchanges"]
    # Not a way to send a browser anywhere: only the kit's registered URIs.
    elsewhere = requests.get(server.url + "/oauth2/end_session", allow_redirects=False, timeout=5,
                             params={"post_logout_redirect_uri": "https://evil.example/"})
    assert elsewhere.status_code == 303 and elsewhere.headers["location"].endswith("/settings")  # Authgear's own page


def test_odd_hints_and_bodies_get_answers_not_server_errors(room: tuple[Room, RunningServer]) -> None:
    """An unsigned id_token_hint whose `aud` is not a string, JSON nested too deep: what the
    room reads to find the learner must not fail on them."""
    import base64
    import json

    _, server = room
    ada = joined(server.url, "Ada")

    def segment(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    for audience in ([{"x": 1}], [["x"]], {"x": 1}, 7, [None]):
        hint = f"{segment({'alg': 'none'})}.{segment({'aud': audience})}."
        answer = requests.get(server.url + "/oauth2/end_session", params={"id_token_hint": hint},
                              allow_redirects=False, timeout=5)
        assert answer.status_code < 500, (audience, answer.status_code, answer.text)
    deep = teaching(server.url, ada, "POST", "/_mock/clients", data="[" * 100_000,
                    headers={"Content-Type": "application/json"})
    assert deep.status_code == 400 and deep.json()["error"] == "invalid_request"


def test_a_learners_mock_holds_a_bounded_number_of_clients_and_users(room: tuple[Room, RunningServer]) -> None:
    from mock_idp.room.router import MAX_OWN

    _, server = room
    ada = joined(server.url, "Ada")
    answers = [teaching(server.url, ada, "POST", "/_mock/users", json={"email": f"u{n}@room.example", "password": "p"})
               for n in range(MAX_OWN + 1)]
    assert {a.status_code for a in answers[:MAX_OWN - 1]} == {201}
    assert answers[-1].status_code == 400 and f"at most {MAX_OWN}" in answers[-1].json()["error_description"]


def test_a_websocket_to_the_room_is_refused_not_a_server_error(room: tuple[Room, RunningServer]) -> None:
    _, server = room
    port = int(server.url.rsplit(":", 1)[1])
    import socket as sockets

    with sockets.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /join HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        status = sock.recv(4096).split(b"\r\n", 1)[0]
    assert b" 500 " not in status and (b" 403 " in status or b" 404 " in status or b" 400 " in status), status
