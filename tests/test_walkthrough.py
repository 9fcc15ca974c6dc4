"""The walkthrough app over real HTTP against the real mock: every route, every error path.

Each test gets its own mock and its own walkthrough, on free ports of 127.0.0.1 (never
3000/3001/4000). The "browser" is a requests.Session with a cookie jar that goes through
the mock's real login form: no backdoor.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import requests

from kit.settings import Settings
from mock_idp import Client, MockConfig, RunningServer, serve
from mock_idp.config import client_from_dict
from mock_idp.keys import SigningKey
from walkthrough import create_app
from walkthrough.errors import InvalidIdToken
from walkthrough.oidc_client import OidcClient
from walkthrough.provider import Provider
from walkthrough.server import Running, bind, serve_in_thread
from walkthrough.sessions import COOKIE_NAME, SessionData
from walkthrough.steps import StepLog
from walkthrough.wire import Wire

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "mock-client"
CLIENT_SECRET = "mock-secret"


@dataclass
class Stack:
    """A mock and a walkthrough that knows it, both served over HTTP."""

    idp: RunningServer
    app_server: Running
    app: object
    settings: Settings
    base: str  # http://localhost:PORT, as a learner's browser reaches it

    def stop(self) -> None:
        self.app_server.stop()
        self.idp.stop()

    def sessions(self) -> list[SessionData]:
        return list(self.app.state.sessions._sessions.values())

    def only_session(self) -> SessionData:
        (session,) = [s for s in self.sessions() if s.tokens is not None]
        return session

    def advance_clock(self, seconds: int) -> None:
        answer = requests.post(self.idp.url + "/_mock/clock", json={"advance": seconds}, timeout=5)
        assert answer.status_code == 200, answer.text


def mock_config(port: int, redirect_path: str = "/auth-redirect") -> MockConfig:
    """The demo data, with the demo client also registered for this test's walkthrough port."""
    config = MockConfig.demo()
    demo = config.clients[CLIENT_ID]
    config.clients[CLIENT_ID] = client_from_dict({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "name": demo.name,
        "redirect_uris": demo.redirect_uris + [f"http://localhost:{port}{redirect_path}"],
        "post_logout_redirect_uris": demo.post_logout_redirect_uris + [f"http://localhost:{port}/"],
    })
    return config


def start_stack(http_timeout: float = 5.0, endpoint: str | None = None, redirect_path: str = "/auth-redirect",
                client_secret: str = CLIENT_SECRET, is_mock: bool = True) -> Stack:
    """is_mock=False: the app takes the mock for a real Authgear project (settings from .env)."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    idp = serve(host="localhost", port=0, config=mock_config(port, redirect_path))
    settings = Settings(endpoint=endpoint or idp.url, client_id=CLIENT_ID, client_secret=client_secret,
                        redirect_url=f"http://localhost:{port}{redirect_path}", is_mock=is_mock)
    app = create_app(settings, session_secret=secrets.token_urlsafe(32), http_timeout=http_timeout,
                     notebooks_url="http://notebooks.test/lab/tree/")
    return Stack(idp, serve_in_thread(app, sock), app, settings, f"http://localhost:{port}")


@pytest.fixture(scope="module")
def shared_stack() -> Iterator[Stack]:
    running = start_stack()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    """The module's mock and walkthrough, as new: the mock reset (its sessions, codes, tokens,
    clock and clients), the walkthrough's sessions forgotten."""
    assert requests.post(shared_stack.idp.url + "/_mock/reset", timeout=5).ok
    shared_stack.app.state.sessions.clear()
    return shared_stack


@pytest.fixture
def rotating_stack(stack: Stack) -> Stack:
    """The same, with refresh token rotation turned on for the demo client (teaching API)."""
    client = {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token_rotation": True,
        "redirect_uris": [stack.settings.redirect_url], "post_logout_redirect_uris": [stack.base + "/"],
    }
    assert requests.post(stack.idp.url + "/_mock/clients", json=client, timeout=5).status_code == 201
    return stack


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# --- helpers: what a browser does ---------------------------------------------------------

def login_form(browser: requests.Session, stack: Stack) -> requests.Response:
    """Login → the mock's login page (following the redirects a browser follows)."""
    page = browser.get(stack.base + "/login", timeout=10)
    assert page.status_code == 200 and 'name="login_request"' in page.text, page.text[:500]
    return page


def submit(browser: requests.Session, page: requests.Response, follow: bool, **fields: str) -> requests.Response:
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    login_request = re.search(r'name="login_request" value="([^"]+)"', page.text).group(1)
    return browser.post(action, data={"login_request": login_request, **fields}, allow_redirects=follow, timeout=10)


def callback_url(browser: requests.Session, stack: Stack, email: str = "alice@example.com",
                 password: str = "alice123") -> str:
    """Logs in at the mock and returns the callback URL it sends the browser to (not visited)."""
    answer = submit(browser, login_form(browser, stack), False, email=email, password=password, action="login")
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(stack.settings.redirect_url + "?"), location
    return location


def continue_as(browser: requests.Session, page: requests.Response, email: str = "alice@example.com",
                follow: bool = True) -> requests.Response:
    """On the mock's select-account page (Authgear shows it when its session lives), presses
    "Continue as <email>": no password."""
    assert page.status_code == 200 and "/select_account" in page.url, (page.status_code, page.url, page.text[:300])
    assert f'data-account="{email}"' in page.text, page.text[:500]
    return submit(browser, page, follow, action="continue")


def log_in(browser: requests.Session, stack: Stack, email: str = "alice@example.com",
           password: str = "alice123") -> requests.Response:
    home = browser.get(callback_url(browser, stack, email, password), timeout=10)
    assert home.status_code == 200 and home.url == stack.base + "/", (home.status_code, home.url, home.text[:500])
    return home


