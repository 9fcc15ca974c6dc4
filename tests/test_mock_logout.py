"""RP-initiated logout (end_session), the logout confirmation page, and token revocation.

end_session decides as Authgear does: with the browser's IdP session, it logs out at once when
the SameSite=Strict marker cookie comes along (a same-site navigation) and otherwise sends the
browser to the "Log out?" page first; `id_token_hint` does not decide. A post-logout URI
registered by any client is honoured; any other goes to /settings.
"""

from __future__ import annotations

import html
import re
import urllib.parse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from mock_idp import RunningServer
from tests.flow import CLIENT_ID, REDIRECT_URI, Flow, add_client, advance_clock, callback, refresh, userinfo

COOKIE = "mock_idp_session"
MARKER = "mock_idp_same_site_strict"


def end_session(flow: Flow, method: str = "GET", cookie: bool = True, same_site: bool = True,
                **params: str) -> requests.Response:
    """The browser's visit to end_session. same_site=False: a link on another site, so the
    browser leaves out the SameSite=Strict marker (the session cookie, Lax, still goes)."""
    url = flow.issuer + "/oauth2/end_session"
    if not cookie:
        session: requests.Session | object = requests
        extra: dict = {}
    else:
        session = flow.browser
        extra = {} if same_site else {"cookies": {c.name: c.value for c in flow.browser.cookies if c.name != MARKER}}
        if not same_site:
            session = requests
    if method == "GET":
        return session.get(url, params=params, allow_redirects=False, **extra)  # type: ignore[attr-defined]
    return session.post(url, data=params, allow_redirects=False, **extra)  # type: ignore[attr-defined]


def prompt_none(flow: Flow) -> dict[str, str]:
    return callback(flow.authorize(prompt="none"))


