"""CORS on the mock, as Authgear answers it (mock_idp/cors.py), over real HTTP.

An `Origin` is allowed on `/oauth2/*` and `/.well-known/*` when it is the mock's own origin or
the origin of a redirect URI of any client, the clients as they are now (the teaching API changes
them). Allowed: the origin echoed, credentials, max-age 900, a preflight's method and headers
echoed. Not allowed: no CORS header (discovery and the JWKS keep their `*`). `Vary: Origin` on
every answer; every OPTIONS is a 200 with an empty body. The teaching API never allows another
origin.
"""

from __future__ import annotations

import pytest
import requests

from mock_idp import RunningServer
from mock_idp.cors import origin_of
from tests.flow import CLIENT_ID, CLIENT_SECRET, Flow

ALLOWED = ["http://localhost:3000", "http://localhost:3001"]  # the demo clients' redirect URIs
NOT_ALLOWED = [
    "http://evil.example",
    "http://localhost:3002",       # another port
    "https://localhost:3000",      # another scheme
    "http://localhost",            # no port: not the same origin as :3000
    "http://localhost:3000.evil.example",
    "null",                        # what a sandboxed iframe or a file:// page sends
]
ALLOW_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-max-age",
                 "access-control-allow-methods", "access-control-allow-headers")


def own_origin(server: RunningServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def call(idp: RunningServer, endpoint: str, origin: str | None, tokens: dict | None = None) -> requests.Response:
    """One request to an OAuth endpoint, as a page on `origin` would send it."""
    headers = {"Origin": origin} if origin else {}
    url = idp.url + endpoint
    if endpoint == "/oauth2/token":
        data = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "refresh_token": tokens["refresh_token"] if tokens else "no-such-token"}
        return requests.post(url, data=data, headers=headers, timeout=10)
    if endpoint == "/oauth2/userinfo":
        headers["Authorization"] = "Bearer " + (tokens["access_token"] if tokens else "no-such-token")
        return requests.get(url, headers=headers, timeout=10)
    if endpoint == "/oauth2/revoke":
        return requests.post(url, data={"token": tokens["refresh_token"] if tokens else "x"}, headers=headers, timeout=10)
    return requests.get(url, headers=headers, timeout=10, allow_redirects=False)


ENDPOINTS = ["/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/oauth2/end_session",
             "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/oauth2/jwks"]
STAR = {"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/oauth2/jwks"}


def assert_allowed(response: requests.Response, origin: str) -> None:
    assert response.headers.get("access-control-allow-origin") == origin, response.headers
    assert response.headers.get("access-control-allow-credentials") == "true"
    assert response.headers.get("access-control-max-age") == "900"
    assert "Origin" in vary(response)


def assert_not_allowed(response: requests.Response, endpoint: str) -> None:
    if endpoint in STAR:
        assert response.headers.get("access-control-allow-origin") == "*"
        assert "access-control-allow-credentials" not in response.headers
    else:
        assert "access-control-allow-origin" not in response.headers, response.headers
        assert "access-control-allow-credentials" not in response.headers
    assert "access-control-max-age" not in response.headers
    assert "Origin" in vary(response)


def vary(response: requests.Response) -> list[str]:
    return [v.strip() for v in response.headers.get("vary", "").split(",")]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("origin", ALLOWED)
def test_a_redirect_uri_origin_is_allowed(idp: RunningServer, flow: Flow, endpoint: str, origin: str) -> None:
    tokens = flow.tokens()
    response = call(idp, endpoint, origin, tokens)
    assert response.status_code < 500
    assert_allowed(response, origin)
    # Only what Authgear sends: no method or header list unless a preflight asked for one.
    assert "access-control-allow-methods" not in response.headers
    assert "access-control-allow-headers" not in response.headers