def csrf(page: requests.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def cookie_payload(browser: requests.Session) -> dict:
    """What the signed session cookie carries (itsdangerous: base64(JSON).timestamp.signature)."""
    value = browser.cookies.get(COOKIE_NAME)
    assert value, "no walkthrough_session cookie"
    data = value.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def plain(page: requests.Response) -> str:
    """The page's HTML without the <wbr> break hints the app puts into long URLs and values
    (at / ? & = and before a dot): what a reader sees and what a copy gives."""
    return page.text.replace("<wbr>", "")


def notices(page: requests.Response) -> list[str]:
    return re.findall(r'<div class="notice" role="status">(.*?)</div>', page.text, re.S)


def step_titles(page: requests.Response) -> list[str]:
    return re.findall(r'<span class="step-title">(.*?)</span>', page.text)


def refresh_grant(stack: Stack, refresh_token: str) -> requests.Response:
    return requests.post(stack.idp.url + "/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=5)


# --- the landing page, the cookie ---------------------------------------------------------

def test_landing_page_explains_the_app_and_offers_login(stack: Stack, browser: requests.Session) -> None:
    page = browser.get(stack.base + "/", timeout=5)
    assert page.status_code == 200
    assert "Hi there!" in page.text and 'href="/login"' in page.text
    assert "What is fixed compared with the tutorial" in page.text
    assert "Nothing has gone over the wire yet" in page.text
    assert 'href="http://notebooks.test/lab/tree/01-setup.ipynb"' in page.text
    assert f"<code>http://localhost:{stack.base.rsplit(':', 1)[1]}/</code>" in plain(page)  # post-logout URI
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script may run at all
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(COOKIE_NAME + "=") and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain-http localhost: a Secure cookie would be dropped
    css = browser.get(stack.base + "/static/walkthrough.css", timeout=5)
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_a_404_is_a_plain_page_with_the_way_home_and_other_errors_stay(stack: Stack, browser: requests.Session) -> None:
    page = browser.get(stack.base + "/no/such/page", timeout=5)
    assert page.status_code == 404 and "<h1>Page not found</h1>" in page.text
    assert "This app has no page at /no/such/page." in page.text
    assert "Something stopped the flow" not in page.text and 'role="alert"' not in page.text
    assert '<a class="button primary" href="/">Go to the home page</a>' in page.text
    assert 'href="/login"' not in page.text  # nothing to start over
    assert browser.get(stack.base + "/static/nothing.css", timeout=5).status_code == 404
    refused = browser.post(stack.base + "/", timeout=5)  # a 405 keeps the error page it had
    assert refused.status_code == 405 and "Something stopped the flow" in refused.text
    assert "Method not allowed" in refused.text


def test_the_favicon_is_served_and_linked(stack: Stack, browser: requests.Session) -> None:
    icon = browser.get(stack.base + "/favicon.ico", timeout=5)
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\0\0\1\0" and b"PNG" in icon.content[:40]  # an ICO holding a PNG
    assert "set-cookie" not in icon.headers and stack.sessions() == []  # no session, no step, no error page
    svg = browser.get(stack.base + "/static/favicon.svg", timeout=5)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    page = browser.get(stack.base + "/", timeout=5)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
    assert '<link rel="icon" href="/favicon.ico" sizes="32x32">' in page.text


def test_notebook_links_say_what_they_open_and_take_the_url_jupyterlab_printed(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from walkthrough.render import notebooks_location

    assert notebooks_location("http://localhost:8888/lab/tree/") == ("http://localhost:8888/lab/tree/", "")
    assert notebooks_location("http://localhost:8888/lab?token=abc") == ("http://localhost:8888/lab/tree/", "abc")
    assert notebooks_location("http://127.0.0.1:8889/lab/tree/01-setup.ipynb?token=t%2B1&x=y") == (
        "http://127.0.0.1:8889/lab/tree/", "t+1")
    assert notebooks_location("http://localhost:8888/lab/workspaces/auto-x/tree/notebooks/01-setup.ipynb") == (
        "http://localhost:8888/lab/tree/notebooks/", "")
    assert notebooks_location("https://hub.example/user/ann/lab") == ("https://hub.example/user/ann/lab/tree/", "")

    # The URL JupyterLab printed, pasted into WALKTHROUGH_NOTEBOOKS_URL as it is.
    monkeypatch.setenv("WALKTHROUGH_NOTEBOOKS_URL", "http://127.0.0.1:8889/lab/tree/01-setup.ipynb?token=0f1e2d")
    sock = bind("127.0.0.1", 0)
    server = serve_in_thread(create_app(stack.settings, session_secret="x" * 32), sock)
    try:
        page = requests.get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=5)
    finally:
        server.stop()
    link = re.search(r'<a class="notebook" href="([^"]+)"[^>]*title="([^"]+)">(.*?)</a>', page.text, re.S)
    assert link, page.text
    href, title, text = link.groups()
    assert href == "http://127.0.0.1:8889/lab/tree/01-setup.ipynb?token=0f1e2d"
    assert "open notebook <strong>01</strong> in your JupyterLab" in text
    assert '<code class="file">01-setup.ipynb</code>' in text
    assert "http://127.0.0.1:8889/lab/tree/" in title and "WALKTHROUGH_NOTEBOOKS_URL" in title
    assert "0f1e2d" not in title  # the token is in the link only, never shown
    assert "with your JupyterLab's token" in page.text  # the setup card says where the links go
    assert page.text.count("0f1e2d") == 1


def test_a_name_rebound_to_this_machine_gets_nothing(stack: Stack) -> None:
    """DNS rebinding: a page of another site whose name now points at 127.0.0.1 would read the
    app's pages (a JupyterLab token in its notebook links): the app answers to its own names only."""
    for host in ("rebound.attacker.example", "notebooks.test", "localhost.attacker.example"):
        page = requests.get(stack.base + "/", headers={"Host": host}, timeout=5)
        assert page.status_code == 400 and "notebooks.test/lab" not in page.text, host
    for host in ("localhost", f"localhost:{stack.base.rsplit(':', 1)[1]}", "127.0.0.1"):
        assert requests.get(stack.base + "/", headers={"Host": host}, timeout=5).status_code == 200, host


def test_long_urls_and_values_in_the_step_log_wrap_at_their_punctuation(stack: Stack,
                                                                       browser: requests.Session) -> None:
    from walkthrough.render import breakable

    assert breakable("GET http://a.test/oauth2/token?x=<y>&z=1") == (
        "GET http://<wbr>a<wbr>.test/<wbr>oauth2/<wbr>token?<wbr>x=<wbr>&lt;y&gt;&amp;<wbr>z=<wbr>1")
    assert breakable("<b>'\"</b>") == "&lt;b&gt;&#x27;&quot;&lt;/<wbr>b&gt;"
    home = log_in(browser, stack)
    port = stack.base.rsplit(":", 1)[1]
    assert f"&amp;<wbr>redirect_uri=<wbr>http://<wbr>localhost:{port}/<wbr>auth-redirect" in home.text
    css = browser.get(stack.base + "/static/walkthrough.css", timeout=5).text
    assert "break-all" not in css  # never mid-word where a word would fit
    assert "pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }" in css
    # The callback step of a completed login says what came back with it.
    why = re.findall(r'<p class="why">(.*?)</p>', home.text, re.S)
    assert any("sends the browser back here with code and state in the query." in w for w in why)


def test_login_sends_state_nonce_and_pkce_and_keeps_them_on_the_server(stack: Stack, browser: requests.Session) -> None:
    first = browser.get(stack.base + "/login", allow_redirects=False, timeout=5)
    second = browser.get(stack.base + "/login", allow_redirects=False, timeout=5)
    assert first.status_code == second.status_code == 303
    a, b = query(first.headers["location"]), query(second.headers["location"])
    assert first.headers["location"].startswith(stack.idp.url + "/oauth2/authorize?")
    assert a["client_id"] == CLIENT_ID and a["redirect_uri"] == stack.settings.redirect_url
    assert a["response_type"] == "code" and {"openid", "offline_access"} <= set(a["scope"].split())
    assert a["code_challenge_method"] == "S256" and len(a["code_challenge"]) == 43
    for name in ("state", "nonce", "code_challenge"):
        assert len(a[name]) >= 32 and a[name] != b[name], f"{name} must be fresh and random for each login"
    # The browser's cookie holds only a random id: state, nonce and verifier stay on the server.
    assert set(cookie_payload(browser)) == {"id"}
    (session,) = stack.sessions()
    assert set(session.pending) == {a["state"], b["state"]}
    assert session.pending[a["state"]].nonce == a["nonce"]


# --- a complete login ---------------------------------------------------------------------

def test_login_shows_welcome_userinfo_and_the_steps_with_secrets_shortened(stack: Stack, browser: requests.Session) -> None:
    browser.get(stack.base + "/", timeout=5)
    before = browser.cookies.get(COOKIE_NAME)
    home = log_in(browser, stack)
    assert "Welcome alice@example.com" in home.text
    assert "Alice Liddell" in home.text and "Engineering" in home.text  # the userinfo, shown
    assert step_titles(home) == [
        "Discovery: read the provider&#39;s configuration",
        "Send the browser to the authorization endpoint",
        "Your browser comes back to the redirect URI",
        "Exchange the code for tokens",
        "Fetch the signing keys (JWKS)",
        "Validate the ID token",
        "Fetch the user&#39;s info",
    ]
    for notebook in ("02-discovery", "03-authorization-request", "04-code-exchange", "05-id-token",
                     "06-userinfo-and-access-token"):
        assert f'href="http://notebooks.test/lab/tree/{notebook}.ipynb"' in home.text
    for check in ("signature", "iss", "aud", "exp", "iat", "nonce"):
        assert f'<span class="mark">✓</span>\n              <code>{check}</code>' in home.text, check
    # Secrets appear only by their first characters.
    tokens = stack.only_session().tokens
    assert tokens is not None and tokens.refresh_token
    for secret in (tokens.access_token, tokens.id_token, tokens.refresh_token, CLIENT_SECRET):
        assert secret not in plain(home)
    assert "client_secret=mock-sec…" in plain(home)
    assert re.search(r"code_verifier=[-\w]{8}…", plain(home)) and re.search(r"\?code=\w{8}…", plain(home))
    # Tokens never reach the browser; the session id changed at login (session fixation).
    assert set(cookie_payload(browser)) == {"id"}
    assert browser.cookies.get(COOKIE_NAME) != before


def test_a_flood_of_new_visitors_does_not_log_anyone_out(stack: Stack, browser: requests.Session,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request without a cookie makes a session and the store keeps at most MAX_SESSIONS:
    the ones nobody logged in to go first."""
    from walkthrough import sessions

    monkeypatch.setattr(sessions, "MAX_SESSIONS", 50)  # the same rule as at 2,000, with fewer requests
    assert "Welcome alice@example.com" in log_in(browser, stack).text
    with requests.Session() as strangers:
        for _ in range(120):
            strangers.cookies.clear()
            strangers.get(stack.base + "/nope", timeout=5)
    assert len(stack.app.state.sessions) <= 50 + 1  # trimmed before each new one is added
    assert "Welcome alice@example.com" in browser.get(stack.base + "/", timeout=5).text


def test_the_session_id_from_before_login_is_worthless_after(stack: Stack, browser: requests.Session) -> None:
    login_form(browser, stack)
    old_cookie = browser.cookies.get(COOKIE_NAME)
    log_in_from_form = browser.get(callback_url(browser, stack), timeout=10)
    assert "Welcome alice@example.com" in log_in_from_form.text
    with requests.Session() as attacker:
        attacker.cookies.set(COOKIE_NAME, old_cookie, domain="localhost.local")
        page = attacker.get(stack.base + "/", cookies={COOKIE_NAME: old_cookie}, timeout=5)
    assert page.status_code == 200 and "Welcome" not in page.text and "Hi there!" in page.text


def test_call_api_button_sends_the_access_token_and_shows_the_answer(stack: Stack, browser: requests.Session) -> None:
    home = log_in(browser, stack)
    page = browser.post(stack.base + "/call-api", data={"csrf_token": csrf(home)}, timeout=10)
    assert page.status_code == 200 and page.url == stack.base + "/"
    assert 'The protected API answered <span class="badge status s2">200</span>' in page.text
    assert "Hello from the protected API" in page.text
    assert "Authorization: Bearer eyJhbGci…" in page.text
    assert 'href="http://notebooks.test/lab/tree/09-calling-an-api.ipynb"' in page.text
    assert "Call the protected API" in step_titles(page)


def test_home_refreshes_an_expired_access_token_and_keeps_the_rotated_refresh_token(
        rotating_stack: Stack, browser: requests.Session) -> None:
    stack = rotating_stack
    log_in(browser, stack)
    first = stack.only_session().tokens
    stack.advance_clock(1800 + 60)  # past the access token's 30 minutes
    page = browser.get(stack.base + "/", timeout=10)
    assert page.status_code == 200 and "Welcome alice@example.com" in page.text
    assert any("The access token was refreshed" in n and "new refresh token (rotation)" in n for n in notices(page))
    assert step_titles(page)[-3:] == ["Refresh the access token", "Validate the ID token", "Fetch the user&#39;s info"]
    assert 'href="http://notebooks.test/lab/tree/07-refresh.ipynb"' in page.text
    second = stack.only_session().tokens
    assert second.refreshes == 1 and second.rotations == 1
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    # The rotated-out token is dead at the provider; the kept one works: the app stored the right one.
    assert refresh_grant(stack, first.refresh_token).json()["error"] == "invalid_grant"
    stack.advance_clock(1800 + 60)
    again = browser.get(stack.base + "/", timeout=10)
    assert "Welcome alice@example.com" in again.text and stack.only_session().tokens.refreshes == 2


def test_without_rotation_the_app_keeps_its_refresh_token(stack: Stack, browser: requests.Session) -> None:
    log_in(browser, stack)
    first = stack.only_session().tokens
    stack.advance_clock(1800 + 60)
    page = browser.get(stack.base + "/", timeout=10)
    assert any("The access token was refreshed" in n for n in notices(page))
    assert "No new refresh token (rotation is off)" in page.text
    second = stack.only_session().tokens
    assert second.refresh_token == first.refresh_token and second.access_token != first.access_token


def test_token_refused_before_expiry_is_refreshed_once(stack: Stack, browser: requests.Session) -> None:
    log_in(browser, stack)
    tokens = stack.only_session().tokens
    # Revoke only the access token: userinfo answers 401 although the app thinks it is fresh.
    assert requests.post(stack.idp.url + "/oauth2/revoke", data={"token": tokens.access_token}, timeout=5).ok
    page = browser.get(stack.base + "/", timeout=10)
    assert "Welcome alice@example.com" in page.text
    assert "refused with 401 before its expiry" in page.text
    assert stack.only_session().tokens.refreshes == 1


def test_failed_refresh_falls_back_to_a_fresh_login(stack: Stack, browser: requests.Session) -> None:
    log_in(browser, stack)
    tokens = stack.only_session().tokens
    # Revoking the refresh token kills its whole grant; the Authgear session itself lives on.
    assert requests.post(stack.idp.url + "/oauth2/revoke", data={"token": tokens.refresh_token}, timeout=5).ok
    # Sent to log in again; the IdP session lives, so Authgear asks "Continue as alice?", no password.
    page = continue_as(browser, browser.get(stack.base + "/", timeout=10))
    assert page.status_code == 200 and page.url == stack.base + "/"
    assert "Welcome alice@example.com" in page.text
    assert any("The refresh failed (invalid_grant)" in n for n in notices(page))
    titles = step_titles(page)
    assert "Refresh the access token" in titles
    assert titles[titles.index("Refresh the access token"):].count("Exchange the code for tokens") == 1
    assert stack.only_session().tokens.access_token != tokens.access_token


def test_a_second_automatic_login_right_after_the_first_stops_instead_of_looping(
        stack: Stack, browser: requests.Session) -> None:
    log_in(browser, stack)

    def kill_grant() -> None:
        token = stack.only_session().tokens.refresh_token
        assert requests.post(stack.idp.url + "/oauth2/revoke", data={"token": token}, timeout=5).ok

    kill_grant()
    again = continue_as(browser, browser.get(stack.base + "/", timeout=10))  # one click: Authgear's session lives
    assert "Welcome alice@example.com" in again.text
    kill_grant()
    page = browser.get(stack.base + "/", timeout=10)
    assert page.status_code == 502 and "Authgear keeps refusing the tokens" in page.text
    assert "Start over" in page.text


# --- logout -------------------------------------------------------------------------------

def test_logout_revokes_ends_the_idp_session_and_comes_back(stack: Stack, browser: requests.Session) -> None:
    home = log_in(browser, stack)
    tokens = stack.only_session().tokens
    answer = browser.post(stack.base + "/logout", data={"csrf_token": csrf(home)}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(stack.idp.url + "/oauth2/end_session?")
    params = query(location)
    assert params["id_token_hint"] == tokens.id_token
    assert params["post_logout_redirect_uri"] == stack.base + "/"
    assert len(params["state"]) >= 16
    back = browser.get(location, timeout=10)
    # Authgear sends the browser to /?state=…; the app checks it, then 303s to a clean "/" (no state
    # left in the address bar, the history or a bookmark) and says so there.
    assert back.url == stack.base + "/"
    assert [(r.status_code, r.url) for r in back.history][-1] == (303, stack.base + "/?state=" + params["state"])
    assert any("You are logged out of this app and of Authgear" in n for n in notices(back))
    assert "Hi there!" in back.text
    assert step_titles(back)[-2:] == ["Revoke the refresh token", "Log out at Authgear too (end_session)"]
    assert 'href="http://notebooks.test/lab/tree/08-logout-and-revocation.ipynb"' in back.text
    assert refresh_grant(stack, tokens.refresh_token).json()["error"] == "invalid_grant"
    # The Authgear session is over too: Login shows the password form again.
    login_form(browser, stack)


def test_logout_needs_the_csrf_token_and_get_only_asks(stack: Stack, browser: requests.Session) -> None:
    assert browser.get(stack.base + "/logout", allow_redirects=False, timeout=5).status_code == 303  # not logged in
    log_in(browser, stack)
    confirm = browser.get(stack.base + "/logout", timeout=5)
    assert confirm.status_code == 200 and "Log out?" in confirm.text and 'action="/logout"' in confirm.text
    for data in ({}, {"csrf_token": "forged"}):
        refused = browser.post(stack.base + "/logout", data=data, allow_redirects=False, timeout=5)
        assert refused.status_code == 400 and "This form has expired" in refused.text
    assert "Welcome alice@example.com" in browser.get(stack.base + "/", timeout=10).text  # still logged in
    assert browser.post(stack.base + "/call-api", data={}, timeout=5).status_code == 400


# --- errors from the provider and the callback --------------------------------------------

def test_cancel_at_the_login_page_gives_a_clear_page(stack: Stack, browser: requests.Session) -> None:
    page = submit(browser, login_form(browser, stack), True, action="cancel")
    assert page.status_code == 400 and page.url.startswith(stack.base + "/auth-redirect?error=access_denied")
    assert "You cancelled the login" in page.text and "<code>access_denied</code>" in page.text
    assert '<a class="button primary" href="/login">Start over</a>' in page.text
    # The step says what came back: an error and the state, no code.
    why = re.findall(r'<p class="why">(.*?)</p>', page.text, re.S)[-1]
    assert "with error=access_denied and state in the query" in why and "the login was cancelled" in why
    assert "code and state" not in why
    # Starting over works.
    assert "Welcome alice@example.com" in log_in(browser, stack).text


def test_a_replayed_code_gives_invalid_grant(stack: Stack, browser: requests.Session) -> None:
    used = callback_url(browser, stack)
    assert "Welcome" in browser.get(used, timeout=10).text
    # The same URL again: its state was used up.
    again = browser.get(used, timeout=10)
    assert again.status_code == 400 and "State mismatch" in again.text
    # The used code with the state of a new login: Authgear says invalid_grant.
    fresh = query(browser.get(stack.base + "/login", allow_redirects=False, timeout=5).headers["location"])
    replay = browser.get(stack.base + "/auth-redirect", params={"code": query(used)["code"], "state": fresh["state"]},
                         timeout=10)
    assert replay.status_code == 400 and "The code exchange failed" in replay.text
    assert "<code>invalid_grant</code>" in replay.text and "Start over" in replay.text
    # A fresh login does help here, and the page says so.
    assert "What to do next" in replay.text and "Start over: a new login brings a new code." in replay.text
    assert '<a class="button primary" href="/login">Start over</a>' in replay.text


def test_a_code_from_another_login_is_refused_thanks_to_pkce(stack: Stack, browser: requests.Session) -> None:
    with requests.Session() as attacker:
        stolen = query(callback_url(attacker, stack, "bob@example.com", "bob123"))["code"]
    victim_state = query(browser.get(stack.base + "/login", allow_redirects=False, timeout=5).headers["location"])["state"]
    page = browser.get(stack.base + "/auth-redirect", params={"code": stolen, "state": victim_state}, timeout=10)
    assert page.status_code == 400 and "<code>invalid_grant</code>" in page.text
    assert "Welcome" not in page.text and all(s.tokens is None for s in stack.sessions())


def test_state_mismatch_and_missing_code_are_refused(stack: Stack, browser: requests.Session) -> None:
    for params in ({"code": "abc"}, {"code": "abc", "state": "not-a-state-we-sent"}):
        page = browser.get(stack.base + "/auth-redirect", params=params, timeout=5)
        assert page.status_code == 400 and "State mismatch" in page.text and "login CSRF" in page.text
    state = query(browser.get(stack.base + "/login", allow_redirects=False, timeout=5).headers["location"])["state"]
    page = browser.get(stack.base + "/auth-redirect", params={"state": state}, timeout=5)
    assert page.status_code == 400 and "No authorization code in the URL" in page.text


def next_step(page: requests.Response) -> str:
    found = re.search(r'<div class="next-step">\s*<h2>What to do next</h2>\s*<p>(.*?)</p>', page.text, re.S)
    assert found, page.text[:800]
    return found.group(1)


def test_a_wrong_client_secret_says_which_setting_to_fix_not_start_over(browser: requests.Session) -> None:
    """Authgear answers a wrong secret with 400 invalid_request "invalid client secret": no new
    login can fix that, so the page names the setting and the restart, and offers no Start over."""
    running = start_stack(client_secret="not-the-secret", is_mock=False)  # as from a .env with a typo
    try:
        page = browser.get(callback_url(browser, running), timeout=10)
        assert page.status_code == 400 and "The code exchange failed" in page.text
        assert "<code>invalid_request</code>" in page.text and "invalid client secret" in page.text
        advice = next_step(page)
        assert "Check AUTHGEAR_CLIENT_SECRET in .env" in advice and "restart the app" in advice
        assert 'href="/login"' not in page.text.split('<section class="steps"')[0]  # no Start over
        assert '<a class="button primary" href="/">Home</a>' in page.text
        assert "The client secret the app sent is not this client&#39;s." in page.text  # the step's note
    finally:
        running.stop()


def test_a_client_the_mock_no_longer_knows_says_how_to_put_it_back(stack: Stack, browser: requests.Session) -> None:
    # With the bundled mock the settings are fixed: a wrong secret or an unknown client_id comes
    # from the mock's clients being changed through its teaching API.
    url = callback_url(browser, stack)
    assert requests.delete(stack.idp.url + "/_mock/clients/" + CLIENT_ID, timeout=5).ok
    page = browser.get(url, timeout=10)
    assert page.status_code == 502 and "<code>invalid_client</code>" in page.text
    advice = next_step(page)
    assert f"has no client {CLIENT_ID}" in advice and f"curl -X POST {stack.idp.url}/_mock/reset" in advice
    assert 'href="/login"' not in page.text.split('<section class="steps"')[0]

    requests.post(stack.idp.url + "/_mock/reset", timeout=5)
    client = {"client_id": CLIENT_ID, "client_secret": "changed", "redirect_uris": [stack.settings.redirect_url],
              "post_logout_redirect_uris": [stack.base + "/"]}
    assert requests.post(stack.idp.url + "/_mock/clients", json=client, timeout=5).status_code == 201
    page = browser.get(callback_url(browser, stack), timeout=10)
    assert page.status_code == 400 and "invalid client secret" in page.text
    assert "now expects another one" in next_step(page) and 'href="/login">Start over' not in page.text


def test_the_advice_for_each_error_the_app_recognises() -> None:
    from kit import advice

    real = Settings("https://demo.authgear.cloud", "abc123", "s3cret", "http://localhost:3000/auth-redirect",
                    is_mock=False)
    cases = {
        ("invalid_request", "invalid client secret"): ("AUTHGEAR_CLIENT_SECRET", False),
        ("invalid_client", "invalid client ID"): ("AUTHGEAR_CLIENT_ID", False),
        ("invalid_client", "client authentication failed"): ("AUTHGEAR_CLIENT_SECRET", False),
        ("invalid_request", "invalid redirect URI"): ("AUTHGEAR_REDIRECT_URL", True),
        ("invalid_grant", "invalid authorization code"): ("used already", True),
        ("unauthorized_client", ""): ("Confidential Client", False),
    }
    for (error, description), (words, start_over) in cases.items():
        found = advice.token_error(error, description, real)
        assert found and words in found.next_step and found.start_over is start_over, (error, description, found)
    assert advice.token_error("invalid_request", "code is required", real) is None  # not recognised: as before
    registered = advice.callback_error("invalid_request", "redirect_uri is not allowed for this client", real)
    assert registered and "http://localhost:3000/auth-redirect" in registered.next_step and not registered.start_over
    assert advice.callback_error("access_denied", "the user cancelled", real) is None


def test_an_unreachable_provider_gives_a_page_not_a_crash(browser: requests.Session) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://localhost:{closed.getsockname()[1]}"
    running = start_stack(endpoint=dead)
    try:
        started = time.monotonic()
        page = browser.get(running.base + "/login", timeout=10)
        assert page.status_code == 502 and "Authgear could not be reached" in page.text
        assert "Start over" in page.text and time.monotonic() - started < 5
        assert "Discovery: read the provider" in page.text  # the failed step is in the log
        token = SigningKey.generate().sign({"sub": "x"}, typ="at+jwt")
        api = requests.get(running.base + "/api/profile", headers={"Authorization": "Bearer " + token}, timeout=10)
        assert api.status_code == 503 and api.json()["error"] == "temporarily_unavailable"
    finally:
        running.stop()


def test_a_provider_that_never_answers_times_out(browser: requests.Session) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        running = start_stack(http_timeout=1.0, endpoint=f"http://localhost:{silent.getsockname()[1]}")
        try:
            started = time.monotonic()
            page = browser.get(running.base + "/login", timeout=10)
            assert page.status_code == 504 and "did not answer in time" in page.text
            assert time.monotonic() - started < 4
        finally:
            running.stop()
    finally:
        silent.close()


def test_an_issuer_mismatch_is_caught_at_discovery(browser: requests.Session) -> None:
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    idp = serve(host="localhost", port=0, config=mock_config(port))
    settings = Settings(endpoint=idp.url.replace("localhost", "127.0.0.1"), client_id=CLIENT_ID,
                        client_secret=CLIENT_SECRET, redirect_url=f"http://localhost:{port}/auth-redirect", is_mock=True)
    app_server = serve_in_thread(create_app(settings, session_secret="s" * 32), sock)
    try:
        page = browser.get(f"http://localhost:{port}/login", timeout=10)
        assert page.status_code == 502 and "issuer mismatch" in page.text
    finally:
        app_server.stop()
        idp.stop()


def test_idp_error_text_is_escaped(stack: Stack, browser: requests.Session) -> None:
    # The error of this browser's own login (its state): shown, as text.
    state = query(browser.get(stack.base + "/login", allow_redirects=False, timeout=5).headers["location"])["state"]
    page = browser.get(stack.base + "/auth-redirect", params={
        "error": "<b>bold</b>", "error_description": "<script>alert(1)</script>", "state": state}, timeout=5)
    assert page.status_code == 400 and "Authgear sent back an error" in page.text
    assert "<script>alert(1)</script>" not in plain(page) and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>bold</b>" not in plain(page) and "&lt;b&gt;bold&lt;/b&gt;" in page.text
    page = browser.get(stack.base + "/auth-redirect", params={"code": "c", "state": "<img src=x>"}, timeout=5)
    assert page.status_code == 400 and "State mismatch" in page.text and "<img src=x>" not in plain(page)


def test_bad_input_never_gives_a_500(stack: Stack, browser: requests.Session) -> None:
    home = log_in(browser, stack)
    attempts = [
        ("GET", "/auth-redirect?code=%ff%fe&state=%00%ff", {}),
        ("GET", "/auth-redirect?state=" + "a" * 20000, {}),
        ("GET", "/auth-redirect?state=&state=&code=&error=", {}),
        ("GET", "/?state=%ff", {}),
        ("POST", "/call-api", {"json": {"csrf_token": csrf(home)}}),
        ("POST", "/call-api", {"data": b"csrf_token=" + b"x" * 200000,
                               "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
        ("POST", "/logout", {"data": b"\xff\xfe", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}),
        ("PUT", "/", {}),
        ("GET", "/no/such/page", {}),
        ("GET", "/static/../app.py", {}),
        ("GET", "/api/profile", {"headers": {"Authorization": "Bearer a.b.c"}}),
        ("GET", "/api/profile", {"headers": {"Authorization": "Bearer " + "x" * 10000}}),
        ("POST", "/api/profile", {}),
        ("GET", "/api/nothing", {}),
    ]
    for method, path, extra in attempts:
        answer = browser.request(method, stack.base + path, allow_redirects=False, timeout=10, **extra)
        assert answer.status_code < 500, (method, path, answer.status_code)
        assert "Traceback" not in answer.text
    assert browser.get(stack.base + "/no/such/page", timeout=5).status_code == 404
    forged = requests.get(stack.base + "/", cookies={COOKIE_NAME: "forged.value.here"}, timeout=5)
    assert forged.status_code == 200 and "Hi there!" in forged.text
    assert "Welcome alice@example.com" in browser.get(stack.base + "/", timeout=10).text


# --- the protected API --------------------------------------------------------------------

def access_token(stack: Stack, scope: str) -> dict:
    """Tokens for the demo client straight from the mock (a login through its form)."""
    with requests.Session() as b:
        authorize = b.get(stack.idp.url + "/oauth2/authorize", params={
            "client_id": CLIENT_ID, "redirect_uri": stack.settings.redirect_url, "response_type": "code",
            "scope": scope, "state": "s"}, timeout=5)
        answer = submit(b, authorize, False, email="alice@example.com", password="alice123", action="login")
        code = query(answer.headers["location"])["code"]
    tokens = requests.post(stack.idp.url + "/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": stack.settings.redirect_url,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=5)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_api_answers_per_rfc_6750(stack: Stack) -> None:
    api = stack.base + "/api/profile"

    def get(token: str | None) -> requests.Response:
        headers = {"Authorization": "Bearer " + token} if token is not None else {}
        return requests.get(api, headers=headers, timeout=5)

    nothing = get(None)
    assert nothing.status_code == 401 and nothing.headers["www-authenticate"] == 'Bearer realm="walkthrough-api"'
    good = access_token(stack, "openid offline_access profile")
    ok = get(good["access_token"])
    assert ok.status_code == 200 and ok.json()["sub"] and ok.json()["scope"] == ["openid", "offline_access", "profile"]
    assert ok.headers["cache-control"] == "no-store"

    claims = jwt.decode(good["access_token"], options={"verify_signature": False})
    other_key = SigningKey.generate()
    cases = {
        "garbage": "not-a-jwt",
        "id token": good["id_token"],  # the classic mistake
        "foreign key": other_key.sign(claims, typ="at+jwt"),
        "wrong issuer": stack.idp.ctx.key.sign({**claims, "iss": "http://evil.example"}, typ="at+jwt"),
        "wrong audience": stack.idp.ctx.key.sign({**claims, "aud": [CLIENT_ID]}, typ="at+jwt"),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"}),
    }
    for name, token in cases.items():
        answer = get(token)
        assert answer.status_code == 401, name
        challenge = answer.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="walkthrough-api", error="invalid_token"'), (name, challenge)
        assert answer.json()["error"] == "invalid_token"
    assert "ID token" in get(good["id_token"]).json()["error_description"]

    narrow = access_token(stack, "openid offline_access")
    forbidden = get(narrow["access_token"])
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]
    assert 'scope="profile"' in forbidden.headers["www-authenticate"]

    stack.advance_clock(1800 + 60)  # the API follows the mock's clock: the token is now expired
    expired = get(good["access_token"])
    assert expired.status_code == 401 and "exp: expired" in expired.json()["error_description"]


# --- the ID token checks ------------------------------------------------------------------

def test_id_token_checks_refuse_each_kind_of_bad_token(stack: Stack) -> None:
    good = access_token(stack, "openid offline_access email")
    claims = jwt.decode(good["id_token"], options={"verify_signature": False})
    provider = Provider(stack.idp.url, Wire(5))
    clock = stack.app.state.clock
    clock.sync()  # the mock was just reset: its clock is the system's again
    client = OidcClient(stack.settings, provider, Wire(5), clock, stack.base + "/")
    key = stack.idp.ctx.key
    now = int(clock.now())

    def check(token: str, nonce: str | None = None) -> dict:
        return asyncio.run(client.validate_id_token(token, StepLog(), nonce=nonce))

    assert check(key.sign({**claims, "nonce": "n1"}, typ="JWT"), nonce="n1")["sub"] == claims["sub"]
    bad = {
        "signature": SigningKey.generate().sign(claims, typ="JWT"),
        "iss": key.sign({**claims, "iss": stack.idp.url + "/"}, typ="JWT"),  # a trailing slash is another issuer
        "aud": key.sign({**claims, "aud": ["someone-else"]}, typ="JWT"),
        "exp": key.sign({**claims, "iat": now - 900, "exp": now - 600}, typ="JWT"),
        "iat": key.sign({**claims, "iat": now + 600, "exp": now + 900}, typ="JWT"),
        "claims": key.sign({k: v for k, v in claims.items() if k != "sub"}, typ="JWT"),
        "alg": jwt.encode(claims, None, algorithm="none"),
        "nonce": key.sign({**claims, "nonce": "someone-elses"}, typ="JWT"),
    }
    for failed_check, token in bad.items():
        with pytest.raises(InvalidIdToken) as failure:
            check(token, nonce="n1")
        assert f"The check that failed: {failed_check}:" in failure.value.message, (failed_check, failure.value.message)


# --- one command ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_m_walkthrough_starts_the_mock_and_logs_in(tmp_path: Path, browser: requests.Session) -> None:
    port, mock_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGEAR_", "WALKTHROUGH_"))}
    env.update(KIT_ENV_FILE=str(tmp_path / "no.env"), PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "walkthrough", "--port", str(port), "--mock-port", str(mock_port)],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if browser.get(base + "/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.1)
        page = browser.get(base + "/login", timeout=10)
        assert page.url.startswith(f"http://localhost:{mock_port}/login?"), page.url
        home = submit(browser, page, True, email="bob@example.com", password="bob123", action="login")
        assert home.url == base + "/" and "Welcome bob@example.com" in home.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    text = "".join(output)
    assert f"Started the bundled mock at http://localhost:{mock_port}" in text
    assert f"Walkthrough at http://localhost:{port}" in text


# --- regressions from the security review -----------------------------------------------------

def pages_of(stack: Stack):
    """The app's Pages object (its client, wire and token keeper), found through its routes."""
    return next(route.endpoint.__self__ for route in stack.app.routes if getattr(route, "name", None) == "home")


def test_a_non_ascii_state_after_logout_is_refused_not_a_500(stack: Stack, browser: requests.Session) -> None:
    home = log_in(browser, stack)
    out = browser.post(stack.base + "/logout", data={"csrf_token": csrf(home)}, allow_redirects=False, timeout=10)
    assert out.status_code == 303
    state = query(out.headers["location"])["state"]  # the session now waits for this state to come back
    for wrong in ("é", "☃" * 30, state[:-1] + "é", "\x00"):
        page = browser.get(stack.base + "/", params={"state": wrong}, timeout=5)
        assert page.status_code == 200 and "Hi there!" in page.text, (wrong, page.status_code)
        assert not any("You are logged out" in n for n in notices(page))
    page = browser.get(stack.base + "/", params={"state": state}, timeout=5)  # the right one still works
    assert any("You are logged out of this app and of Authgear" in n for n in notices(page))
    # A non-ASCII CSRF token is refused as a form from elsewhere, not a crash.
    answer = browser.post(stack.base + "/call-api", data={"csrf_token": "é"}, timeout=5)
    assert answer.status_code == 400 and "This form has expired" in answer.text


def test_idp_error_text_is_shown_only_for_this_browsers_own_login(stack: Stack, browser: requests.Session) -> None:
    phishing = "Your account is locked. Call +1 555 0100 now"
    for state in (None, "", "made-up-state", "é"):
        params = {"error": "access_denied", "error_description": phishing, "error_uri": "http://evil.example/help"}
        if state is not None:
            params["state"] = state
        page = browser.get(stack.base + "/auth-redirect", params=params, timeout=5)
        assert page.status_code == 400 and "State mismatch" in page.text, (state, page.text[:300])
        for text in ("Call +1 555", "Call+%2B1", "555 0100", "evil.example", "You cancelled the login"):
            assert text not in plain(page), (state, text)
    # The same error with the state of a login this browser started: Authgear's own words, shown.
    started = query(browser.get(stack.base + "/login", allow_redirects=False, timeout=5).headers["location"])["state"]
    page = browser.get(stack.base + "/auth-redirect", params={
        "error": "access_denied", "error_description": "The user cancelled", "state": started}, timeout=5)
    assert page.status_code == 400 and "You cancelled the login" in page.text
    assert "<code>access_denied</code>" in page.text and "The user cancelled" in page.text
    # Used up: the same URL again is a state mismatch, without the description.
    again = browser.get(page.url, timeout=5)
    assert "State mismatch" in again.text and "The user cancelled" not in plain(again).split("<footer")[0].split(
        "step-title")[0]


class PausedRefresh:
    """Holds the app's refresh after Authgear answered it, before the app stores the result."""

    def __init__(self, stack: Stack) -> None:
        self.wire = pages_of(stack).client.wire
        self.reached = threading.Event()
        self.release = threading.Event()
        self.answers: list = []

    def __enter__(self) -> "PausedRefresh":
        original = self.wire.call

        async def call(log, step, method, url, **kwargs):
            answer = await original(log, step, method, url, **kwargs)
            if step.kind == "refresh":
                self.answers.append(answer)
                self.reached.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.01)
            return answer

        self.wire.call = call
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        del self.wire.call


def in_thread(results: dict, name: str, call) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.__setitem__(name, call()), daemon=True)
    thread.start()
    return thread


def test_a_logout_during_a_refresh_is_not_undone(rotating_stack: Stack, browser: requests.Session) -> None:
    stack = rotating_stack
    home = log_in(browser, stack)
    first = stack.only_session().tokens
    stack.advance_clock(1800 + 60)
    other_tab = requests.Session()
    other_tab.cookies.update(browser.cookies)
    results: dict = {}
    with PausedRefresh(stack) as paused:
        reload = in_thread(results, "reload", lambda: other_tab.get(stack.base + "/", allow_redirects=False, timeout=30))
        assert paused.reached.wait(10), "the reload did not refresh"
        logout = in_thread(results, "logout", lambda: browser.post(
            stack.base + "/logout", data={"csrf_token": csrf(home)}, allow_redirects=False, timeout=30))
        logout.join(1.0)
        assert logout.is_alive(), "the logout must wait for the refresh in progress (the session's lock)"
        paused.release.set()
        reload.join(30)
        logout.join(30)
    assert results["logout"].status_code == 303
    assert results["logout"].headers["location"].startswith(stack.idp.url + "/oauth2/end_session?")
    assert all(s.tokens is None for s in stack.sessions()), "the refresh brought the tokens back after the logout"
    assert results["reload"].status_code in (200, 303) and "Welcome" not in results["reload"].text
    # The logout revoked the refresh token the refresh had just rotated in: nothing lives on.
    rotated = paused.answers[0].json["refresh_token"]
    assert rotated != first.refresh_token
    assert refresh_grant(stack, rotated).json()["error"] == "invalid_grant"
    assert "Hi there!" in browser.get(stack.base + "/", timeout=10).text


def test_a_refresh_stores_nothing_if_the_session_changed_meanwhile(rotating_stack: Stack) -> None:
    """The keeper itself, against the real mock: whatever replaced (or dropped) the session's
    tokens while the refresh was on the wire wins."""
    import dataclasses

    from walkthrough.errors import LoginRequired
    from walkthrough.refresh import TokenKeeper

    stack = rotating_stack
    clock = stack.app.state.clock
    clock.sync()

    class Meddling(Wire):
        replacement = None

        async def call(self, log, step, method, url, **kwargs):
            answer = await super().call(log, step, method, url, **kwargs)
            if step.kind == "refresh":
                self.answers.append(answer.json)
                session.tokens = self.replacement  # as a logout or a new login would, meanwhile
            return answer

    for meddle in ("logout", "new login"):
        stack.app.state.sessions.clear()
        with requests.Session() as fresh_browser:
            log_in(fresh_browser, stack)  # a grant of its own for each round
        logged_in = stack.only_session().tokens
        replacement = None if meddle == "logout" else dataclasses.replace(logged_in, access_token="newer")
        wire = Meddling(5)
        wire.answers, wire.replacement = [], replacement
        client = OidcClient(stack.settings, Provider(stack.idp.url, wire), wire, clock, stack.base + "/")
        tokens = dataclasses.replace(logged_in, expires_at=0.0)  # due for a refresh
        session = SessionData(id="keeper-test", tokens=tokens)

        async def run():
            return await TokenKeeper(client).tokens(session)

        if replacement is None:
            with pytest.raises(LoginRequired):
                asyncio.run(run())
        else:
            assert asyncio.run(run()) is replacement
        assert session.tokens is replacement, "the refreshed tokens overwrote what the session holds now"
        # The refresh token the discarded refresh brought back is revoked, not left alive.
        rotated = wire.answers[0]["refresh_token"]
        assert refresh_grant(stack, rotated).json()["error"] == "invalid_grant"


def test_a_nested_redirect_path_keeps_every_link_and_redirect_working(browser: requests.Session) -> None:
    running = start_stack(redirect_path="/auth/callback")
    try:
        assert running.settings.redirect_url.endswith("/auth/callback")
        home = log_in(browser, running)  # the callback's redirect lands on /, not /auth/
        assert "Welcome alice@example.com" in home.text
        for link in ('href="/static/walkthrough.css"', 'action="/call-api"', 'action="/logout"', 'href="/"'):
            assert link in home.text, link
        api = browser.post(running.base + "/call-api", data={"csrf_token": csrf(home)}, timeout=10)
        assert api.url == running.base + "/" and "Hello from the protected API" in api.text
        # An error page at the nested path: its links and stylesheet are absolute too.
        refused = browser.get(running.base + "/auth/callback", params={"code": "c", "state": "s"}, timeout=5)
        assert refused.status_code == 400 and "State mismatch" in refused.text
        for link in ('href="/login">Start over', 'href="/">Home', 'href="/static/walkthrough.css"'):
            assert link in refused.text, link
        css = browser.get(urllib.parse.urljoin(refused.url, "/static/walkthrough.css"), timeout=5)
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        # The automatic re-login redirect is absolute as well.
        tokens = running.only_session().tokens
        assert requests.post(running.idp.url + "/oauth2/revoke", data={"token": tokens.refresh_token}, timeout=5).ok
        running.advance_clock(1800 + 60)
        relogin = browser.get(running.base + "/", allow_redirects=False, timeout=10)
        assert relogin.status_code == 303 and relogin.headers["location"] == "/login"
        # Authgear's session lives: "Continue as alice", then home.
        page = continue_as(browser, browser.get(running.base + relogin.headers["location"], timeout=10))
        assert page.url == running.base + "/" and "Welcome alice@example.com" in page.text
        # Logout from the nested setup, all the way back.
        confirm = browser.get(running.base + "/logout", timeout=5)
        out = browser.post(running.base + "/logout", data={"csrf_token": csrf(confirm)}, allow_redirects=False,
                           timeout=10)
        assert out.status_code == 303 and query(out.headers["location"])["post_logout_redirect_uri"] == running.base + "/"
    finally:
        running.stop()


def test_id_token_after_refresh_must_match_the_first_and_several_audiences_need_azp(stack: Stack) -> None:
    good = access_token(stack, "openid offline_access email")
    first = jwt.decode(good["id_token"], options={"verify_signature": False})
    assert first["auth_time"] and first["aud"] == [CLIENT_ID]  # what the mock sends, like Authgear
    provider = Provider(stack.idp.url, Wire(5))
    clock = stack.app.state.clock
    clock.sync()
    client = OidcClient(stack.settings, provider, Wire(5), clock, stack.base + "/")
    key = stack.idp.ctx.key
    now = int(clock.now())
    later = {**first, "iat": now, "exp": now + 3600}
    later.pop("nonce", None)

    def check(claims: dict, previous: dict | None = None, nonce: str | None = None) -> dict:
        return asyncio.run(client.validate_id_token(key.sign(claims, typ="JWT"), StepLog(), nonce=nonce,
                                                    previous=previous))

    # A refreshed ID token like Authgear's: the same login, new times, no nonce. Or the first nonce.
    assert check(later, previous=first)["sub"] == first["sub"]
    assert check({**later, "nonce": "n0"}, previous={**first, "nonce": "n0"})["sub"] == first["sub"]
    assert check({**later, "aud": CLIENT_ID}, previous=first)  # a string is the same single audience
    changed = {
        "sub": {**later, "sub": "someone-else"},
        "aud": {**later, "aud": [CLIENT_ID, "another-client"], "azp": CLIENT_ID},
        "azp": {**later, "azp": CLIENT_ID},  # the first had none: the new one must not either
        "auth_time": {**later, "auth_time": first["auth_time"] + 60},  # a refresh is not a new login
        "nonce": {**later, "nonce": "another-nonce"},
    }
    for name, claims in changed.items():
        with pytest.raises(InvalidIdToken) as failure:
            check(claims, previous=first)
        assert f"The check that failed: {name}:" in failure.value.message, (name, failure.value.message)
    # iss: the new token's issuer must be the first one's (and the configured one).
    with pytest.raises(InvalidIdToken, match="The check that failed: iss:"):
        check(later, previous={**first, "iss": "http://other.example"})

    # OIDC Core §3.1.3.7 steps 3-5, at login.
    login = {**first, "iat": now, "exp": now + 3600, "nonce": "n1"}
    assert check({**login, "aud": [CLIENT_ID, "api"], "azp": CLIENT_ID}, nonce="n1")["azp"] == CLIENT_ID
    for claims in ({**login, "aud": [CLIENT_ID, "api"]},  # several audiences, no azp
                   {**login, "aud": [CLIENT_ID, "api"], "azp": "api"},  # issued to another client
                   {**login, "azp": "another-client"}):  # one audience, but azp names another client
        with pytest.raises(InvalidIdToken, match="The check that failed: azp:"):
            check(claims, nonce="n1")


def test_the_api_call_goes_to_the_configured_origin_whatever_the_host_header(
        stack: Stack, browser: requests.Session) -> None:
    home = log_in(browser, stack)
    evil = FakeProvider(json_answer(b"{}"))
    try:
        # (The cookie by hand: requests would match the jar against the Host header.)
        answer = requests.post(stack.base + "/call-api", data={"csrf_token": csrf(home)}, allow_redirects=False,
                               headers={"Host": f"127.0.0.1:{evil.port}",
                                        "Cookie": f"{COOKIE_NAME}={browser.cookies.get(COOKIE_NAME)}"}, timeout=10)
        assert answer.status_code == 303
    finally:
        evil.stop()
    assert evil.heads == [], "the access token went to the host the Host header named"
    page = browser.get(stack.base + "/", timeout=10)
    assert 'The protected API answered <span class="badge status s2">200</span>' in page.text
    api_steps = [s for s in stack.only_session().steps if s.kind == "api"]
    assert api_steps[-1].url == stack.base + "/api/profile"


def test_odd_numbers_from_the_provider_are_not_a_500(stack: Stack, browser: requests.Session) -> None:
    # expires_in of 10**20 seconds (the mock sends what its client is configured with). Its
    # teaching API refuses such a lifetime, so this odd provider is made in the store directly.
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "access_token_lifetime": 10**20,
              "redirect_uris": [stack.settings.redirect_url], "post_logout_redirect_uris": [stack.base + "/"]}
    assert requests.post(stack.idp.url + "/_mock/clients", json=client, timeout=5).status_code == 400
    with stack.idp.ctx.store.lock:
        stack.idp.ctx.store.config.clients[CLIENT_ID] = Client(**client)
    home = log_in(browser, stack)
    assert "Welcome alice@example.com" in home.text
    tokens = stack.only_session().tokens
    assert tokens.expires_at - stack.app.state.clock.now() <= 366 * 86400  # read as a year at most
    # The API refuses such an access token (exp is no usable time) with a 401, not a crash.
    api = requests.get(stack.base + "/api/profile", headers={"Authorization": "Bearer " + tokens.access_token},
                       timeout=5)
    assert api.status_code == 401 and "exp" in api.json()["error_description"]
    # Signed by the provider's own key: Infinity and NaN, which JSON parsers accept.
    claims = jwt.decode(access_token(stack, "openid profile")["access_token"], options={"verify_signature": False})
    claims["exp"] = claims["iat"] + 600  # the usual life (this client's is 10**20 s)
    key = stack.idp.ctx.key
    for odd in ({"exp": float("inf")}, {"exp": float("nan")}, {"iat": float("-inf")}, {"exp": 10**400}):
        answer = requests.get(stack.base + "/api/profile",
                              headers={"Authorization": "Bearer " + key.sign({**claims, **odd}, typ="at+jwt")}, timeout=5)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_token", (odd, answer.text[:200])
    answer = requests.get(stack.base + "/api/profile", headers={"Authorization": "Bearer " + key.sign(
        {**claims, "client_id": float("nan"), "https://authgear.com/claims/user/roles": [float("inf"), "admin"]},
        typ="at+jwt")}, timeout=5)
    assert answer.status_code == 200 and answer.json()["client_id"] is None and answer.json()["roles"] == ["admin"]