def assert_logged_out(idp: RunningServer, flow: Flow, tokens: dict) -> None:
    """The IdP session, its refresh tokens and its access tokens are all gone."""
    assert prompt_none(flow)["error"] == "login_required"
    response = refresh(idp.url, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401


def assert_still_logged_in(idp: RunningServer, flow: Flow, tokens: dict) -> None:
    assert "code" in prompt_none(flow)
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200
    assert userinfo(idp.url, tokens["access_token"]).status_code == 200


def to_confirmation(idp: RunningServer, response: requests.Response, params: dict[str, str]) -> str:
    """end_session's 302 to the logout confirmation page; returns the page's URL."""
    assert response.status_code == 302, (response.status_code, response.text)
    assert "set-cookie" not in response.headers  # asking ends nothing
    location = response.headers["location"]
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == idp.url + "/logout"
    back = urllib.parse.parse_qs(parts.query)["redirect_uri"][0]
    back_parts = urllib.parse.urlsplit(back)
    assert f"{back_parts.scheme}://{back_parts.netloc}{back_parts.path}" == idp.url + "/oauth2/end_session"
    assert dict(urllib.parse.parse_qsl(back_parts.query)) == params  # comes back with the same parameters
    return location


def confirmation_form(idp: RunningServer, flow: Flow, page_url: str) -> str:
    """The "Log out?" page: one POST form to /logout; returns its hidden redirect_uri."""
    response = flow.browser.get(page_url, allow_redirects=False)
    assert response.status_code == 200, (response.status_code, response.headers.get("location"))
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"  # its button cannot be clickjacked
    assert "set-cookie" not in response.headers
    assert "Log out?" in response.text
    forms = re.findall(r'<form method="post" action="([^"]*)">', response.text)
    assert forms == [html.escape(idp.url + "/logout")], forms
    assert re.search(r'<button type="submit" name="action" value="logout">', response.text)
    fields = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', response.text)}
    assert set(fields) == {"redirect_uri"}
    return fields["redirect_uri"]


def confirm(idp: RunningServer, flow: Flow, redirect_uri: str, **headers: str) -> requests.Response:
    """Presses "Log out" as the browser does: a POST from the mock's own page."""
    return flow.browser.post(idp.url + "/logout", data={"redirect_uri": redirect_uri, "action": "logout"},
                             headers={"Origin": idp.url, "Sec-Fetch-Site": "same-origin", **headers},
                             allow_redirects=False)


# -- same site: logged out at once

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_same_site_end_session_ends_the_session_and_its_tokens_at_once(idp: RunningServer, flow: Flow,
                                                                       method: str) -> None:
    tokens = flow.tokens()
    assert "code" in prompt_none(flow)  # logged in
    # A token issued by refreshing is from the same session and dies with it too.
    refreshed = refresh(idp.url, tokens["refresh_token"]).json()
    response = end_session(flow, method, id_token_hint=tokens["id_token"])
    assert response.status_code == 303
    assert COOKIE not in flow.browser.cookies and MARKER not in flow.browser.cookies  # both deleted
    assert_logged_out(idp, flow, tokens)
    assert userinfo(idp.url, refreshed["access_token"]).status_code == 401


def test_same_site_end_session_without_a_hint_also_logs_out_at_once(idp: RunningServer, flow: Flow) -> None:
    # Authgear does not read id_token_hint to decide: the marker cookie is what counts.
    tokens = flow.tokens()
    response = end_session(flow, post_logout_redirect_uri="http://localhost:3000", state="s")
    assert response.status_code == 303 and response.headers["location"] == "http://localhost:3000?state=s"
    assert_logged_out(idp, flow, tokens)


# -- cross site: the confirmation page first

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_cross_site_end_session_asks_first_even_with_a_good_hint(idp: RunningServer, flow: Flow,
                                                                 method: str) -> None:
    tokens = flow.tokens()
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://localhost:3000/",
              "state": "after logout&x=1"}
    page = to_confirmation(idp, end_session(flow, method, same_site=False, **params), params)
    assert_still_logged_in(idp, flow, tokens)  # asking ends nothing
    back = confirmation_form(idp, flow, page)
    answer = confirm(idp, flow, back)
    assert answer.status_code == 303 and answer.headers["location"] == back
    assert COOKIE not in flow.browser.cookies and MARKER not in flow.browser.cookies
    finished = flow.browser.get(back, allow_redirects=False)  # back at end_session, now without a session
    assert finished.status_code == 303
    location = finished.headers["location"]
    assert location.startswith("http://localhost:3000/?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(location).query) == {"state": ["after logout&x=1"]}
    assert_logged_out(idp, flow, tokens)


def test_confirmation_page_escapes_what_it_carries(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    params = {"post_logout_redirect_uri": "http://localhost:3000/", "state": '"><script>alert(1)</script>'}
    page = to_confirmation(idp, end_session(flow, same_site=False, **params), params)
    response = flow.browser.get(page)
    assert "<script>alert" not in response.text
    assert "alice@example.com" in response.text  # says whose session ends
    back = confirmation_form(idp, flow, page)
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query)) == params
    assert_still_logged_in(idp, flow, tokens)


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_confirm_is_refused(idp: RunningServer, flow: Flow, headers: dict[str, str]) -> None:
    tokens = flow.tokens()
    back = idp.url + "/oauth2/end_session?state=s"
    # A page on evil.example posting the confirmation form itself: asked again, nothing ended.
    response = flow.browser.post(idp.url + "/logout", data={"redirect_uri": back, "action": "logout"},
                                 headers=headers, allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(idp.url + "/logout?")
    assert_still_logged_in(idp, flow, tokens)


def test_confirm_by_get_is_no_confirmation(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    page = idp.url + "/logout?" + urllib.parse.urlencode({"redirect_uri": idp.url + "/oauth2/end_session",
                                                          "action": "logout"})
    confirmation_form(idp, flow, page)  # a link anyone could send: only the page
    assert_still_logged_in(idp, flow, tokens)


@pytest.mark.parametrize("back", ["https://evil.example/", "http://localhost:3000/", "//evil.example/oauth2/end_session",
                                  "javascript:alert(1)", ""])
def test_the_confirmation_page_returns_only_to_end_session(idp: RunningServer, flow: Flow, back: str) -> None:
    tokens = flow.tokens()
    page = idp.url + "/logout?" + urllib.parse.urlencode({"redirect_uri": back})
    assert confirmation_form(idp, flow, page) == idp.url + "/settings"  # never an open redirect
    answer = confirm(idp, flow, back)
    assert answer.headers["location"] == idp.url + "/settings"
    assert_logged_out(idp, flow, tokens)


def test_the_confirmation_page_without_a_session_goes_straight_on(idp: RunningServer, flow: Flow) -> None:
    back = idp.url + "/oauth2/end_session?" + urllib.parse.urlencode(
        {"post_logout_redirect_uri": "http://localhost:3000", "state": "s"})
    response = flow.browser.get(idp.url + "/logout", params={"redirect_uri": back}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == back
    final = flow.browser.get(back, allow_redirects=False)
    assert final.headers["location"] == "http://localhost:3000?state=s"


# -- without the browser's cookie: nothing ends, the redirect still happens

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_hint_without_the_browsers_cookie_ends_nothing_and_redirects(idp: RunningServer, flow: Flow,
                                                                        method: str) -> None:
    # A back end calling end_session carries no browser cookie: Authgear ends only the
    # session of the browser that comes, so nothing ends; the redirect still happens.
    tokens = flow.tokens()
    response = end_session(flow, method, cookie=False, id_token_hint=tokens["id_token"],
                           post_logout_redirect_uri="http://localhost:3000", state="s1")
    assert response.status_code == 303
    assert response.headers["location"] == "http://localhost:3000?state=s1"
    assert_still_logged_in(idp, flow, tokens)


def test_expired_id_token_hint_is_no_problem(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    advance_clock(idp.url, 600)  # the ID token (300 s) has expired
    response = end_session(flow, id_token_hint=tokens["id_token"], post_logout_redirect_uri="http://localhost:3000/")
    assert response.status_code == 303
    assert response.headers["location"] == "http://localhost:3000/"
    assert prompt_none(flow)["error"] == "login_required"


# -- post_logout_redirect_uri

@pytest.mark.parametrize("target", ["http://localhost:3000", "http://localhost:3000/",
                                    "http://localhost:3001/logged-out"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_registered_post_logout_redirect_uri_gets_303_with_state(idp: RunningServer, flow: Flow, target: str,
                                                                 method: str) -> None:
    tokens = flow.tokens()
    state = "after logout&x=1"
    response = end_session(flow, method, id_token_hint=tokens["id_token"], post_logout_redirect_uri=target,
                           state=state)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(target + "?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(location).query) == {"state": [state]}


@pytest.mark.parametrize("state", [None, ""])
def test_registered_post_logout_redirect_uri_without_state(idp: RunningServer, flow: Flow,
                                                           state: str | None) -> None:
    tokens = flow.tokens()
    extra = {} if state is None else {"state": state}
    response = end_session(flow, id_token_hint=tokens["id_token"], post_logout_redirect_uri="http://localhost:3000/",
                           **extra)
    assert response.headers["location"] == "http://localhost:3000/"  # an empty state is not appended


def test_a_uri_registered_by_any_client_is_honoured(idp: RunningServer, flow: Flow) -> None:
    # As Authgear: the URI is checked against every client of the project, whatever the hint
    # or client_id names.
    add_client(idp.url, client_id="other", client_secret="s", redirect_uris=[REDIRECT_URI],
               post_logout_redirect_uris=["http://localhost:3000/other-bye"])
    tokens = flow.tokens()  # an ID token of mock-client
    response = end_session(flow, id_token_hint=tokens["id_token"], client_id=CLIENT_ID,
                           post_logout_redirect_uri="http://localhost:3000/other-bye", state="s")
    assert response.headers["location"] == "http://localhost:3000/other-bye?state=s"
    for target in ("http://localhost:3000", "http://localhost:3000/other-bye"):
        response = end_session(flow, cookie=False, post_logout_redirect_uri=target, state="s")
        assert response.headers["location"] == target + "?state=s"
    response = end_session(flow, cookie=False, post_logout_redirect_uri="http://localhost:3000/nobodys")
    assert response.headers["location"] == idp.url + "/settings"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://localhost:3000/other",
        "http://localhost:3000//",
        "http://localhost:3000/auth-redirect",   # a redirect_uri, not a post-logout one
        "//evil.example",
        "http://localhost:3000@evil.example/",
        "HTTP://LOCALHOST:3000",
        "javascript:alert(1)",
    ],
)
def test_unregistered_post_logout_redirect_uri_goes_to_settings(idp: RunningServer, flow: Flow, target: str) -> None:
    tokens = flow.tokens()
    response = end_session(flow, id_token_hint=tokens["id_token"], post_logout_redirect_uri=target, state="s")
    assert response.status_code == 303
    assert response.headers["location"] == idp.url + "/settings"  # never an open redirect
    assert_logged_out(idp, flow, tokens)  # the logout itself still happened


def test_forged_id_token_hint_changes_nothing(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    header = jwt.get_unverified_header(tokens["id_token"])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": header["kid"], "typ": "JWT"})
    params = {"id_token_hint": forged, "post_logout_redirect_uri": "http://localhost:3000"}
    to_confirmation(idp, end_session(flow, same_site=False, **params), params)  # cross-site: asks, as without it
    response = end_session(flow, cookie=False, **params)
    assert response.headers["location"] == "http://localhost:3000"  # registered: honoured without a hint
    assert_still_logged_in(idp, flow, tokens)


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", "", "x" * 5000])
def test_garbage_id_token_hint_is_not_an_error(idp: RunningServer, flow: Flow, hint: str) -> None:
    tokens = flow.tokens()
    response = end_session(flow, cookie=False, id_token_hint=hint, post_logout_redirect_uri="http://localhost:3000")
    assert response.status_code == 303
    assert response.headers["location"] == "http://localhost:3000"
    assert_still_logged_in(idp, flow, tokens)
    response = end_session(flow, id_token_hint=hint, post_logout_redirect_uri="http://localhost:3000")
    assert response.status_code == 303 and response.headers["location"] == "http://localhost:3000"
    assert_logged_out(idp, flow, tokens)


def test_end_session_ends_only_the_browsers_own_session(idp: RunningServer, flow: Flow) -> None:
    alice = flow.tokens()
    with requests.Session() as other_browser:
        bob_flow = Flow(idp.url, other_browser)
        bob = bob_flow.tokens(email="bob@example.com", password="bob123")
        # Bob's browser brings Alice's (good) ID token: only the browser's own session ends.
        assert end_session(bob_flow, id_token_hint=alice["id_token"]).status_code == 303
        assert_logged_out(idp, bob_flow, bob)
        assert_still_logged_in(idp, flow, alice)


def test_end_session_without_a_session_still_redirects(idp: RunningServer, flow: Flow) -> None:
    response = end_session(flow, post_logout_redirect_uri="http://localhost:3000", state="")
    assert response.status_code == 303
    assert response.headers["location"] == "http://localhost:3000"  # registered, and no "?state="
    response = end_session(flow, post_logout_redirect_uri="https://evil.example/")
    assert response.status_code == 303
    assert response.headers["location"] == idp.url + "/settings"


def test_settings_page_says_signed_out_or_in(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    signed_in = flow.browser.get(idp.url + "/settings")
    assert signed_in.status_code == 200 and "alice@example.com" in signed_in.text
    end_session(flow, id_token_hint=tokens["id_token"])
    signed_out = flow.browser.get(idp.url + "/settings")
    assert signed_out.status_code == 200 and "signed out" in signed_out.text
    assert "alice@example.com" not in signed_out.text


def test_after_end_session_the_next_authorize_shows_the_form(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    end_session(flow, id_token_hint=tokens["id_token"])
    started = flow.authorize()
    assert started.headers["location"].startswith(idp.url + "/login?")


# -- revocation (RFC 7009)

@pytest.mark.parametrize(
    "data",
    [
        {"token": "unknown"},
        {"token": ""},
        {},
        {"token": "a.b"},
        {"token": "a.b.c"},
        {"token": "x" * 5000},
        {"token": "unknown", "token_type_hint": "refresh_token"},
        {"token": "unknown", "token_type_hint": "bogus"},
    ],
)
def test_revoke_always_answers_200_with_an_empty_body(idp: RunningServer, data: dict) -> None:
    response = requests.post(idp.url + "/oauth2/revoke", data=data)
    assert response.status_code == 200
    assert response.content == b""


def test_revoke_with_a_json_body_reads_no_token(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    response = requests.post(idp.url + "/oauth2/revoke", json={"token": tokens["refresh_token"]})
    assert response.status_code == 200 and response.content == b""
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200  # nothing was revoked


@pytest.mark.parametrize("tail", [b"&x=%FF", b"&x=%00", b"&x=\xff", b"".join(b"&f%d=1" % i for i in range(101)),
                                  b"&pad=" + b"p" * (64 * 1024)])
def test_revoke_with_an_unreadable_body_is_200_empty_and_revokes_nothing(idp: RunningServer, flow: Flow,
                                                                         tail: bytes) -> None:
    # As Authgear: 200 and an empty body whatever it is sent, even a body it cannot read
    # (not UTF-8, a NUL, too many fields, too large); the token in it is not revoked.
    tokens = flow.tokens()
    response = requests.post(idp.url + "/oauth2/revoke", data=b"token=" + tokens["refresh_token"].encode() + tail,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert response.content == b""
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200


def test_revoked_refresh_token_kills_its_grant(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    refreshed = refresh(idp.url, tokens["refresh_token"]).json()
    # No client authentication needed (as Authgear).
    response = requests.post(idp.url + "/oauth2/revoke", data={"token": tokens["refresh_token"]})
    assert response.status_code == 200 and response.content == b""
    answer = refresh(idp.url, tokens["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # Its access tokens stop working well before their exp (1800 s).
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
    assert userinfo(idp.url, refreshed["access_token"]).status_code == 401
    # Revoking again is still 200.
    assert requests.post(idp.url + "/oauth2/revoke", data={"token": tokens["refresh_token"]}).status_code == 200


def test_revoking_one_grant_leaves_another_alone(idp: RunningServer, flow: Flow) -> None:
    first = flow.tokens()
    second = flow.tokens()  # single sign-on: a second grant in the same session
    requests.post(idp.url + "/oauth2/revoke", data={"token": first["refresh_token"]})
    assert refresh(idp.url, second["refresh_token"]).status_code == 200
    assert userinfo(idp.url, second["access_token"]).status_code == 200


def test_revoke_with_a_wrong_secret_part_does_nothing(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    grant_id = tokens["refresh_token"].split(".")[0]
    requests.post(idp.url + "/oauth2/revoke", data={"token": grant_id + "." + "a" * 32})
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200


def test_revoked_access_token_stops_only_itself(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    requests.post(idp.url + "/oauth2/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token"})
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
    refreshed = refresh(idp.url, tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert userinfo(idp.url, refreshed.json()["access_token"]).status_code == 200


def test_revoked_rotated_refresh_token(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="rot", client_secret="s", redirect_uris=[REDIRECT_URI], refresh_token_rotation=True)
    code = flow.login(client_id="rot")["code"]
    tokens = flow.exchange(code, client_id="rot", client_secret="s").json()
    rotated = refresh(idp.url, tokens["refresh_token"], client_id="rot").json()["refresh_token"]
    # The dead old token revokes nothing...
    requests.post(idp.url + "/oauth2/revoke", data={"token": tokens["refresh_token"]})
    assert userinfo(idp.url, tokens["access_token"]).status_code == 200
    # ...the live one revokes the grant: itself and the access tokens.
    requests.post(idp.url + "/oauth2/revoke", data={"token": rotated})
    assert refresh(idp.url, rotated, client_id="rot").json()["error"] == "invalid_grant"
    assert userinfo(idp.url, tokens["access_token"]).status_code == 401