def test_the_answers_really_are_the_endpoints_answers(idp: RunningServer, flow: Flow) -> None:
    """CORS changes headers only: a refresh, userinfo and revocation from an allowed origin work."""
    tokens = flow.tokens()
    refreshed = call(idp, "/oauth2/token", ALLOWED[0], tokens)
    assert refreshed.status_code == 200, refreshed.text
    assert_allowed(refreshed, ALLOWED[0])
    userinfo = call(idp, "/oauth2/userinfo", ALLOWED[1], refreshed.json())
    assert userinfo.status_code == 200 and userinfo.json()["email"] == "alice@example.com"
    assert_allowed(userinfo, ALLOWED[1])
    discovery = call(idp, "/.well-known/openid-configuration", ALLOWED[0])
    assert discovery.json()["issuer"] == idp.url
    assert_allowed(discovery, ALLOWED[0])
    revoked = call(idp, "/oauth2/revoke", ALLOWED[0], tokens)
    assert revoked.status_code == 200 and revoked.content == b""
    assert_allowed(revoked, ALLOWED[0])
    assert call(idp, "/oauth2/token", None, tokens).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("origin", NOT_ALLOWED)
def test_any_other_origin_gets_no_cors_headers(idp: RunningServer, endpoint: str, origin: str) -> None:
    response = call(idp, endpoint, origin)
    assert response.status_code < 500
    assert_not_allowed(response, endpoint)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_mocks_own_origin_is_allowed(idp: RunningServer, endpoint: str) -> None:
    response = call(idp, endpoint, own_origin(idp))
    assert_allowed(response, own_origin(idp))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_without_an_origin_there_are_no_allow_headers_but_vary(idp: RunningServer, endpoint: str) -> None:
    response = call(idp, endpoint, None)
    assert_not_allowed(response, endpoint)


