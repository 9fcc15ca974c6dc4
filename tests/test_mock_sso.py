"""The IdP session: Authgear's select-account page, prompt=none/login, max_age, the
cookies (a secret that is not the `sid`), x_suppress_idp_session_cookie, and the response
modes (query, fragment, form_post).
"""

from __future__ import annotations

import html
import re
import urllib.parse

import jwt
import pytest
import requests

from mock_idp import RunningServer, serve
from tests.flow import CLIENT_ID, REDIRECT_URI, Flow, advance_clock, callback, verify_jwt

COOKIE = "mock_idp_session"


def goes_to_login(idp: RunningServer, response: requests.Response) -> bool:
    assert response.status_code == 303, response.text
    return response.headers["location"].startswith(idp.url + "/login?login_request=")


def goes_to_select_account(idp: RunningServer, response: requests.Response) -> bool:
    assert response.status_code == 303, response.text
    return response.headers["location"].startswith(idp.url + "/select_account?login_request=")


# -- single sign-on: Authgear's select-account page

def test_second_authorize_with_the_cookie_asks_continue_as_and_continue_gives_a_code(
        idp: RunningServer, flow: Flow) -> None:
    first = flow.tokens()
    started = flow.authorize()
    assert goes_to_select_account(idp, started)  # not straight back with a code, as Authgear
    page = flow.browser.get(started.headers["location"])
    assert page.status_code == 200
    assert "Continue as alice@example.com" in page.text and "Use another account" in page.text
    assert "password" not in page.text.split("<form", 1)[1].split("</form>")[0]  # no password asked
    second = flow.select_account(started)
    params = callback(second)
    assert second.headers["location"].startswith(REDIRECT_URI + "?")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", params["code"])
    assert params["state"] == flow.last["state"]
    tokens = flow.exchange(params["code"]).json()
    a = verify_jwt(idp.url, first["id_token"], CLIENT_ID, "JWT")
    b = verify_jwt(idp.url, tokens["id_token"], CLIENT_ID, "JWT")
    assert a["sid"] == b["sid"]
    assert a["auth_time"] == b["auth_time"]
    assert b["nonce"] == flow.last["nonce"]


def test_use_another_account_goes_to_the_login_form(idp: RunningServer, flow: Flow) -> None:
    first = flow.tokens()
    to_form = flow.select_account(flow.authorize(), action="login")
    assert goes_to_login(idp, to_form)
    tokens = flow.exchange(callback(flow.submit_login(to_form, "bob@example.com", "bob123"))["code"]).json()
    a = verify_jwt(idp.url, first["id_token"], CLIENT_ID, "JWT")
    b = verify_jwt(idp.url, tokens["id_token"], CLIENT_ID, "JWT")
    assert (a["email"], b["email"]) == ("alice@example.com", "bob@example.com")
    assert a["sid"] != b["sid"]


