"""Who may use the teaching API (mock_idp/guard.py): the learner's own machine as before;
another machine only with the admin token; nobody through a Host that is not the issuer's.

Another machine is simulated for real: httpx's ASGI transport hands the app a client address
of 192.0.2.10 (TEST-NET-1), which a socket on loopback cannot. Loopback cases go over real
HTTP to a mock served on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any

import httpx
import pytest
import requests
from starlette.applications import Starlette

from mock_idp import RunningServer, create_app
from mock_idp.guard import REALM, host_and_port, is_loopback_address
from tests.test_mock_teaching_api import CHANGES

ISSUER = "http://classroom.example:4000"
OTHER_MACHINE = ("192.0.2.10", 5000)
TOKEN = "teacher-" + "x" * 24
BEARER = {"Authorization": f"Bearer {TOKEN}"}

READS = [("GET", "/_mock/"), ("GET", "/_mock/exchanges"), ("GET", "/_mock/clock"), ("GET", "/_mock/clients"),
         ("GET", "/_mock/users")]


def call(app: Starlette, method: str, path: str, client: tuple[str, int] = OTHER_MACHINE, base_url: str = ISSUER,
         **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, cookies=kwargs.pop("cookies", None)) as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(send())


@pytest.fixture
def app() -> Starlette:
    return create_app(ISSUER, admin_token=TOKEN)


def state(app: Starlette) -> dict[str, Any]:
    """Everything the teaching API can change, read from the inside."""
    store = app.state.ctx.store
    return {"clients": sorted(store.config.clients), "users": sorted(store.config.users),
            "offset": store.clock_offset, "log": len(app.state.ctx.log.since(0))}


# -- another machine

@pytest.mark.parametrize(("method", "path", "body"), [(m, p, None) for m, p in READS] + CHANGES)
def test_another_machine_without_the_token_gets_401_and_changes_nothing(app: Starlette, method: str, path: str,
                                                                         body: Any) -> None:
    call(app, "POST", "/oauth2/revoke", data={"token": "x"})  # something in the log to (not) read or forget
    before = state(app)
    response = call(app, method, path, json=body)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "unauthorized"
    assert "admin token" in response.json()["error_description"]
    assert state(app) == before


def test_the_exchange_log_is_not_readable_from_another_machine(app: Starlette) -> None:
    # The log holds userinfo answers, state and nonce: reads are guarded as well as changes.
    call(app, "GET", "/oauth2/authorize", params={"client_id": "mock-client", "state": "st-4f2a9c", "nonce": "n-77e1"})
    refused = call(app, "GET", "/_mock/exchanges")
    assert refused.status_code == 401
    assert "st-4f2a9c" not in refused.text and "n-77e1" not in refused.text
    allowed = call(app, "GET", "/_mock/exchanges", headers=BEARER)
    assert allowed.status_code == 200 and "st-4f2a9c" in allowed.text


@pytest.mark.parametrize("authorization", [
    f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer " + "y" * len(TOKEN), f"Basic {TOKEN}",
    "Basic " + base64.b64encode(f"admin:{TOKEN}".encode()).decode(), f"Bearer{TOKEN}", f"Token {TOKEN}",
    "Bearer é" + TOKEN, "Bearer", "",
])
def test_a_wrong_token_is_401(app: Starlette, authorization: str) -> None:
    before = state(app)
    response = call(app, "POST", "/_mock/reset", headers={"Authorization": authorization.encode("latin-1")})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith(f'Bearer realm="{REALM}"')
    assert response.json()["error"] in ("unauthorized", "invalid_token")
    assert state(app) == before


def test_a_wrong_bearer_token_says_invalid_token(app: Starlette) -> None:
    response = call(app, "GET", "/_mock/users", headers={"Authorization": "Bearer " + "z" * 40})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(f'Bearer realm="{REALM}", error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_admin_token_opens_the_teaching_api_to_another_machine(app: Starlette, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {TOKEN}"}
    users = call(app, "GET", "/_mock/users", headers=headers)
    assert users.status_code == 200 and "alice@example.com" in users.text
    added = call(app, "POST", "/_mock/users", headers=headers, json={"email": "carol@example.com", "password": "carol1"})
    assert added.status_code == 201, added.text
    assert "carol@example.com" in app.state.ctx.store.config.users
    assert call(app, "POST", "/_mock/clock", headers=headers, json={"advance": 60}).json()["offset"] == 60
    assert call(app, "POST", "/_mock/reset", headers=headers).status_code == 200
    assert "carol@example.com" not in app.state.ctx.store.config.users


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}])
def test_the_token_does_not_lift_the_cross_site_refusal(app: Starlette, headers: dict[str, str]) -> None:
    before = state(app)
    response = call(app, "POST", "/_mock/reset", headers={**BEARER, **headers})
    assert response.status_code == 403 and response.json()["error"] == "access_denied"
    assert state(app) == before


def test_the_oauth_endpoints_stay_open_to_other_machines(app: Starlette) -> None:
    doc = call(app, "GET", "/.well-known/openid-configuration")
    assert doc.status_code == 200 and doc.json()["issuer"] == ISSUER
    assert call(app, "GET", "/.well-known/oauth-authorization-server").status_code == 200
    assert call(app, "GET", "/oauth2/jwks").json()["keys"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorize = call(app, "GET", "/oauth2/authorize", params={
        "client_id": "mock-client", "redirect_uri": "http://localhost:3000/auth-redirect", "response_type": "code",
        "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert authorize.status_code in (302, 303) and authorize.headers["location"].startswith(ISSUER + "/login?")
    login = call(app, "GET", authorize.headers["location"].removeprefix(ISSUER), cookies=authorize.cookies)
    assert login.status_code == 200 and "<form" in login.text
    # The endpoints' own answers to a bad request, not the teaching API's 401:
    token = call(app, "POST", "/oauth2/token", data={"grant_type": "authorization_code", "code": "nope",
                                                     "client_id": "mock-client", "client_secret": "mock-secret",
                                                     "redirect_uri": "http://localhost:3000/auth-redirect"})
    assert token.status_code == 400 and token.json()["error"] == "invalid_grant"
    info = call(app, "GET", "/oauth2/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert info.status_code == 401 and REALM not in info.headers.get("www-authenticate", "")
    assert call(app, "POST", "/oauth2/revoke", data={"token": "x"}).status_code == 200
    end = call(app, "GET", "/oauth2/end_session")
    assert end.status_code not in (401, 403) and REALM not in end.text


def test_a_proxied_request_counts_as_another_machine(app: Starlette) -> None:
    # A reverse proxy on the same machine connects from 127.0.0.1 for everyone on the internet.
    for header in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}, {"X-Real-IP": "203.0.113.7"}):
        response = call(app, "GET", "/_mock/users", client=("127.0.0.1", 5000), headers=header)
        assert response.status_code == 401, header
        assert call(app, "GET", "/_mock/users", client=("127.0.0.1", 5000), headers={**header, **BEARER}).status_code == 200


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("192.0.2.10", False), ("10.0.0.1", False), ("::ffff:192.0.2.10", False), ("fe80::1", False), ("0.0.0.0", False),
    ("localhost", False), ("", False), (None, False),
])
def test_which_client_addresses_are_loopback(app: Starlette, address: str | None, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback
    if address:
        response = call(app, "GET", "/_mock/clock", client=(address, 5000))
        assert response.status_code == (200 if loopback else 401)


def test_an_admin_token_is_made_when_none_is_given() -> None:
    first, second = create_app(ISSUER), create_app(ISSUER)
    tokens = [first.state.guard.admin_token, second.state.guard.admin_token]
    assert tokens[0] != tokens[1] and all(len(t) >= 32 for t in tokens)
    assert call(first, "GET", "/_mock/clock", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 200
    assert call(first, "GET", "/_mock/clock", headers={"Authorization": f"Bearer {tokens[1]}"}).status_code == 401


@pytest.mark.parametrize("token", ["", "short", "x" * 15, "has space" * 3, "é" * 20, "bad\ntoken" * 3, "=" * 20])
def test_a_chosen_admin_token_must_be_long_and_header_safe(token: str) -> None:
    with pytest.raises(ValueError, match="admin token"):
        create_app(ISSUER, admin_token=token)


# -- Host (DNS rebinding)

@pytest.mark.parametrize(("issuer", "host", "allowed"), [
    ("http://classroom.example:4000", "classroom.example:4000", True),
    ("http://classroom.example:4000", "CLASSROOM.example:4000", True),
    ("http://classroom.example:4000", "classroom.example:4001", False),
    ("http://classroom.example:4000", "classroom.example", False),  # port 80
    ("http://classroom.example:4000", "localhost:4000", False),  # not a loopback issuer
    ("http://classroom.example:4000", "evil.example:4000", False),
    ("http://classroom.example:4000", "classroom.example.:4000", False),
    ("http://classroom.example:4000", "evil.example@classroom.example:4000", False),
    ("http://classroom.example:4000", "classroom.example:4000/x", False),
    ("http://classroom.example:4000", "classroom.example:04000", True),
    ("http://classroom.example:4000", "classroom.example:99999", False),
    ("https://idp.example.test", "idp.example.test", True),
    ("https://idp.example.test", "idp.example.test:443", True),
    ("https://idp.example.test", "idp.example.test:80", False),
    ("http://localhost:4000", "127.0.0.1:4000", True),
    ("http://localhost:4000", "[::1]:4000", True),
    ("http://127.0.0.1:4000", "localhost:4000", True),
    ("http://[::1]:4000", "LOCALHOST:4000", True),
    ("http://localhost:4000", "localhost:4001", False),
    ("http://localhost:4000", "127.0.0.2:4000", False),
    ("http://localhost:4000", "0.0.0.0:4000", False),
    ("http://localhost:4000", "", False),
])
def test_host_must_name_the_issuer(issuer: str, host: str, allowed: bool) -> None:
    app = create_app(issuer, admin_token=TOKEN)
    response = call(app, "GET", "/_mock/clock", client=("127.0.0.1", 5000), headers={"Host": host})
    assert response.status_code == (200 if allowed else 403), (host, response.text)
    if not allowed:
        assert response.json()["error"] == "access_denied"
        # The token does not stand in for the Host either.
        assert call(app, "GET", "/_mock/clock", headers={"Host": host, **BEARER}).status_code == 403


@pytest.mark.parametrize(("header", "parsed"), [
    ("localhost:4000", ("localhost", 4000)), ("[::1]:4000", ("::1", 4000)), ("Example.COM", ("example.com", 80)),
    ("a b:4000", None), ("x:", None), (":4000", None), ("x:0", None), ("[::1", None), (None, None),
])
def test_host_header_parsing(header: str | None, parsed: tuple[str, int] | None) -> None:
    assert host_and_port(header, "http") == parsed


def test_a_rebound_name_cannot_read_or_change_the_teaching_api_over_real_http(idp: RunningServer) -> None:
    # What the learner's browser sends after evil.example's DNS answer switched to 127.0.0.1:
    # the socket is the mock's, the Host is the attacker's.
    rebound = {"Host": f"evil.example:{idp.port}"}
    requests.post(idp.url + "/oauth2/revoke", data={"token": "x"})
    log = requests.get(idp.url + "/_mock/exchanges", headers=rebound)
    assert log.status_code == 403 and "revoke" not in log.text
    reset = requests.post(idp.url + "/_mock/reset", headers=rebound)
    assert reset.status_code == 403
    assert len(requests.get(idp.url + "/_mock/exchanges").json()["exchanges"]) == 1
    # The OAuth endpoints answer whatever the Host (a browser on another name is not a threat there).
    assert requests.get(idp.url + "/.well-known/openid-configuration", headers=rebound).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_names_are_one_over_real_http(idp: RunningServer, host: str) -> None:
    response = requests.get(idp.url + "/_mock/clock", headers={"Host": f"{host}:{idp.port}"})
    assert response.status_code == 200, response.text


def test_loopback_needs_no_token_over_real_http(idp: RunningServer) -> None:
    assert requests.get(idp.url + "/_mock/users").status_code == 200
    assert requests.post(idp.url + "/_mock/clock", json={"advance": 1}).json()["offset"] == 1
    # A wrong token from loopback is not asked for, so not checked.
    assert requests.get(idp.url + "/_mock/users", headers={"Authorization": "Bearer wrong"}).status_code == 200


def test_a_proxied_request_over_real_http_needs_the_token(idp: RunningServer) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    refused = requests.get(idp.url + "/_mock/users", headers=forwarded)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    allowed = requests.get(idp.url + "/_mock/users", headers={**forwarded, "Authorization": f"Bearer {idp.admin_token}"})
    assert allowed.status_code == 200


def test_the_login_page_shows_the_demo_passwords_only_on_the_learners_own_machine(app: Starlette) -> None:
    params = {"client_id": "mock-client", "redirect_uri": "http://localhost:3000/auth-redirect",
              "response_type": "code", "scope": "openid"}
    for client, shown in ((("127.0.0.1", 5000), True), (OTHER_MACHINE, False)):
        started = call(app, "GET", "/oauth2/authorize", client=client, params=params)
        assert started.status_code == 303
        page = call(app, "GET", started.headers["location"], client=client, cookies=dict(started.cookies))
        assert page.status_code == 200 and 'name="password"' in page.text
        assert ("alice123" in page.text) is shown, (client, shown)
