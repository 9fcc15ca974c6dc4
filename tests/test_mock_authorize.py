"""The authorization endpoint and the login page, over real HTTP.

The checks run in Authgear's order;
an unknown client or an unregistered redirect_uri gets an error page (never a redirect),
everything after that a 303 back to the client with `error`, `error_description`, `state`.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
import requests

from mock_idp import RunningServer
from tests.flow import CLIENT_ID, REDIRECT_URI, Flow, add_client, advance_clock, callback, pkce_pair

STATE = "xyz-state-123"


def authorize(issuer: str, **overrides: str | None) -> requests.Response:
    _, challenge = pkce_pair()
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
        "state": STATE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return requests.get(
        issuer + "/oauth2/authorize", params={k: v for k, v in params.items() if v is not None}, allow_redirects=False
    )


def assert_error_page(response: requests.Response, error: str, description: str) -> None:
    assert response.status_code == 400, (response.status_code, response.headers)
    assert "location" not in response.headers  # never a redirect
    assert response.headers["content-type"].startswith("text/plain")
    assert error in response.text
    assert description in response.text


def assert_error_redirect(response: requests.Response, error: str, description: str | None = None,
                          state: str | None = STATE, to: str = REDIRECT_URI) -> dict[str, str]:
    assert response.status_code == 303, (response.status_code, response.text)
    location = response.headers["location"]
    assert location.split("?")[0] == to
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert answer["error"] == error, answer
    assert answer["error_description"]
    if description is not None:
        assert description in answer["error_description"], answer
    if state is None:
        assert "state" not in answer
    else:
        assert answer["state"] == state
    assert "code" not in answer
    return answer


def assert_to_login(issuer: str, response: requests.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text)
    location = response.headers["location"]
    assert location.startswith(issuer + "/login?login_request="), location
    return location


# -- 1. the client

@pytest.mark.parametrize("client_id", ["unknown-client", "", None, "MOCK-CLIENT", "mock-client "])
def test_unknown_client_gets_an_error_page_never_a_redirect(server: RunningServer, client_id: str | None) -> None:
    response = authorize(server.url, client_id=client_id)
    assert_error_page(response, "unauthorized_client", "invalid client ID")


def test_unknown_client_wins_over_every_other_error(server: RunningServer) -> None:
    response = authorize(server.url, client_id="nope", redirect_uri="https://evil.example/cb",
                         response_type="token", scope="")
    assert_error_page(response, "unauthorized_client", "invalid client ID")


# -- 2. redirect_uri: exact string match, an error page on mismatch

@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT_URI + "/",                                   # trailing slash matters
        "http://localhost:3000/auth-redirect/x",
        "http://localhost:3000/Auth-Redirect",
        "http://LOCALHOST:3000/auth-redirect",
        "http://127.0.0.1:3000/auth-redirect",
        "http://localhost:3002/auth-redirect",
        "https://localhost:3000/auth-redirect",
        REDIRECT_URI + "?next=/admin",
        REDIRECT_URI + "#frag",
        "https://evil.example/auth-redirect",
        "not a url",
    ],
)
def test_unregistered_redirect_uri_gets_an_error_page(server: RunningServer, redirect_uri: str) -> None:
    response = authorize(server.url, redirect_uri=redirect_uri)
    assert_error_page(response, "invalid_request", "redirect URI is not allowed")


def test_trailing_slash_works_only_when_registered_with_it(idp: RunningServer) -> None:
    add_client(idp.url, client_id="slashy", client_secret="s3cret", redirect_uris=["http://localhost:3000/cb/"])
    assert_to_login(idp.url, authorize(idp.url, client_id="slashy", redirect_uri="http://localhost:3000/cb/"))
    assert_error_page(authorize(idp.url, client_id="slashy", redirect_uri="http://localhost:3000/cb"),
                      "invalid_request", "redirect URI is not allowed")


@pytest.mark.parametrize("redirect_uri", [None, ""])
def test_missing_redirect_uri_is_refused_when_several_are_registered(server: RunningServer,
                                                                     redirect_uri: str | None) -> None:
    # mock-client registers two redirect URIs.
    response = authorize(server.url, redirect_uri=redirect_uri)
    assert_error_page(response, "invalid_request", "redirect URI is not allowed")


def test_missing_redirect_uri_resolves_to_the_one_registered_which_the_token_request_must_send(
        idp: RunningServer) -> None:
    add_client(idp.url, client_id="one-uri", client_secret="s3cret", redirect_uris=["http://localhost:3000/only"])
    # Errors after the redirect_uri check go to the one registered URI...
    assert_error_redirect(authorize(idp.url, client_id="one-uri", redirect_uri=None, scope="email"),
                          "invalid_scope", to="http://localhost:3000/only")
    # ...and so does the code, after the login.
    with requests.Session() as browser:
        flow = Flow(idp.url, browser)
        answer = flow.submit_login(flow.authorize(client_id="one-uri", redirect_uri=None))
        assert answer.headers["location"].startswith("http://localhost:3000/only?code=")
        code = callback(answer)["code"]
        # RFC 6749 §4.1.3 would let the token request leave it out too; Authgear compares it
        # with the URI the code was issued for all the same, so it must be sent.
        for left_out in (None, ""):
            refused = flow.exchange(code, client_id="one-uri", client_secret="s3cret", redirect_uri=left_out)
            assert refused.status_code == 400, refused.text
            assert refused.json() == {"error": "invalid_request", "error_description": "invalid redirect URI"}
        tokens = flow.exchange(code, client_id="one-uri", client_secret="s3cret",
                               redirect_uri="http://localhost:3000/only")
        assert tokens.status_code == 200, tokens.text  # the refusals did not consume the code


def test_redirect_uri_error_wins_over_later_errors(server: RunningServer) -> None:
    response = authorize(server.url, redirect_uri="https://evil.example/cb", response_type="token", scope="nope")
    assert_error_page(response, "invalid_request", "redirect URI is not allowed")


# -- 3. from here on: a 303 back to the client, with state

@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"response_type": None}, "unauthorized_client", None),
        ({"response_type": ""}, "unauthorized_client", None),
        ({"response_type": "id_token"}, "unauthorized_client", None),
        ({"response_type": "code id_token"}, "unauthorized_client", None),
        ({"response_type": "CODE"}, "unauthorized_client", None),
        ({"response_type": "token"}, "unsupported_response_type", None),
        ({"prompt": "none login"}, "invalid_request", None),
        ({"prompt": "login none"}, "invalid_request", None),
        ({"prompt": "none consent"}, "invalid_request", None),
        ({"prompt": "none", "max_age": "60"}, "invalid_request", None),
        ({"prompt": "none", "max_age": "0"}, "invalid_request", None),
        ({"scope": ""}, "invalid_request", "scope is required"),
        ({"scope": None}, "invalid_request", "scope is required"),
        ({"scope": "   "}, "invalid_request", "scope is required"),
        ({"scope": "openid unknown_scope"}, "invalid_scope", None),
        ({"scope": "openid OPENID"}, "invalid_scope", None),
        ({"scope": "email profile"}, "invalid_scope", "must request 'openid' scope"),
        ({"scope": "offline_access"}, "invalid_scope", "must request 'openid' scope"),
        ({"code_challenge_method": "plain"}, "invalid_request", "only 'S256' PKCE transform is supported"),
        ({"code_challenge_method": "s256"}, "invalid_request", "only 'S256' PKCE transform is supported"),
        ({"code_challenge_method": None}, "invalid_request", "only 'S256' PKCE transform is supported"),
    ],
)
def test_error_redirects_carry_error_and_state(server: RunningServer, overrides: dict, error: str,
                                               description: str | None) -> None:
    response = authorize(server.url, **overrides)
    assert_error_redirect(response, error, description)


def test_error_redirect_without_state_has_no_state(server: RunningServer) -> None:
    assert_error_redirect(authorize(server.url, state=None, scope="email"), "invalid_scope", state=None)


def test_error_redirect_keeps_a_state_with_special_characters(server: RunningServer) -> None:
    state = "a b&c=d/é?#"
    assert_error_redirect(authorize(server.url, state=state, response_type="token"),
                          "unsupported_response_type", state=state)


def test_error_redirect_goes_to_the_redirect_uri_that_was_sent(server: RunningServer) -> None:
    other = "http://localhost:3001/auth-redirect"
    assert_error_redirect(authorize(server.url, redirect_uri=other, scope="email"), "invalid_scope", to=other)


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        # response_type comes first...
        ({"response_type": "id_token", "scope": "nope"}, "unauthorized_client", None),
        ({"response_type": "token", "scope": "", "code_challenge_method": "plain"}, "unsupported_response_type", None),
        ({"response_type": None, "prompt": "none login"}, "unauthorized_client", None),
        # ...then prompt...
        ({"prompt": "none login", "scope": "nope"}, "invalid_request", "prompt"),
        ({"prompt": "none", "max_age": "5", "scope": ""}, "invalid_request", "prompt"),
        # ...then scope: empty, unknown, no openid...
        ({"scope": "", "code_challenge_method": "plain"}, "invalid_request", "scope is required"),
        ({"scope": "email nope"}, "invalid_scope", "nope"),
        ({"scope": "openid nope", "code_challenge_method": "plain"}, "invalid_scope", None),
        ({"scope": "email", "code_challenge_method": "plain"}, "invalid_scope", "must request 'openid' scope"),
        # ...then PKCE.
        ({"scope": "openid email", "code_challenge_method": "plain"}, "invalid_request", "S256"),
    ],
)
def test_checks_run_in_the_reference_order(server: RunningServer, overrides: dict, error: str,
                                           description: str | None) -> None:
    assert_error_redirect(authorize(server.url, **overrides), error, description)


def test_pkce_is_optional_for_the_confidential_client(idp: RunningServer) -> None:
    assert_to_login(idp.url, authorize(idp.url, code_challenge=None, code_challenge_method=None))


def test_public_client_without_pkce_gets_invalid_request(server: RunningServer) -> None:
    response = authorize(server.url, client_id="mock-spa", code_challenge=None, code_challenge_method=None)
    assert_error_redirect(response, "invalid_request")


def test_public_client_with_pkce_goes_to_the_login_page(idp: RunningServer) -> None:
    assert_to_login(idp.url, authorize(idp.url, client_id="mock-spa"))


def test_valid_request_goes_to_the_login_page(idp: RunningServer) -> None:
    assert_to_login(idp.url, authorize(idp.url, scope="openid offline_access profile email phone address"))


def test_authorize_by_post_form_works(idp: RunningServer) -> None:
    _, challenge = pkce_pair()
    form = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid",
            "state": STATE, "code_challenge": challenge, "code_challenge_method": "S256"}
    assert_to_login(idp.url, requests.post(idp.url + "/oauth2/authorize", data=form, allow_redirects=False))
    errored = requests.post(idp.url + "/oauth2/authorize", data={**form, "scope": "email"}, allow_redirects=False)
    assert_error_redirect(errored, "invalid_scope")
    unknown = requests.post(idp.url + "/oauth2/authorize", data={**form, "client_id": "nope"}, allow_redirects=False)
    assert_error_page(unknown, "unauthorized_client", "invalid client ID")


def test_authorize_by_post_body_parameters_come_before_the_query(server: RunningServer) -> None:
    # As Go's r.Form (Authgear): body values are placed before the query's.
    form = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "email",
            "state": STATE}
    response = requests.post(server.url + "/oauth2/authorize?scope=openid&client_id=nope", data=form,
                             allow_redirects=False)
    assert_error_redirect(response, "invalid_scope", "must request 'openid' scope")


def test_authorize_by_post_with_a_json_body_reads_no_parameters(server: RunningServer) -> None:
    response = requests.post(server.url + "/oauth2/authorize", json={"client_id": CLIENT_ID}, allow_redirects=False)
    assert_error_page(response, "unauthorized_client", "invalid client ID")


def test_repeated_parameters_first_value_wins(server: RunningServer) -> None:
    base = f"{server.url}/oauth2/authorize?redirect_uri={urllib.parse.quote(REDIRECT_URI)}&state={STATE}"
    # scope=email first: no openid, even though a second scope has it.
    response = requests.get(base + "&client_id=mock-client&response_type=code&scope=email&scope=openid",
                            allow_redirects=False)
    assert_error_redirect(response, "invalid_scope", "must request 'openid' scope")
    # the first client_id is the known one
    response = requests.get(base + "&client_id=mock-client&client_id=nope&response_type=token&scope=openid",
                            allow_redirects=False)
    assert_error_redirect(response, "unsupported_response_type")
    # the first client_id is an unknown one
    response = requests.get(base + "&client_id=nope&client_id=mock-client&response_type=code&scope=openid",
                            allow_redirects=False)
    assert_error_page(response, "unauthorized_client", "invalid client ID")


@pytest.mark.parametrize(
    "query",
    [
        "client_id=%FF%FE",                  # not UTF-8
        "client_id=mock-client&scope=%00",   # NUL
        "client_id=" + "a" * 5000,           # long
        "&".join(f"p{i}=1" for i in range(500)),  # too many fields
        "client_id=mock-client&redirect_uri=%ZZ",
    ],
)
def test_malformed_query_is_an_error_page_not_a_500(server: RunningServer, query: str) -> None:
    response = requests.get(server.url + "/oauth2/authorize?" + query, allow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Traceback" not in response.text


def test_oversized_post_body_is_an_error_page_not_a_500(server: RunningServer) -> None:
    response = requests.post(server.url + "/oauth2/authorize", data={"client_id": "x" * 100_000},
                             allow_redirects=False)
    assert response.status_code == 400
    assert "Traceback" not in response.text


# -- the login page

def login_page(flow: Flow, **overrides: str | None) -> requests.Response:
    started = flow.authorize(**overrides)
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith(flow.issuer + "/login?")  # never the client's port
    return flow.browser.get(started.headers["location"], allow_redirects=False)


def login_request_of(page: requests.Response) -> str:
    found = re.search(r'name="login_request" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_login_page_is_a_post_form_with_email_and_password(flow: Flow) -> None:
    page = login_page(flow)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    forms = re.findall(r"<form\b[^>]*>", html)
    assert forms and all('method="post"' in form for form in forms)
    inputs = re.findall(r"<input\b[^>]*>", html)
    names = {re.search(r'name="([^"]+)"', tag).group(1): tag for tag in inputs}  # type: ignore[union-attr]
    assert 'type="email"' in names["email"]
    assert 'type="password"' in names["password"]
    # Everything else the form carries is hidden.
    for name, tag in names.items():
        if name not in ("email", "password"):
            assert 'type="hidden"' in tag, tag
    assert "<title>" in html and "Log in" in html
    # It is a page of its own: no framing, no sniffing, not cached.
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_login_with_the_right_password_redirects_with_code_state_and_cookie(flow: Flow) -> None:
    answer = flow.submit_login(flow.authorize())
    params = callback(answer)
    assert answer.headers["location"].startswith(REDIRECT_URI + "?")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", params["code"])
    assert params["state"] == flow.last["state"]
    assert "mock_idp_session=" in answer.headers["set-cookie"]


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong"), ("alice@example.com", ""), ("nobody@example.com", "alice123"),
     ("", ""), ("alice@example.com", "bob123")],
)
def test_wrong_password_shows_the_form_again_and_issues_nothing(flow: Flow, email: str, password: str) -> None:
    page = login_page(flow)
    login_request = login_request_of(page)
    action = flow.issuer + "/login"
    answer = flow.browser.post(action, data={"login_request": login_request, "email": email,
                                             "password": password, "action": "login"}, allow_redirects=False)
    assert answer.status_code in (200, 400, 401)
    assert "location" not in answer.headers
    assert "set-cookie" not in answer.headers
    assert "code=" not in answer.text
    assert "Incorrect email or password" in answer.text
    assert 'name="password"' in answer.text
    assert "mock_idp_session" not in flow.browser.cookies
    # The form stays usable: the right password now gets the code.
    ok = flow.browser.post(action, data={"login_request": login_request, "email": "alice@example.com",
                                         "password": "alice123", "action": "login"}, allow_redirects=False)
    assert "code" in callback(ok)


def test_wrong_password_keeps_the_email_typed(flow: Flow) -> None:
    page = login_page(flow)
    answer = flow.browser.post(flow.issuer + "/login", data={"login_request": login_request_of(page),
                                                             "email": "bob@example.com", "password": "x"})
    assert 'value="bob@example.com"' in answer.text


def test_login_hint_is_escaped(flow: Flow) -> None:
    hint = '"><script>alert(1)</script>'
    page = login_page(flow, login_hint=hint)
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert 'value="&#34;&gt;&lt;script&gt;' in page.text or 'value="&quot;&gt;&lt;script&gt;' in page.text


def test_typed_email_is_escaped_when_the_form_comes_back(flow: Flow) -> None:
    page = login_page(flow)
    answer = flow.browser.post(flow.issuer + "/login", data={
        "login_request": login_request_of(page), "email": '"><img src=x onerror=alert(1)>', "password": "x"})
    assert "<img" not in answer.text
    assert "&lt;img" in answer.text


def test_client_name_is_escaped(idp: RunningServer) -> None:
    add_client(idp.url, client_id="xss", client_secret="s", name="<b>bold</b>",
               redirect_uris=["http://localhost:3000/cb"])
    with requests.Session() as browser:
        page = login_page(Flow(idp.url, browser), client_id="xss", redirect_uri="http://localhost:3000/cb")
    assert "<b>bold</b>" not in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text


def test_cancel_redirects_with_access_denied_and_state(flow: Flow) -> None:
    page = login_page(flow)
    login_request = login_request_of(page)
    answer = flow.browser.post(flow.issuer + "/login", data={"login_request": login_request, "action": "cancel"},
                               allow_redirects=False)
    assert_error_redirect(answer, "access_denied", state=flow.last["state"])
    assert "set-cookie" not in answer.headers
    # The login request is over.
    again = flow.browser.get(flow.issuer + "/login", params={"login_request": login_request}, allow_redirects=False)
    assert again.status_code == 400


@pytest.mark.parametrize("login_request", [None, "", "unknown", "<script>"])
def test_unknown_login_request_is_400(idp: RunningServer, login_request: str | None) -> None:
    params = {} if login_request is None else {"login_request": login_request}
    got = requests.get(idp.url + "/login", params=params, allow_redirects=False)
    assert got.status_code == 400
    assert "<script>" not in got.text
    posted = requests.post(idp.url + "/login", data={**params, "email": "alice@example.com", "password": "alice123"},
                           allow_redirects=False)
    assert posted.status_code == 400
    assert "location" not in posted.headers and "set-cookie" not in posted.headers


def test_expired_login_request_is_400(idp: RunningServer, flow: Flow) -> None:
    page = login_page(flow)
    login_request = login_request_of(page)
    advance_clock(idp.url, 20 * 60 + 1)
    answer = flow.browser.post(idp.url + "/login", data={"login_request": login_request, "email": "alice@example.com",
                                                         "password": "alice123"}, allow_redirects=False)
    assert answer.status_code == 400
    assert "location" not in answer.headers and "set-cookie" not in answer.headers


def test_a_login_request_is_used_once(flow: Flow) -> None:
    page = login_page(flow)
    login_request = login_request_of(page)
    data = {"login_request": login_request, "email": "alice@example.com", "password": "alice123"}
    first = flow.browser.post(flow.issuer + "/login", data=data, allow_redirects=False)
    assert "code" in callback(first)
    second = flow.browser.post(flow.issuer + "/login", data=data, allow_redirects=False)
    assert second.status_code == 400
    assert "location" not in second.headers


def test_response_type_none_answers_state_only(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()  # logged in: the browser has an IdP session
    answer = flow.select_account(flow.authorize(response_type="none"))
    params = callback(answer)
    assert params == {"state": flow.last["state"]}


# -- login CSRF: a login request belongs to the browser that started it

BROWSER_COOKIE = "mock_idp_browser"
EVIL = "https://evil.example"


def login_request_in(issuer: str, response: requests.Response) -> str:
    """The login_request of authorize's redirect to the login page."""
    location = assert_to_login(issuer, response)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["login_request"]