def test_select_account_is_bound_to_the_browser_and_refuses_other_sites(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    started = flow.authorize()
    action, login_request, account = flow.select_account_form(started)
    assert account == "alice@example.com"
    with requests.Session() as other:  # another browser, even with alice's cookie copied, has no binding
        other.cookies.set(COOKIE, flow.browser.cookies[COOKIE])
        stolen = other.post(action, data={"login_request": login_request, "action": "continue"}, allow_redirects=False)
    assert stolen.status_code == 400 and "another browser" in stolen.text
    cross_site = flow.browser.post(action, data={"login_request": login_request, "action": "continue"},
                                   headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert cross_site.status_code == 403
    odd = flow.browser.post(action, data={"login_request": login_request, "action": "steal"}, allow_redirects=False)
    assert odd.status_code == 400
    assert "code" in callback(flow.select_account(started))  # still usable by its own browser


def test_continue_after_logging_out_elsewhere_goes_to_the_form(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    started = flow.authorize()
    assert goes_to_select_account(idp, started)
    flow.browser.get(idp.url + "/oauth2/end_session", allow_redirects=False)  # same-site: logged out at once
    page = flow.browser.get(started.headers["location"], allow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith(idp.url + "/login?")


def test_x_suppress_idp_session_cookie_neither_uses_nor_sets_the_session(idp: RunningServer, flow: Flow) -> None:
    # Authgear's web SDK sends it: the login shows the form even with a session, and sets no cookie.
    flow.tokens()
    suppressed = flow.authorize(x_suppress_idp_session_cookie="true")
    assert goes_to_login(idp, suppressed)
    with requests.Session() as fresh:
        other = Flow(idp.url, fresh)
        started = other.authorize(x_suppress_idp_session_cookie="true")
        answer = other.submit_login(started)
        assert "code" in callback(answer)
        assert COOKIE not in answer.headers.get("set-cookie", "")
        assert COOKIE not in fresh.cookies
        assert goes_to_login(idp, other.authorize())  # no session was left behind


def test_another_browser_has_no_session(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    with requests.Session() as other:
        assert goes_to_login(idp, Flow(idp.url, other).authorize())


def test_a_made_up_cookie_is_no_session(idp: RunningServer, flow: Flow) -> None:
    flow.browser.cookies.set(COOKIE, "00000000-0000-0000-0000-000000000000")
    assert goes_to_login(idp, flow.authorize())
    assert callback(flow.authorize(prompt="none"))["error"] == "login_required"


def test_prompt_login_forces_the_form_and_starts_a_new_session(idp: RunningServer, flow: Flow) -> None:
    first = flow.tokens()
    started = flow.authorize(prompt="login")
    assert goes_to_login(idp, started)
    advance_clock(idp.url, 5)
    answer = flow.submit_login(started, "bob@example.com", "bob123")
    tokens = flow.exchange(callback(answer)["code"]).json()
    a = verify_jwt(idp.url, first["id_token"], CLIENT_ID, "JWT")
    b = verify_jwt(idp.url, tokens["id_token"], CLIENT_ID, "JWT", leeway=5)
    assert b["sub"] != a["sub"]  # the user may log in as someone else
    assert b["sid"] != a["sid"]
    assert b["auth_time"] >= a["auth_time"] + 5


@pytest.mark.parametrize("prompt", ["consent", "select_account"])
def test_other_prompts_show_the_select_account_page(idp: RunningServer, flow: Flow, prompt: str) -> None:
    flow.tokens()
    started = flow.authorize(prompt=prompt)
    assert goes_to_select_account(idp, started)
    assert "code" in callback(flow.select_account(started))


def test_max_age_0_forces_the_form(idp: RunningServer, flow: Flow) -> None:
    # OIDC Core §3.1.2.1: max_age=0 is prompt=login. Even within the same second as the login.
    flow.tokens()
    assert goes_to_login(idp, flow.authorize(max_age="0"))


def test_max_age_is_compared_with_the_time_since_login(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    assert goes_to_select_account(idp, flow.authorize(max_age="60"))
    advance_clock(idp.url, 61)
    started = flow.authorize(max_age="60")
    assert goes_to_login(idp, started)
    code = callback(flow.submit_login(started))["code"]
    claims = verify_jwt(idp.url, flow.exchange(code).json()["id_token"], CLIENT_ID, "JWT", leeway=61)
    assert claims["auth_time"] >= claims["iat"] - 5  # a fresh login


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "²", "١", " 5", "9" * 5000])
def test_bad_max_age_is_invalid_request_not_a_500(idp: RunningServer, flow: Flow, max_age: str) -> None:
    flow.tokens()  # with a session, so that max_age is really looked at
    response = flow.authorize(max_age=max_age)
    assert response.status_code == 303, response.text
    assert callback(response)["error"] == "invalid_request"


def test_large_max_age_keeps_single_sign_on(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    assert goes_to_select_account(idp, flow.authorize(max_age="9" * 18))


# -- prompt=none

def test_prompt_none_without_a_session_is_login_required(idp: RunningServer, flow: Flow) -> None:
    params = callback(flow.authorize(prompt="none"))
    assert params["error"] == "login_required"
    assert params["state"] == flow.last["state"]
    assert "code" not in params


def test_prompt_none_with_a_session_answers_a_code(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    params = callback(flow.authorize(prompt="none"))
    assert "error" not in params
    assert flow.exchange(params["code"]).status_code == 200


def bobs_tokens(idp: RunningServer) -> dict[str, str]:
    """The tokens of another user, got in another browser."""
    with requests.Session() as other:
        return Flow(idp.url, other).tokens(email="bob@example.com", password="bob123")


def test_prompt_none_with_a_hint_for_another_user_is_login_required(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()  # alice is logged in here
    params = callback(flow.authorize(prompt="none", id_token_hint=bobs_tokens(idp)["id_token"]))
    assert params["error"] == "login_required"
    assert params["state"] == flow.last["state"]
    assert "code" not in params
    assert "code" in callback(flow.authorize(prompt="none"))  # alice's session is untouched


def test_prompt_none_with_a_hint_for_the_logged_in_user_answers_a_code(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    advance_clock(idp.url, 600)  # an expired ID token is still a good hint
    params = callback(flow.authorize(prompt="none", id_token_hint=tokens["id_token"]))
    assert "error" not in params and "code" in params


def test_a_hint_for_the_logged_in_user_skips_the_select_account_page(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    params = callback(flow.authorize(id_token_hint=tokens["id_token"]))
    assert "code" in params and "error" not in params


def test_a_hint_for_another_user_forces_the_login_form(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    started = flow.authorize(id_token_hint=bobs_tokens(idp)["id_token"])
    assert goes_to_login(idp, started)
    tokens = flow.exchange(callback(flow.submit_login(started, "bob@example.com", "bob123"))["code"]).json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["email"] == "bob@example.com"


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", ""])
def test_a_hint_that_is_no_id_token_keeps_single_sign_on(idp: RunningServer, flow: Flow, hint: str) -> None:
    flow.tokens()
    # Bob's access token (typ at+jwt) is no ID token: no hint for another user either.
    for unusable in (hint, bobs_tokens(idp)["access_token"]):
        assert "code" in callback(flow.authorize(prompt="none", id_token_hint=unusable))


def test_session_expires_after_52_weeks(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    advance_clock(idp.url, 52 * 7 * 86400 + 1)
    assert callback(flow.authorize(prompt="none"))["error"] == "login_required"


def test_session_of_a_removed_user_is_no_session(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    requests.delete(idp.url + "/_mock/users/alice@example.com")
    assert callback(flow.authorize(prompt="none"))["error"] == "login_required"


# -- the cookie

def test_session_cookie_attributes(idp: RunningServer, flow: Flow) -> None:
    answer = flow.submit_login(flow.authorize())
    set_cookie = next(c for c in answer.raw.headers.getlist("set-cookie") if c.startswith(COOKIE + "="))
    name, _, rest = set_cookie.partition("=")
    assert name == COOKIE  # not "session": the walkthrough's cookie shares localhost
    attributes = [a.strip().lower() for a in rest.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # plain-http localhost would drop a Secure cookie
    assert "path=/" in attributes
    assert any(a.startswith("max-age=") and int(a.split("=")[1]) > 86400 for a in attributes)
    cookie = next(c for c in flow.browser.cookies if c.name == COOKIE)
    assert not cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")


def test_browser_and_session_cookies_are_secure_behind_an_https_issuer() -> None:
    with serve(port=0, issuer="https://auth.example.test") as running, requests.Session() as browser:
        direct = f"http://127.0.0.1:{running.port}"
        flow = Flow(direct, browser)
        started = flow.authorize()
        assert started.headers["set-cookie"].startswith("mock_idp_browser=")
        assert "secure" in [a.strip().lower() for a in started.headers["set-cookie"].split(";")]
        # A Secure cookie is not sent over this plain-http shortcut: send it as a browser at
        # https://auth.example.test would.
        cookie = {"Cookie": "mock_idp_browser=" + started.cookies["mock_idp_browser"]}
        login = started.headers["location"].replace("https://auth.example.test", direct)
        page = browser.get(login, headers=cookie)
        login_request = re.search(r'name="login_request" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer = browser.post(direct + "/login", data={"login_request": login_request, "email": "alice@example.com",
                                                      "password": "alice123"},
                              headers={**cookie, "Origin": "https://auth.example.test"}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["set-cookie"].startswith(COOKIE + "=")
    assert "secure" in [a.strip().lower() for a in answer.headers["set-cookie"].split(";")]


def test_session_cookie_value_is_not_the_user(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    value = flow.browser.cookies[COOKIE]
    assert "alice" not in value and len(value) >= 32


def test_the_sid_claim_is_not_the_session_cookie(idp: RunningServer, flow: Flow) -> None:
    # Every relying party sees the ID token: its sid must not let anyone take over the login.
    tokens = flow.tokens()
    sid = verify_jwt(idp.url, tokens["id_token"], CLIENT_ID, "JWT")["sid"]
    assert sid != flow.browser.cookies[COOKIE]
    with requests.Session() as attacker:
        attacker.cookies.set(COOKIE, sid)
        attacker.cookies.set("mock_idp_same_site_strict", "true")
        params = callback(Flow(idp.url, attacker).authorize(prompt="none"))
    assert params["error"] == "login_required" and "code" not in params


def test_same_site_strict_marker_cookie(idp: RunningServer, flow: Flow) -> None:
    answer = flow.submit_login(flow.authorize())
    cookies = answer.raw.headers.getlist("set-cookie")
    marker = next(c for c in cookies if c.startswith("mock_idp_same_site_strict="))
    attributes = [a.strip().lower() for a in marker.split(";")]
    assert attributes[0] == "mock_idp_same_site_strict=true"
    assert "samesite=strict" in attributes and "httponly" in attributes and "path=/" in attributes


# -- response modes

def test_response_mode_query_is_the_default(idp: RunningServer, flow: Flow) -> None:
    answer = flow.submit_login(flow.authorize(response_mode="query"))
    assert urllib.parse.urlsplit(answer.headers["location"]).query.startswith("code=")


def test_response_mode_fragment(idp: RunningServer, flow: Flow) -> None:
    answer = flow.submit_login(flow.authorize(response_mode="fragment"))
    location = answer.headers["location"]
    parts = urllib.parse.urlsplit(location)
    assert location.startswith(REDIRECT_URI + "#")
    assert parts.query == ""
    params = dict(urllib.parse.parse_qsl(parts.fragment))
    assert params["state"] == flow.last["state"]
    assert flow.exchange(params["code"]).status_code == 200


def test_response_mode_fragment_for_errors(idp: RunningServer, flow: Flow) -> None:
    response = flow.authorize(response_mode="fragment", scope="email")
    assert response.headers["location"].startswith(REDIRECT_URI + "#error=invalid_scope")


def form_fields(page: str) -> dict[str, str]:
    return {html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)}


def test_response_mode_form_post(idp: RunningServer, flow: Flow) -> None:
    state = '"><script>alert(1)</script>'
    answer = flow.submit_login(flow.authorize(response_mode="form_post", state=state))
    assert answer.status_code == 200
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert re.search(r'<form method="post" action="' + re.escape(REDIRECT_URI) + '"', page)
    assert "document.forms[0].submit()" in page  # submits itself
    assert "<script>alert" not in page  # the state is escaped
    fields = form_fields(page)
    assert fields["state"] == state
    assert re.fullmatch(r"[A-Za-z0-9]{32}", fields["code"])
    assert flow.exchange(fields["code"]).status_code == 200
    assert "set-cookie" in answer.headers  # the login still sets the IdP session


def test_response_mode_form_post_with_single_sign_on_and_errors(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    sso = flow.select_account(flow.authorize(response_mode="form_post"))
    assert sso.status_code == 200 and "code" in form_fields(sso.text)
    error = flow.authorize(response_mode="form_post", scope="email")
    assert error.status_code == 200
    assert form_fields(error.text)["error"] == "invalid_scope"
    assert form_fields(error.text)["state"] == flow.last["state"]


def test_unknown_response_mode_is_invalid_request_by_query(idp: RunningServer, flow: Flow) -> None:
    response = flow.authorize(response_mode="web_message")
    params = callback(response)
    assert params["error"] == "invalid_request"
    assert urllib.parse.urlsplit(response.headers["location"]).query


def test_cancel_answers_in_the_response_mode(idp: RunningServer, flow: Flow) -> None:
    started = flow.authorize(response_mode="fragment")
    assert goes_to_login(idp, started)
    page = flow.browser.get(started.headers["location"])
    login_request = re.search(r'name="login_request" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = flow.browser.post(idp.url + "/login", data={"login_request": login_request, "action": "cancel"},
                               allow_redirects=False)
    assert answer.headers["location"].startswith(REDIRECT_URI + "#error=access_denied")


def test_id_token_of_sso_login_has_the_original_amr(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    code = callback(flow.select_account(flow.authorize()))["code"]
    claims = jwt.decode(flow.exchange(code).json()["id_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "x_primary_password"]


# -- the select-account page decides again: only a login sent there continues without a password

def continue_on(idp: RunningServer, flow: Flow, started: requests.Response) -> requests.Response:
    """Presses Continue on /select_account for a pending login, whatever page it was sent to."""
    login_request = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.headers["location"]).query))["login_request"]
    return flow.browser.post(idp.url + "/select_account", data={"login_request": login_request, "action": "continue"},
                             headers={"Origin": idp.url}, allow_redirects=False)


@pytest.mark.parametrize("overrides", [{"prompt": "login"}, {"max_age": "0"}, {"x_suppress_idp_session_cookie": "true"},
                                       "hint for bob"])
def test_a_login_sent_to_the_form_cannot_continue_on_the_select_account_page(idp: RunningServer, flow: Flow,
                                                                            overrides: dict | str) -> None:
    flow.tokens()  # alice has a session in this browser
    if overrides == "hint for bob":
        overrides = {"id_token_hint": bobs_tokens(idp)["id_token"]}
    started = flow.authorize(**overrides)
    assert goes_to_login(idp, started)
    answer = continue_on(idp, flow, started)
    assert answer.status_code == 303 and answer.headers["location"].startswith(idp.url + "/login?"), answer.headers
    page = flow.browser.get(idp.url + "/select_account?" + urllib.parse.urlsplit(started.headers["location"]).query,
                            allow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith(idp.url + "/login?")


def test_max_age_running_out_while_the_page_is_open_asks_for_the_password(idp: RunningServer, flow: Flow) -> None:
    flow.tokens()
    started = flow.authorize(max_age="60")
    assert goes_to_select_account(idp, started)
    advance_clock(idp.url, 61)
    answer = continue_on(idp, flow, started)
    assert answer.status_code == 303 and answer.headers["location"].startswith(idp.url + "/login?")
