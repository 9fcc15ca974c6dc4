"""RP-initiated logout (end_session) and token revocation.

Reference: shared/authgear-wire.md, "End session" and "Revocation".
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


def end_session(flow: Flow, method: str = "GET", cookie: bool = True, **params: str) -> requests.Response:
    session = flow.browser if cookie else requests
    url = flow.issuer + "/oauth2/end_session"
    if method == "GET":
        return session.get(url, params=params, allow_redirects=False)
    return session.post(url, data=params, allow_redirects=False)


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


def confirmation_form(idp: RunningServer, response: requests.Response) -> dict[str, str]:
    """The "Log out?" page: a POST form back to end_session; returns its hidden fields."""
    assert response.status_code == 200, (response.status_code, response.headers.get("location"))
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"  # its button cannot be clickjacked
    assert "set-cookie" not in response.headers
    assert "Log out?" in response.text
    forms = re.findall(r'<form method="post" action="([^"]*)">', response.text)
    assert forms == [html.escape(idp.url + "/oauth2/end_session")], forms
    assert re.search(r'<button type="submit" name="confirm" value="yes">', response.text)
    return {html.unescape(name): html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', response.text)}


def confirm(idp: RunningServer, flow: Flow, fields: dict[str, str], **headers: str) -> requests.Response:
    """Submits the confirmation form as the browser does: from the mock's own page."""
    return flow.browser.post(idp.url + "/oauth2/end_session", data={**fields, "confirm": "yes"},
                             headers={"Origin": idp.url, "Sec-Fetch-Site": "same-origin", **headers},
                             allow_redirects=False)


# -- end_session

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_end_session_ends_the_session_and_its_tokens(idp: RunningServer, flow: Flow, method: str) -> None:
    tokens = flow.tokens()
    assert "code" in prompt_none(flow)  # logged in
    # A token issued by refreshing is from the same session and dies with it too.
    refreshed = refresh(idp.url, tokens["refresh_token"]).json()
    response = end_session(flow, method, id_token_hint=tokens["id_token"])
    assert response.status_code == 303
    assert COOKIE not in flow.browser.cookies  # the cookie is deleted
    assert_logged_out(idp, flow, tokens)
    assert userinfo(idp.url, refreshed["access_token"]).status_code == 401


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_end_session_with_only_the_cookie_asks_first_then_logs_out(idp: RunningServer, flow: Flow,
                                                                    method: str) -> None:
    tokens = flow.tokens()
    fields = confirmation_form(idp, end_session(flow, method))
    assert fields == {}
    assert_still_logged_in(idp, flow, tokens)  # asking ends nothing
    response = confirm(idp, flow, fields)
    assert response.status_code == 303
    assert response.headers["location"] == idp.url + "/settings"
    assert COOKIE not in flow.browser.cookies
    assert_logged_out(idp, flow, tokens)


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