def cookie_attributes(set_cookie: str) -> list[str]:
    return [a.strip().lower() for a in set_cookie.split(";")[1:]]


def test_authorize_ties_the_login_to_a_browser_cookie(idp: RunningServer, flow: Flow) -> None:
    started = flow.authorize()
    set_cookie = started.headers["set-cookie"]
    assert set_cookie.startswith(BROWSER_COOKIE + "=")
    attributes = cookie_attributes(set_cookie)
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "secure" not in attributes  # plain-http localhost would drop it
    value = flow.browser.cookies[BROWSER_COOKIE]
    assert len(value) >= 24
    # The same browser keeps its cookie: a second authorize sets none, and both logins work.
    again = flow.authorize()
    assert "set-cookie" not in again.headers
    assert flow.browser.cookies[BROWSER_COOKIE] == value
    assert "code" in callback(flow.submit_login(again))
    assert "code" in callback(flow.submit_login(started))


def test_login_csrf_an_attackers_login_request_cannot_be_finished_in_another_browser(idp: RunningServer) -> None:
    # The attacker starts a login at the mock with their own browser...
    with requests.Session() as attacker:
        started = Flow(idp.url, attacker).authorize()
        login_request = login_request_in(idp.url, started)
        # ...and has the victim's browser (no cookie of the mock) open or post that login request.
        with requests.Session() as victim:
            page = victim.get(idp.url + "/login", params={"login_request": login_request}, allow_redirects=False)
            assert page.status_code == 400
            assert page.headers["content-type"].startswith("text/plain")
            assert "another browser" in page.text
            posted = victim.post(idp.url + "/login", allow_redirects=False, data={
                "login_request": login_request, "email": "bob@example.com", "password": "bob123", "action": "login"})
            assert posted.status_code == 400
            assert posted.headers["content-type"].startswith("text/plain")
            assert "location" not in posted.headers
            assert "mock_idp_session" not in posted.headers.get("set-cookie", "")
            assert "mock_idp_session" not in victim.cookies
            # A victim whose browser has a cookie of its own (from a login it started) fares no better.
            assert_to_login(idp.url, Flow(idp.url, victim).authorize())
            assert BROWSER_COOKIE in victim.cookies
            posted = victim.post(idp.url + "/login", allow_redirects=False, data={
                "login_request": login_request, "email": "bob@example.com", "password": "bob123"})
            assert posted.status_code == 400 and "set-cookie" not in posted.headers
            cancelled = victim.post(idp.url + "/login", allow_redirects=False,
                                    data={"login_request": login_request, "action": "cancel"})
            assert cancelled.status_code == 400 and "location" not in cancelled.headers
        # The refusals did not use the login request up: its own browser still finishes it.
        answer = attacker.post(idp.url + "/login", allow_redirects=False, data={
            "login_request": login_request, "email": "bob@example.com", "password": "bob123"})
        assert "code" in callback(answer)