@pytest.mark.parametrize(("endpoint", "method", "asked"), [
    ("/oauth2/token", "POST", "content-type"),
    ("/oauth2/userinfo", "GET", "authorization"),
    ("/oauth2/userinfo", "GET", "authorization, x-custom-header"),
    ("/oauth2/revoke", "POST", "content-type, dpop"),
    ("/.well-known/openid-configuration", "GET", None),
])
def test_a_preflight_from_an_allowed_origin_echoes_method_and_headers(idp: RunningServer, endpoint: str, method: str,
                                                                      asked: str | None) -> None:
    headers = {"Origin": ALLOWED[0], "Access-Control-Request-Method": method}
    if asked:
        headers["Access-Control-Request-Headers"] = asked
    response = requests.options(idp.url + endpoint, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert_allowed(response, ALLOWED[0])
    assert response.headers["access-control-allow-methods"] == method
    if asked:
        assert response.headers["access-control-allow-headers"] == asked
    else:
        assert "access-control-allow-headers" not in response.headers


@pytest.mark.parametrize("origin", NOT_ALLOWED)
def test_a_preflight_from_another_origin_is_200_without_allow_headers(idp: RunningServer, origin: str) -> None:
    response = requests.options(idp.url + "/oauth2/token", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 200 and response.content == b""
    for name in ALLOW_HEADERS:
        assert name not in response.headers
    assert "Origin" in vary(response)


ALL_KINDS_OF_PATHS = ["/oauth2/token", "/oauth2/authorize", "/oauth2/userinfo", "/oauth2/end_session", "/oauth2/revoke",
                      "/oauth2/jwks", "/oauth2/nothing-here", "/.well-known/openid-configuration", "/login", "/settings",
                      "/_mock/", "/_mock/clients", "/_mock/clock", "/", "/no/such/path"]


@pytest.mark.parametrize("path", ALL_KINDS_OF_PATHS)
@pytest.mark.parametrize("origin", [None, ALLOWED[0], "http://evil.example"])
def test_every_options_request_is_200_with_an_empty_body(idp: RunningServer, path: str, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    response = requests.options(idp.url + path, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert "Origin" in vary(response)
    allowed = origin == ALLOWED[0] and path.startswith(("/oauth2/", "/.well-known/"))
    assert ("access-control-allow-origin" in response.headers) == allowed


@pytest.mark.parametrize("path", ALL_KINDS_OF_PATHS)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_vary_origin_is_on_every_answer(idp: RunningServer, path: str, method: str) -> None:
    response = requests.request(method, idp.url + path, headers={"Origin": ALLOWED[0]}, timeout=10,
                                allow_redirects=False)
    assert response.status_code < 500
    assert vary(response).count("Origin") == 1, response.headers


def test_a_client_added_at_runtime_makes_its_origin_allowed(idp: RunningServer) -> None:
    origin = "http://127.0.0.1:45678"
    assert_not_allowed(call(idp, "/oauth2/token", origin), "/oauth2/token")
    client = {"client_id": "runtime-spa", "redirect_uris": [origin + "/callback"],
              "post_logout_redirect_uris": ["http://127.0.0.1:45680/bye"]}
    added = requests.post(idp.url + "/_mock/clients", json=client, timeout=10)
    assert added.status_code == 201, added.text
    for endpoint in ENDPOINTS:
        assert_allowed(call(idp, endpoint, origin), origin)
    # A post-logout redirect URI alone allows nothing: Authgear looks at redirect URIs.
    assert_not_allowed(call(idp, "/oauth2/token", "http://127.0.0.1:45680"), "/oauth2/token")
    removed = requests.delete(idp.url + "/_mock/clients/runtime-spa", timeout=10)
    assert removed.status_code == 200
    assert_not_allowed(call(idp, "/oauth2/token", origin), "/oauth2/token")


def test_replacing_a_client_replaces_its_origins(idp: RunningServer) -> None:
    """Re-registering mock-spa with other redirect URIs: the old origins of mock-spa are gone
    unless another client still has them (mock-client keeps localhost:3000 and :3001)."""
    spa = {"client_id": "mock-spa", "redirect_uris": ["http://127.0.0.1:45679/cb"],
           "post_logout_redirect_uris": ["http://127.0.0.1:45679/"]}
    assert requests.post(idp.url + "/_mock/clients", json=spa, timeout=10).status_code == 201
    assert_allowed(call(idp, "/oauth2/userinfo", "http://127.0.0.1:45679"), "http://127.0.0.1:45679")
    assert_allowed(call(idp, "/oauth2/userinfo", ALLOWED[0]), ALLOWED[0])
    assert requests.delete(idp.url + "/_mock/clients/mock-client", timeout=10).status_code == 200
    assert requests.delete(idp.url + "/_mock/clients/mock-spa", timeout=10).status_code == 200
    assert_not_allowed(call(idp, "/oauth2/userinfo", ALLOWED[0]), "/oauth2/userinfo")
    assert_not_allowed(call(idp, "/oauth2/userinfo", "http://127.0.0.1:45679"), "/oauth2/userinfo")
    # The mock's own origin needs no client.
    assert_allowed(call(idp, "/oauth2/userinfo", own_origin(idp)), own_origin(idp))


@pytest.mark.parametrize("path", ["/_mock/", "/_mock/clients", "/_mock/users", "/_mock/clock", "/_mock/exchanges"])
@pytest.mark.parametrize("origin", [ALLOWED[0], "own"])
def test_the_teaching_api_never_allows_another_origin(idp: RunningServer, path: str, origin: str) -> None:
    origin = own_origin(idp) if origin == "own" else origin
    answer = requests.get(idp.url + path, headers={"Origin": origin}, timeout=10)
    assert answer.status_code == 200
    preflight = requests.options(idp.url + path, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200 and preflight.content == b""
    for response in (answer, preflight):
        for name in ALLOW_HEADERS:
            assert name not in response.headers, (path, name)
        assert "Origin" in vary(response)


def test_the_login_page_gets_no_allow_headers(idp: RunningServer, flow: Flow) -> None:
    started = flow.authorize()
    login = requests.get(started.headers["location"], headers={"Origin": ALLOWED[0]}, timeout=10)
    assert login.status_code in (200, 400)
    assert "access-control-allow-origin" not in login.headers
    assert "Origin" in vary(login)


@pytest.mark.parametrize(("uri", "origin"), [
    ("http://localhost:3000/auth-redirect", "http://localhost:3000"),
    ("HTTP://LocalHost:3000/x?y=1#z", "http://localhost:3000"),
    ("https://app.example/callback", "https://app.example"),
    ("https://app.example:443/callback", "https://app.example"),      # a browser leaves the default port out
    ("http://app.example:80/callback", "http://app.example"),
    ("https://app.example:8443/callback", "https://app.example:8443"),
    ("http://[::1]:3000/cb", "http://[::1]:3000"),
    ("com.example.app://host/cb", "com.example.app://host"),
    ("com.example.app:/oauth2redirect", None),                          # no host: no origin a browser sends
    ("not a url", None),
    ("http://localhost:99999/cb", None),                                # a port out of range
])
def test_origin_of_a_redirect_uri(uri: str, origin: str | None) -> None:
    assert origin_of(uri) == origin