def test_userinfo_about_another_user_is_not_used(stack: Stack, browser: requests.Session) -> None:
    log_in(browser, stack)
    alice = stack.only_session()
    with requests.Session() as other:
        log_in(other, stack, "bob@example.com", "bob123")
    bob = next(s for s in stack.sessions() if s.tokens is not None and s is not alice)
    alice.tokens.access_token = bob.tokens.access_token  # a mix-up: Bob's access token in Alice's session
    page = browser.get(stack.base + "/", timeout=10)
    assert page.status_code == 502 and "Could not read your info" in page.text and "Welcome" not in page.text
    # The step log shows the exchange as it was (the teaching view), marked as not used.
    assert "The sub differs from the ID token&#39;s: the answer is not used." in page.text
    assert alice.userinfo is None or alice.userinfo["email"] == "alice@example.com"


class FakeProvider:
    """A server that is not the mock, for answers the mock never gives: each connection is
    handed to `answer(conn, stop)` after the request head has been read."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://localhost:{self.port}"
        self.heads: list[bytes] = []  # the request heads received, in order
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                self.heads.append(head)
                self.answer(conn, self.stopped)
            except OSError:
                pass

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def json_answer(body: bytes):
    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    return answer


def drip(head_too: bool):
    """One byte every 0.2 s, for 15 s: each read gets something, so no read timeout ever fires."""
    def answer(conn: socket.socket, stop: threading.Event) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        if not head_too:
            conn.sendall(head)
        data = (head if head_too else b"") + b"[" * 1000
        for byte in data[:75]:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)
    return answer


@pytest.mark.parametrize("head_too", [False, True], ids=["body", "headers"])
def test_a_provider_that_drips_its_answer_is_cut_off(browser: requests.Session, head_too: bool) -> None:
    fake = FakeProvider(drip(head_too))
    running = start_stack(http_timeout=1.0, endpoint=fake.url)
    try:
        started = time.monotonic()
        page = browser.get(running.base + "/login", timeout=20)
        elapsed = time.monotonic() - started
        assert page.status_code == 504 and "did not answer in time" in page.text, page.status_code
        assert elapsed < 4, f"the page took {elapsed:.1f} s: the whole exchange has a deadline (2 × 1 s)"
    finally:
        running.stop()
        fake.stop()


def test_deep_or_huge_json_from_the_provider_is_not_a_500(browser: requests.Session) -> None:
    nested = {"a": None}
    inner = nested
    for _ in range(900):
        inner["a"] = {"a": None}
        inner = inner["a"]
    answers = {
        "deeper than json can parse": b"[" * 5000 + b"]" * 5000,
        "deeper than the pages walk": json.dumps({"issuer": "x", "x": nested}).encode(),
        "larger than any provider answer": b'{"x": "' + b"a" * (3 * 1024 * 1024) + b'"}',
    }
    for name, body in answers.items():
        fake = FakeProvider(json_answer(body))
        running = start_stack(endpoint=fake.url)
        try:
            page = browser.get(running.base + "/login", timeout=20)
            assert page.status_code == 502, (name, page.status_code)
            assert "Discovery failed" in page.text or "too large" in page.text, name
        finally:
            running.stop()
            fake.stop()