@pytest.mark.parametrize("headers", [{"Origin": EVIL}, {"Origin": "null"}, {"Origin": "http://localhost:3000"},
                                     {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": EVIL, "Sec-Fetch-Site": "same-origin"}])
@pytest.mark.parametrize("action", ["login", "cancel"])
def test_login_form_posted_from_another_site_is_403(idp: RunningServer, flow: Flow, headers: dict[str, str],
                                                    action: str) -> None:
    page = login_page(flow)
    login_request = login_request_of(page)
    data = {"login_request": login_request, "email": "alice@example.com", "password": "alice123", "action": action}
    refused = flow.browser.post(idp.url + "/login", data=data, headers=headers, allow_redirects=False)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/plain")
    assert "location" not in refused.headers and "set-cookie" not in refused.headers
    assert "mock_idp_session" not in flow.browser.cookies
    # From the mock's own page (what a browser sends when the form is submitted) it works.
    same_site = {"Origin": idp.url, "Sec-Fetch-Site": "same-origin"}
    answer = flow.browser.post(idp.url + "/login", data=data, headers=same_site, allow_redirects=False)
    assert answer.status_code == 303
    assert ("code" if action == "login" else "error") in callback(answer)


def test_head_on_the_login_page_never_logs_in(idp: RunningServer, flow: Flow) -> None:
    # HEAD is routed with GET: it may show the form, never check a password sent in the query.
    started = flow.authorize()
    login_request = login_request_in(idp.url, started)
    head = flow.browser.head(idp.url + "/login", allow_redirects=False, params={
        "login_request": login_request, "email": "alice@example.com", "password": "alice123", "action": "login"})
    assert head.status_code == 200
    assert "location" not in head.headers and "set-cookie" not in head.headers
    assert "mock_idp_session" not in flow.browser.cookies
    assert "code" in callback(flow.submit_login(started))  # the login request is still open


# -- reflected text: error_description keeps to RFC 6749 §4.1.2.1's characters

DESCRIPTION_CHARACTERS = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]*')


@pytest.mark.parametrize("scope", ['openid "><script>alert(1)</script>', "openid a\\b", "openid é\u2028x",
                                   "openid " + "x" * 500, 'openid profile"'])
def test_error_description_never_echoes_attacker_text_raw(flow: Flow, scope: str) -> None:
    answer = callback(flow.authorize(scope=scope))
    assert answer["error"] == "invalid_scope"
    description = answer["error_description"]
    assert DESCRIPTION_CHARACTERS.fullmatch(description), description
    assert '"' not in description and "\\" not in description and "<script>" not in description.replace("?", "")
    assert len(description) <= 100


def test_error_descriptions_of_every_json_error_keep_to_the_characters(idp: RunningServer, flow: Flow) -> None:
    # The token endpoint never echoes what it was sent either.
    response = requests.post(idp.url + "/oauth2/token", data={"grant_type": 'x"\\é', "client_id": "mock-client"})
    assert response.status_code == 400
    assert DESCRIPTION_CHARACTERS.fullmatch(response.json()["error_description"])


def test_a_pending_login_keeps_only_the_parameters_the_mock_reads(idp: RunningServer, flow: Flow) -> None:
    # Many small extra fields are not stored: they cannot fill the mock's memory.
    extra = {f"x{i}": "v" * 150 for i in range(90)}
    started = flow.authorize(**extra)
    assert started.status_code == 303 and "/login?" in started.headers["location"]
    login_request = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.headers["location"]).query))["login_request"]
    kept = idp.ctx.store.login_request(login_request).params
    assert set(kept) == {"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
                         "code_challenge_method"}
    assert "code" in callback(flow.submit_login(started))  # and the login still completes
