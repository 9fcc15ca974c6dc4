"""kit.notebook's wire views, over real HTTP against a mock on a free port: show(raw=True) prints
every header, show(curl=True) / curl_command() print a curl command that holds no secret and,
with the shell variables set, sends the same request; show_browser_leg() prints the browser's
requests of a login from the mock's exchange log.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from kit import notebook
from kit.notebook import curl_command, exchange_advice, exchange_count, show, show_browser_leg
from kit.settings import Settings
from mock_idp import RunningServer
from mock_idp.browser import Browser

CLIENT_ID, CLIENT_SECRET = "mock-client", "mock-secret"
REDIRECT = "http://localhost:3000/auth-redirect"


def printed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        function(*args, **kwargs)
    return buffer.getvalue()


@pytest.fixture
def settings(idp: RunningServer) -> Settings:
    return Settings(idp.url, CLIENT_ID, CLIENT_SECRET, REDIRECT, is_mock=True)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with Browser() as person:
        yield person


def authorization_url(idp: RunningServer, challenge: str, state: str = "st4te") -> str:
    return idp.url + "/oauth2/authorize?" + urllib.parse.urlencode({
        "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid offline_access email", "state": state, "nonce": "n0nce",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })


def fresh_code(idp: RunningServer, browser: Browser) -> tuple[str, str]:
    """(code, code_verifier) from a login in `browser`."""
    verifier, challenge = notebook.pkce_pair()
    landed = browser.login(authorization_url(idp, challenge), until=REDIRECT,
                           email="alice@example.com", password="alice123")
    return landed.params["code"], verifier


def token_request(idp: RunningServer, code: str, verifier: str, basic: bool = False) -> requests.PreparedRequest:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    headers = {}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    else:
        data.update(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return requests.Request("POST", idp.url + "/oauth2/token", headers=headers, data=data).prepare()


def send(request: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as session:
        return session.send(request, timeout=10, allow_redirects=False)


def tokens(idp: RunningServer, browser: Browser) -> dict[str, str]:
    code, verifier = fresh_code(idp, browser)
    response = send(token_request(idp, code, verifier))
    assert response.status_code == 200, response.text
    return response.json()


# -- the curl command, as a shell reads it ------------------------------------------------

def shell_words(command: str, variables: dict[str, str]) -> list[str]:
    """The words bash makes of the printed command (its quoting, its variables), without
    running curl: a `curl` function that prints its arguments stands in for it."""
    script = 'curl() { printf "%s\\0" "$@"; }\n' + command
    result = subprocess.run(["bash", "-c", script], env={"PATH": os.environ.get("PATH", ""), **variables},
                            capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.split("\0")[:-1]


def rebuild(words: list[str]) -> requests.PreparedRequest:
    """The request curl would send for these arguments, rebuilt with requests."""
    method, url, get = None, None, False
    headers: dict[str, str] = {}
    fields: list[tuple[str, str]] = []
    raw: str | None = None
    auth = None
    arguments = iter(words)
    for word in arguments:
        if word == "-i":
            continue
        if word == "-G":
            get = True
        elif word == "--head":
            method = "HEAD"
        elif word == "-X":
            method = next(arguments)
        elif word == "--user":
            user, _, password = next(arguments).partition(":")
            auth = (user, password)
        elif word == "-H":
            name, _, value = next(arguments).partition(": ")
            headers[name] = value
        elif word == "--data-urlencode":
            name, _, value = next(arguments).partition("=")
            fields.append((name, value))
        elif word == "--data-raw":
            raw = next(arguments)
        elif word.startswith("-"):
            raise AssertionError(f"an option the test does not know: {word}")
        else:
            assert url is None, f"two URLs: {url} and {word}"
            url = word
    assert url is not None, words
    if get:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(fields)
        fields = []
    has_data = bool(fields) or raw is not None
    method = method or ("POST" if has_data else "GET")
    return requests.Request(method, url, headers=headers, auth=auth,
                            data=fields if fields else raw).prepare()


def same_request(original: requests.PreparedRequest, copy: requests.PreparedRequest) -> None:
    assert copy.method == original.method
    a, b = urllib.parse.urlsplit(original.url), urllib.parse.urlsplit(copy.url)
    assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
    assert urllib.parse.parse_qsl(a.query) == urllib.parse.parse_qsl(b.query)
    for name in ("Authorization", "Content-Type"):
        assert copy.headers.get(name) == original.headers.get(name), name
    body = (original.body or b"")
    body = body.decode() if isinstance(body, bytes) else body
    copied = copy.body or ""
    copied = copied.decode() if isinstance(copied, bytes) else copied
    if original.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        assert urllib.parse.parse_qsl(copied, keep_blank_values=True) == \
            urllib.parse.parse_qsl(body, keep_blank_values=True)
    else:
        assert copied == body


def secrets_of(request: requests.PreparedRequest) -> dict[str, str]:
    """The shell variables a printed command needs for this request, with their values."""
    values = {"CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET}
    parts = urllib.parse.urlsplit(request.url)
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    for name, value in urllib.parse.parse_qsl(parts.query) + urllib.parse.parse_qsl(body):
        if name in notebook.SECRET_NAMES:
            values[name.upper()] = value
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        values["ACCESS_TOKEN"] = authorization.split(" ", 1)[1]
    return values


# -- show(): the default view stays as it was ---------------------------------------------

def test_the_default_view_is_unchanged(idp: RunningServer) -> None:
    response = send(requests.Request("POST", idp.url + "/oauth2/token", data={
        "grant_type": "authorization_code", "code": "not-a-real-code", "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code_verifier": "v" * 43}).prepare())
    assert printed(show, response) == (
        f"POST {idp.url}/oauth2/token\n"
        "Content-Type: application/x-www-form-urlencoded\n"
        "\n"
        "grant_type=authorization_code&\n"
        "code=not-a-re…&\n"
        "redirect_uri=http://localhost:3000/auth-redirect&\n"
        "client_id=mock-client&\n"
        "client_secret=mock-sec…&\n"
        "code_verifier=vvvvvvvv…\n"
        "\n"
        "HTTP 400 Bad Request\n"
        "Content-Type: application/json\n"
        "Cache-Control: no-store\n"
        "\n"
        "{\n"
        '  "error": "invalid_grant",\n'
        '  "error_description": "invalid authorization code"\n'
        "}\n"
        # A code exchange's error the kit recognises: what it means and what to do next, after the wire.
        "\n" + exchange_advice(response) + "\n"
    )
    assert exchange_advice(response).startswith("→ What it means: The code was already used")
    assert printed(show, response, curl=True) == printed(show, response) + "\n" + curl_command(response.request) + "\n"


# -- show(raw=True) -------------------------------------------------------------------------

def test_the_raw_view_prints_every_header_set_cookie_included(idp: RunningServer) -> None:
    response = requests.get(authorization_url(idp, "c" * 43), allow_redirects=False, timeout=10)
    cookie = response.cookies["mock_idp_browser"]
    out = printed(show, response, raw=True)
    lines = out.splitlines()
    path = urllib.parse.urlsplit(response.request.url)
    assert lines[0] == f"GET {path.path}?{path.query} HTTP/1.1"
    assert lines[1] == f"Host: {path.netloc}"
    for name, value in response.request.headers.items():
        assert f"{name}: {value}" in lines
    assert "HTTP/1.1 303 See Other" in lines
    wire = list(response.raw.headers.items())
    assert any(name.lower() == "set-cookie" for name, _ in wire)
    for name, value in wire:
        if name.lower() == "set-cookie":
            assert any(line.startswith(f"{name}: mock_idp_browser={cookie[:6]}…;") and "HttpOnly" in line
                       for line in lines), out
        else:
            assert f"{name}: {value}" in lines, (name, out)
    assert cookie not in out


def test_the_raw_view_shortens_every_secret(idp: RunningServer, browser: Browser) -> None:
    code, verifier = fresh_code(idp, browser)
    response = send(token_request(idp, code, verifier, basic=True))
    assert response.status_code == 200, response.text
    out = printed(show, response, raw=True)
    assert "POST /oauth2/token HTTP/1.1" in out
    assert "Content-Length: " in out and "Authorization: Basic " in out
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fauth-redirect&" in out  # as it was sent
    assert '"token_type":"Bearer"' in out  # the body as it came, not re-indented
    basic = response.request.headers["Authorization"].split()[1]
    for secret in (code, verifier, basic, CLIENT_SECRET, *response.json().values()):
        if isinstance(secret, str) and len(secret) > 6 and secret not in ("Bearer",):
            assert secret not in out, secret


# -- curl ------------------------------------------------------------------------------------

def test_curl_writes_no_secret_only_shell_variables(idp: RunningServer, browser: Browser) -> None:
    code, verifier = fresh_code(idp, browser)
    post = token_request(idp, code, verifier)
    answer = send(post)
    issued = answer.json()
    basic = token_request(idp, *fresh_code(idp, browser), basic=True)
    userinfo = requests.Request("GET", idp.url + "/oauth2/userinfo",
                                headers={"Authorization": "Bearer " + issued["access_token"]}).prepare()
    refresh = requests.Request("POST", idp.url + "/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).prepare()
    revoke = requests.Request("POST", idp.url + "/oauth2/revoke", data={"token": issued["refresh_token"]}).prepare()
    end_session = requests.Request("GET", idp.url + "/oauth2/end_session", params={
        "id_token_hint": issued["id_token"], "post_logout_redirect_uri": "http://localhost:3000/"}).prepare()
    secret_values = [code, verifier, CLIENT_SECRET, issued["access_token"], issued["refresh_token"],
                     issued["id_token"], basic.headers["Authorization"].split()[1]]
    expected = {
        "post": ['"code=$CODE"', '"client_secret=$CLIENT_SECRET"', '"code_verifier=$CODE_VERIFIER"'],
        "basic": ['--user "$CLIENT_ID:$CLIENT_SECRET"', '"code=$CODE"'],
        "userinfo": ['-H "Authorization: Bearer $ACCESS_TOKEN"'],
        "refresh": ['"refresh_token=$REFRESH_TOKEN"', '"client_secret=$CLIENT_SECRET"'],
        "revoke": ['"token=$TOKEN"'],
        "end_session": ["-G", '"id_token_hint=$ID_TOKEN_HINT"'],
    }
    requests_ = {"post": post, "basic": basic, "userinfo": userinfo, "refresh": refresh, "revoke": revoke,
                 "end_session": end_session}
    for name, request in requests_.items():
        command = curl_command(request)
        for secret in secret_values:
            assert secret not in command, (name, command)
            assert secret[:8] not in command, (name, command)  # not even its start
        for piece in expected[name]:
            assert piece in command, (name, command)
        lines = [line for line in command.splitlines() if not line.startswith("#")]
        assert lines[0].startswith("curl ")
        assert all(line.endswith(" \\") for line in lines[:-1]) and not lines[-1].endswith("\\")
    assert "'client_id=mock-client'" in curl_command(post)
    assert f"curl -i '{idp.url}/oauth2/token'" in curl_command(post)
    assert "$CLIENT_SECRET" in printed(show, answer, curl=True)


def test_curl_is_the_same_for_the_same_request(idp: RunningServer, browser: Browser) -> None:
    first = token_request(idp, *fresh_code(idp, browser))
    second = token_request(idp, *fresh_code(idp, browser))
    assert first.body != second.body  # another code, another verifier
    assert curl_command(first) == curl_command(second)


def test_curl_quotes_values_that_are_not_secrets_safely(idp: RunningServer) -> None:
    request = requests.Request("POST", idp.url + "/x", data={"a": "it's $HOME `id` \"q\"", "code": "abc"}).prepare()
    words = shell_words(curl_command(request), {"CODE": "abc"})
    same_request(request, rebuild(words))
    assert "--data-urlencode" in words and "a=it's $HOME `id` \"q\"" in words


def test_the_printed_curl_sends_the_same_token_request(idp: RunningServer, browser: Browser) -> None:
    for basic in (False, True):
        original = token_request(idp, *fresh_code(idp, browser), basic=basic)
        copy = rebuild(shell_words(curl_command(original), secrets_of(original)))
        same_request(original, copy)
        answer = send(copy)  # the copy redeems the code ...
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) >= {"access_token", "id_token", "refresh_token", "token_type"}
        replay = send(original)  # ... so it was that code: the original now finds it used
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_the_printed_curl_gets_the_same_answer_from_userinfo_and_end_session(idp: RunningServer,
                                                                            browser: Browser) -> None:
    issued = tokens(idp, browser)
    userinfo = requests.Request("GET", idp.url + "/oauth2/userinfo",
                                headers={"Authorization": "Bearer " + issued["access_token"]}).prepare()
    copy = rebuild(shell_words(curl_command(userinfo), secrets_of(userinfo)))
    same_request(userinfo, copy)
    assert send(copy).json() == send(userinfo).json()
    end_session = requests.Request("GET", idp.url + "/oauth2/end_session", params={
        "id_token_hint": issued["id_token"], "post_logout_redirect_uri": "http://localhost:3000/"}).prepare()
    copy = rebuild(shell_words(curl_command(end_session), secrets_of(end_session)))
    same_request(end_session, copy)


def test_the_printed_curl_runs_in_bash_with_curl(idp: RunningServer, browser: Browser) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is missing: run `make test` (scripts/install-browser.sh installs it with chromium)",
                    pytrace=False)
    issued = tokens(idp, browser)
    userinfo = requests.Request("GET", idp.url + "/oauth2/userinfo",
                                headers={"Authorization": "Bearer " + issued["access_token"]}).prepare()
    original = token_request(idp, *fresh_code(idp, browser), basic=True)
    for request, status in ((userinfo, 200), (original, 200)):
        variables = {"PATH": os.environ.get("PATH", ""), **secrets_of(request)}
        result = subprocess.run(["bash", "-c", curl_command(request) + " --silent --show-error"], env=variables,
                                capture_output=True, text=True, timeout=20)
        assert result.returncode == 0, result.stderr
        head, _, body = result.stdout.partition("\n\n")  # text=True: \r\n read as \n
        assert head.split()[1] == str(status), result.stdout
        if request is userinfo:
            assert json.loads(body) == send(userinfo).json()
        else:
            assert "access_token" in body
            assert send(original).json()["error"] == "invalid_grant"


# -- show_browser_leg --------------------------------------------------------------------

def test_show_browser_leg_prints_the_login_request_by_request(idp: RunningServer, settings: Settings,
                                                               browser: Browser) -> None:
    tokens(idp, browser)  # an earlier login: not part of the leg below
    since = exchange_count(settings)
    assert since > 0
    # Another browser, no session yet: the login page, its form, the redirect with the code.
    with Browser() as person:
        landed = person.login(authorization_url(idp, "c" * 43, state="the-state"), until=REDIRECT,
                              email="alice@example.com", password="alice123")
        cookie = person.cookies["mock_idp_browser"]
        session = person.cookies["mock_idp_session"]
    out = printed(show_browser_leg, settings, since)
    assert out.startswith("The browser leg, as the mock saw it (3 requests):")
    blocks = out.split("── ")[1:]
    assert len(blocks) == 3
    authorize, page, post = blocks
    assert "GET /oauth2/authorize?client_id=mock-client&redirect_uri=http%3A%2F%2Flocalhost%3A3000" in authorize
    assert "state=the-state" in authorize
    assert "HTTP 303 See Other" in authorize
    assert f"Location: {idp.url}/login?login_request=" in authorize
    assert f"Set-Cookie: mock_idp_browser={cookie[:6]}…" in authorize
    assert "Cookie: " not in authorize.replace("Set-Cookie", "")
    assert "GET /login?login_request=" in page and "HTTP 200 OK" in page
    assert f"Cookie: mock_idp_browser={cookie[:6]}…" in page
    assert "POST /login" in post
    assert f"Cookie: mock_idp_browser={cookie[:6]}…" in post
    assert "email=alice@example.com&" in post and "password=••••••&" in post
    code = landed.params["code"]
    assert f"Location: {REDIRECT}?code={code[:8]}…&state=the-state" in post
    assert f"Set-Cookie: mock_idp_session={session[:6]}…" in post
    assert "that request reaches the app" in out
    for secret in ("alice123", code, cookie, session):
        assert secret not in out


def test_show_browser_leg_shows_the_select_account_page(idp: RunningServer, settings: Settings,
                                                        browser: Browser) -> None:
    tokens(idp, browser)
    since = exchange_count(settings)
    browser.login(authorization_url(idp, "c" * 43), until=REDIRECT, email="alice@example.com", password="alice123")
    out = printed(show_browser_leg, settings, since)
    assert "(3 requests)" in out
    assert "/select_account?login_request=" in out and "POST /select_account" in out and "action=continue" in out
    assert "Cookie: mock_idp_browser=" in out
    assert printed(show_browser_leg, settings, exchange_count(settings)).startswith("No browser request")


def test_show_browser_leg_for_a_real_project_prints_the_two_ends(idp: RunningServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A "real project" that happens to be the mock: the kit must not read its log.
    real = Settings(idp.url, CLIENT_ID, CLIENT_SECRET, REDIRECT, is_mock=False)
    monkeypatch.setenv("KIT_AUTOLOGIN", "1")
    monkeypatch.setattr(notebook, "BROWSER", requests.Session())
    monkeypatch.setattr(notebook, "_SEEN_LEGS", [])
    assert exchange_count(real) == 0
    assert "no login has ended" in printed(show_browser_leg, real, 0)
    url = authorization_url(idp, "c" * 43)
    landed = notebook.PendingLogin(real, url).callback()
    out = printed(show_browser_leg, real, 0)
    assert f"GET {url}\n" in out
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)["code"][0]
    assert f"{REDIRECT}?code={code[:8]}…&state=st4te" in out and code not in out
    assert "developer tools" in out and "Network tab" in out
    assert "/login" not in out.replace("the login", "")