def test_expired_id_token_hint_is_still_a_good_hint(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    advance_clock(idp.url, 600)  # the ID token (300 s) has expired
    response = end_session(flow, id_token_hint=tokens["id_token"], post_logout_redirect_uri="http://localhost:3000/")
    assert response.status_code == 303  # no confirmation: the hint names this browser's session
    assert response.headers["location"] == "http://localhost:3000/"
    assert prompt_none(flow)["error"] == "login_required"


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


def test_post_logout_redirect_uri_by_client_id_without_a_hint(idp: RunningServer, flow: Flow) -> None:
    # RP-Initiated Logout 1.0 §2 allows client_id to name the client when there is no hint.
    tokens = flow.tokens()
    params = {"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://localhost:3000", "state": "s"}
    # Without the cookie nothing is ended: straight to the registered URI.
    response = end_session(flow, cookie=False, **params)
    assert response.headers["location"] == "http://localhost:3000?state=s"
    assert_still_logged_in(idp, flow, tokens)
    # With it, the user confirms first; the form carries client_id and the rest along.
    fields = confirmation_form(idp, end_session(flow, **params))
    assert fields == params
    assert confirm(idp, flow, fields).headers["location"] == "http://localhost:3000?state=s"
    assert_logged_out(idp, flow, tokens)


def test_client_id_limits_the_match_to_that_clients_uris(idp: RunningServer) -> None:
    add_client(idp.url, client_id="other", client_secret="s", redirect_uris=[REDIRECT_URI],
               post_logout_redirect_uris=["http://localhost:3000/other-bye"])
    with requests.Session() as browser:
        flow = Flow(idp.url, browser)
        response = end_session(flow, client_id=CLIENT_ID, post_logout_redirect_uri="http://localhost:3000/other-bye")
        assert response.headers["location"] == idp.url + "/settings"
        response = end_session(flow, client_id="other", post_logout_redirect_uri="http://localhost:3000/other-bye")
        assert response.headers["location"] == "http://localhost:3000/other-bye"


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


def test_registered_uri_of_another_client_is_not_honoured(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="other", client_secret="s", redirect_uris=[REDIRECT_URI],
               post_logout_redirect_uris=["http://localhost:3000/other-bye"])
    tokens = flow.tokens()  # an ID token of mock-client
    response = end_session(flow, id_token_hint=tokens["id_token"],
                           post_logout_redirect_uri="http://localhost:3000/other-bye")
    assert response.headers["location"] == idp.url + "/settings"


def test_registered_uri_without_hint_or_client_id_is_matched_against_every_client(idp: RunningServer,
                                                                                   flow: Flow) -> None:
    add_client(idp.url, client_id="other", client_secret="s", redirect_uris=[REDIRECT_URI],
               post_logout_redirect_uris=["http://localhost:3000/other-bye"])
    tokens = flow.tokens()
    for target in ("http://localhost:3000", "http://localhost:3000/other-bye"):
        response = end_session(flow, cookie=False, post_logout_redirect_uri=target, state="s")
        assert response.headers["location"] == target + "?state=s"
    response = end_session(flow, cookie=False, post_logout_redirect_uri="http://localhost:3000/nobodys")
    assert response.headers["location"] == idp.url + "/settings"
    assert_still_logged_in(idp, flow, tokens)


def test_forged_id_token_hint_ends_nothing(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    header = jwt.get_unverified_header(tokens["id_token"])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": header["kid"], "typ": "JWT"})
    # Not a hint: in the browser with the session the user is asked, nothing is ended.
    asked = end_session(flow, id_token_hint=forged, post_logout_redirect_uri="http://localhost:3000")
    fields = confirmation_form(idp, asked)
    assert fields["id_token_hint"] == forged
    response = end_session(flow, cookie=False, id_token_hint=forged, post_logout_redirect_uri="http://localhost:3000")
    assert response.headers["location"] == "http://localhost:3000"  # registered: honoured without a hint
    assert_still_logged_in(idp, flow, tokens)


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", "", "x" * 5000])
def test_garbage_id_token_hint_is_not_an_error(idp: RunningServer, flow: Flow, hint: str) -> None:
    tokens = flow.tokens()
    response = end_session(flow, cookie=False, id_token_hint=hint, post_logout_redirect_uri="http://localhost:3000")
    assert response.status_code == 303
    assert response.headers["location"] == "http://localhost:3000"
    confirmation_form(idp, end_session(flow, id_token_hint=hint, post_logout_redirect_uri="http://localhost:3000"))
    assert_still_logged_in(idp, flow, tokens)


def signed_by_the_mock(idp: RunningServer, id_token: str, typ: str = "JWT", **changes: object) -> str:
    """The claims of a real ID token, changed, signed with the mock's own key (a teaching shortcut:
    only the mock could make these; they show which of its checks refuses the hint)."""
    claims = {**jwt.decode(id_token, options={"verify_signature": False}), **changes}
    return idp.ctx.key.sign(claims, typ=typ)


@pytest.mark.parametrize("kind", ["access token", "typ at+jwt", "unknown aud"])
def test_a_hint_that_is_no_id_token_for_a_known_client_is_ignored(idp: RunningServer, flow: Flow, kind: str) -> None:
    tokens = flow.tokens()
    hint = {
        "access token": tokens["access_token"],
        "typ at+jwt": signed_by_the_mock(idp, tokens["id_token"], typ="at+jwt"),
        "unknown aud": signed_by_the_mock(idp, tokens["id_token"], aud=["unknown-client"]),
    }[kind]
    confirmation_form(idp, end_session(flow, id_token_hint=hint))  # not a hint for this session: asks
    assert_still_logged_in(idp, flow, tokens)
    # The control: the same shortcut with nothing wrong is a good hint and logs out at once.
    good = signed_by_the_mock(idp, tokens["id_token"])
    assert end_session(flow, id_token_hint=good).status_code == 303
    assert_logged_out(idp, flow, tokens)


def test_confirmation_page_carries_the_parameters_escaped_and_confirm_logs_out(idp: RunningServer,
                                                                                flow: Flow) -> None:
    tokens = flow.tokens()
    state = '"><script>alert(1)</script>&x=1'
    with requests.Session() as other:
        stale = Flow(idp.url, other).tokens()["id_token"]  # a good ID token, of another session
    params = {"id_token_hint": stale, "post_logout_redirect_uri": "http://localhost:3000/", "state": state,
              "client_id": CLIENT_ID}
    response = end_session(flow, "POST", **params, ui_locales="fr")
    assert "<script>alert" not in response.text
    assert "alice@example.com" in response.text
    fields = confirmation_form(idp, response)
    assert fields == params  # the four logout parameters, each escaped and read back whole
    assert_still_logged_in(idp, flow, tokens)
    answer = confirm(idp, flow, fields)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("http://localhost:3000/?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(location).query) == {"state": [state]}
    assert COOKIE not in flow.browser.cookies
    assert_logged_out(idp, flow, tokens)


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_confirm_is_refused(idp: RunningServer, flow: Flow, headers: dict[str, str]) -> None:
    tokens = flow.tokens()
    params = {"post_logout_redirect_uri": "http://localhost:3000", "state": "s"}
    # A page on evil.example posting confirm=yes itself: asked again, nothing ended.
    response = flow.browser.post(idp.url + "/oauth2/end_session", data={**params, "confirm": "yes"},
                                 headers=headers, allow_redirects=False)
    assert confirmation_form(idp, response) == params
    assert_still_logged_in(idp, flow, tokens)


def test_confirm_by_get_is_no_confirmation(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    confirmation_form(idp, end_session(flow, confirm="yes"))  # a link anyone could send
    assert_still_logged_in(idp, flow, tokens)


def test_end_session_ends_only_the_browsers_own_session(idp: RunningServer, flow: Flow) -> None:
    alice = flow.tokens()
    with requests.Session() as other_browser:
        bob_flow = Flow(idp.url, other_browser)
        bob = bob_flow.tokens(email="bob@example.com", password="bob123")
        # Bob's browser brings Alice's (good) ID token: it names no session of this browser.
        fields = confirmation_form(idp, end_session(bob_flow, id_token_hint=alice["id_token"]))
        assert "bob@example.com" in end_session(bob_flow).text  # asks about its own user
        assert_still_logged_in(idp, flow, alice)
        assert_still_logged_in(idp, bob_flow, bob)
        # Confirmed, it ends Bob's session, the browser's own, and never Alice's.
        assert confirm(idp, bob_flow, fields).status_code == 303
        assert_logged_out(idp, bob_flow, bob)
        assert_still_logged_in(idp, flow, alice)


def test_end_session_of_one_browser_leaves_another_alone(idp: RunningServer, flow: Flow) -> None:
    alice = flow.tokens()
    with requests.Session() as other_browser:
        bob_flow = Flow(idp.url, other_browser)
        bob = bob_flow.tokens(email="bob@example.com", password="bob123")
        end_session(flow, id_token_hint=alice["id_token"])
        assert_logged_out(idp, flow, alice)
        assert_still_logged_in(idp, bob_flow, bob)


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
