"""The tutorial's app as written (`python -m walkthrough --tutorial`, walkthrough/tutorial.py)
against the walkthrough: each attack of the security lab carried out against both, over real
HTTP on loopback. Against the tutorial's app it succeeds; against the walkthrough it fails,
and each test says which defence stops it.

Each test gets its own mock (the `authgear_mock` fixture, on a free port of 127.0.0.1) and
both apps, started by `kit.lab.start` on free ports (never 3000/3001/4000). The browsers are
`mock_idp.browser.Browser` (a requests.Session that goes through the mock's own login form:
no backdoor) and, for the XSS, Debian's chromium driven by Playwright.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kit import lab
from kit.settings import Settings
from mock_idp.browser import Browser
from mock_idp.pytest_plugin import AuthgearMock
from tests.browser import launch_chromium
from tests.test_walkthrough import free_port
from walkthrough import tutorial
from walkthrough.__main__ import main as walkthrough_main

ROOT = Path(__file__).resolve().parent.parent
ALICE = ("alice@example.com", "alice123")  # the victim
BOB = ("bob@example.com", "bob123")  # the attacker
BANNER_MARK = 'id="deliberately-vulnerable"'


def mock_settings(issuer: str) -> Settings:
    """The demo client's settings on the mock at `issuer` (lab.start gives each app its own port)."""
    return Settings(issuer, "mock-client", "mock-secret", "http://localhost:3000/auth-redirect", is_mock=True)


@pytest.fixture
def apps(authgear_mock: AuthgearMock) -> Iterator[lab.LabApps]:
    settings = mock_settings(authgear_mock.issuer)
    with lab.start(settings) as running:
        yield running


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def landing(page: requests.Response) -> bool:
    """The page for nobody logged in (the tutorial's "Hi there!", the walkthrough's too)."""
    return page.status_code == 200 and "Hi there!" in page.text and lab.welcome(page) is None


# --- the port is the tutorial's app ---------------------------------------------------------

def test_the_port_sends_the_tutorials_requests(apps: lab.LabApps, authgear_mock: AuthgearMock) -> None:
    person = lab.browser()
    first = lab.visit(person, apps.tutorial + "/")
    # express-session's cookie: "s:" + id + "." + base64(HMAC-SHA256("your_strong_secret_key", id)), URL-encoded
    set_cookie = first.headers["set-cookie"]
    assert set_cookie.endswith("; Path=/; HttpOnly") and "samesite" not in set_cookie.lower()
    value = urllib.parse.unquote(set_cookie.split(";")[0].split("=", 1)[1])
    session_id, signature = value.removeprefix("s:").rsplit(".", 1)
    mac = hmac.new(b"your_strong_secret_key", session_id.encode(), hashlib.sha256).digest()
    assert value.startswith("s:") and signature == base64.b64encode(mac).decode().rstrip("=")
    assert lab.session_ids(apps.tutorial_app) == [session_id]  # saveUninitialized: stored at once

    authorize = lab.login_url(person, apps.tutorial)
    assert authorize.startswith(authgear_mock.issuer + "/oauth2/authorize?")
    assert query(authorize) == {"client_id": "mock-client", "redirect_uri": apps.tutorial + "/auth-redirect",
                                "response_type": "code", "scope": "openid offline_access"}  # no state, nonce, PKCE
    home = lab.visit(person, person.login(authorize, until=apps.tutorial + "/auth-redirect", email=ALICE[0],
                                          password=ALICE[1]))
    assert lab.welcome(home) == "alice@example.com" and '"name": "Alice Liddell"' in home.text

    token, userinfo = [e for e in authgear_mock.exchanges() if e["path"] in ("/oauth2/token", "/oauth2/userinfo")]
    assert list(token["params"]) == ["client_id", "client_secret", "code", "grant_type", "response_type",
                                     "redirect_uri"]  # client_secret_post, the stray response_type, no verifier
    assert token["request_headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert userinfo["request_headers"]["authorization"].startswith("Bearer eyJ")

    out = person.session.get(apps.tutorial + "/logout", allow_redirects=False, timeout=10)
    assert out.status_code == 302
    assert out.headers["location"] == (authgear_mock.issuer + "/oauth2/end_session?post_logout_redirect_uri="
                                       + urllib.parse.quote(apps.tutorial, safe=""))  # no id_token_hint, no state
    assert out.headers["authorization"].startswith("Bearer eyJ")  # the access token, handed to the browser
    assert session_id not in lab.session_ids(apps.tutorial_app)  # req.session.destroy()
    after = lab.visit(person, apps.tutorial + "/")
    assert landing(after) and "set-cookie" in after.headers  # the old id is unknown: a new session


def test_every_page_carries_the_warning_banner(apps: lab.LabApps) -> None:
    person = lab.browser()
    pages = [
        lab.visit(person, apps.tutorial + "/"),
        person.session.get(apps.tutorial + "/login", allow_redirects=False, timeout=10),
        lab.visit(person, apps.tutorial + "/auth-redirect"),  # "No Authorization code in URL"
        lab.visit(person, apps.tutorial + "/auth-redirect?code=made-up"),  # "An error occurred! ..."
        lab.visit(person, apps.tutorial + "/no/such/page"),  # Express's "Cannot GET /no/such/page"
        person.session.post(apps.tutorial + "/", timeout=10),
        lab.log_in(person, apps.tutorial, *ALICE),
        person.session.get(apps.tutorial + "/logout", allow_redirects=False, timeout=10),
    ]
    assert [page.status_code for page in pages] == [200, 302, 200, 200, 404, 404, 200, 302]
    assert "No Authorization code in URL" in pages[2].text
    assert ("An error occurred! Login could not complete. Error data: AxiosError: Request failed with status code 400"
            in pages[3].text)
    assert "Cannot GET /no/such/page" in pages[4].text
    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        assert BANNER_MARK in page.text and "DELIBERATELY VULNERABLE" in page.text, page.url
        assert "Never expose it" in page.text


def test_it_listens_on_loopback_only(apps: lab.LabApps, capsys: pytest.CaptureFixture[str]) -> None:
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.com"):
        assert walkthrough_main(["--tutorial", "--host", host, "--port", "0"]) == 2
        assert f"never on {host}" in capsys.readouterr().err
    assert all(tutorial.is_loopback(host) for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    refused = subprocess.run([sys.executable, "-m", "walkthrough", "--tutorial", "--host", "0.0.0.0"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "deliberately vulnerable" in refused.stderr
    # And it answers to localhost only: a page whose name was rebound to 127.0.0.1 gets nothing.
    rebound = requests.get(apps.tutorial + "/", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 403 and "localhost only" in rebound.text


def test_stopping_the_lab_takes_its_ports_off_the_mock_and_leaves_the_rest(authgear_mock: AuthgearMock) -> None:
    settings = mock_settings(authgear_mock.issuer)

    def registered() -> tuple[set[str], set[str]]:
        client = next(c for c in requests.get(authgear_mock.issuer + "/_mock/clients", timeout=10).json()["clients"]
                      if c["client_id"] == "mock-client")
        return set(client["redirect_uris"]), set(client["post_logout_redirect_uris"])

    before = registered()
    with lab.start(settings) as running:
        during = registered()
        ports = [f"http://localhost:{lab.port_of(url)}" for url in (running.tutorial, running.walkthrough)]
        assert during[0] - before[0] == {origin + "/auth-redirect" for origin in ports}
        assert during[1] - before[1] == {ports[0], ports[0] + "/", ports[1] + "/"}  # the tutorial's origin alone too
        authgear_mock.reset()  # forgets them; the notebook registers them again
        running.register()
        assert registered() == during
    assert registered() == before  # a freed port gets no codes; the defaults (3000, 3001) stay
    running.stop()  # twice: nothing to do


def test_the_lab_stops_without_error_when_the_mock_has_gone_first() -> None:
    from mock_idp import pytest_plugin

    mock = pytest_plugin.start()
    settings = mock_settings(mock.issuer)
    running = lab.start(settings)
    assert running.added[0]
    mock.stop()  # a kernel restart takes the in-kernel mock with it
    running.stop()
    for url in (running.tutorial, running.walkthrough):
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/", timeout=5)


def test_python_m_walkthrough_tutorial_runs_beside_the_walkthrough_on_its_own_port(tmp_path: Path) -> None:
    port, mock_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGEAR_", "WALKTHROUGH_"))}
    env.update(KIT_ENV_FILE=str(tmp_path / "no.env"), PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "walkthrough", "--tutorial", "--port", str(port),
                                "--mock-port", str(mock_port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    base, mock = f"http://localhost:{port}", f"http://localhost:{mock_port}"
    person = Browser()
    try:
        wait_until_it_answers(base + "/", process, output)
        (client,) = [c for c in requests.get(mock + "/_mock/clients", timeout=5).json()["clients"]
                     if c["client_id"] == "mock-client"]
        assert base + "/auth-redirect" in client["redirect_uris"]
        assert {base, base + "/"} <= set(client["post_logout_redirect_uris"])  # the tutorial sends no slash
        home = lab.log_in(person, base, *BOB)
        assert lab.welcome(home) == "bob@example.com" and BANNER_MARK in home.text
        out = person.session.get(base + "/logout", allow_redirects=False, timeout=10)
        back = person.logout(out.headers["location"], until=base)
        assert back == base  # Authgear's logout came back to the tutorial's post_logout_redirect_uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    text = "".join(output)
    assert "DELIBERATELY VULNERABLE" in text and "never expose it" in text
    assert f"The tutorial's app (deliberately vulnerable) at {base}" in text


def wait_until_it_answers(url: str, process: subprocess.Popen, output: list[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(url, timeout=2).ok:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing answered at {url}:\n" + "".join(output))


# --- login CSRF (RFC 6749 §10.12, RFC 9700 §2.1) ----------------------------------------------

def test_login_csrf(apps: lab.LabApps) -> None:
    attacker, victim = lab.browser(), lab.browser()

    # The tutorial's app: the attacker logs in as themself and stops before the callback ...
    lab.visit(victim, apps.tutorial + "/")
    victims_cookie = lab.cookie(victim, lab.TUTORIAL_COOKIE)
    planted = lab.log_in_until_callback(attacker, apps.tutorial, *BOB)
    assert list(planted.params) == ["code"]  # nothing ties it to anyone's browser
    # ... and the victim's browser follows it (a link, a hidden <img>): the victim is now logged in as Bob.
    home = lab.visit(victim, planted)
    assert home.url == apps.tutorial + "/" and lab.welcome(home) == "bob@example.com"
    assert lab.welcome(lab.visit(victim, apps.tutorial + "/")) == "bob@example.com"
    assert lab.cookie(victim, lab.TUTORIAL_COOKIE) == victims_cookie  # in the victim's own session

    # The walkthrough: the attacker's callback carries the state of the attacker's login, which
    # the victim's session never held, even with a login of the victim's own under way.
    planted = lab.log_in_until_callback(attacker, apps.walkthrough, *BOB)
    assert set(planted.params) == {"code", "state"}
    lab.login_url(victim, apps.walkthrough)
    refused = lab.visit(victim, planted)
    assert refused.status_code == 400 and "State mismatch: this login was refused" in refused.text
    assert lab.welcome(refused) is None and landing(lab.visit(victim, apps.walkthrough + "/"))


# --- authorization-code injection (RFC 9700 §4.5) --------------------------------------------

def test_authorization_code_injection(apps: lab.LabApps, authgear_mock: AuthgearMock) -> None:
    attacker, victim = lab.browser(), lab.browser()

    # The tutorial's app: the victim's code leaks before the victim's browser uses it (a proxy's
    # log, an extension, the attacker winning the race); the attacker plays it into the callback.
    leaked = lab.log_in_until_callback(victim, apps.tutorial, *ALICE)
    home = lab.visit(attacker, f"{apps.tutorial}/auth-redirect?code={leaked.params['code']}")
    assert lab.welcome(home) == "alice@example.com"  # the attacker's browser, logged in as Alice

    # The walkthrough. As it leaked, with its state: unknown to the attacker's session.
    leaked = lab.log_in_until_callback(victim, apps.walkthrough, *ALICE)
    refused = lab.visit(attacker, leaked)
    assert refused.status_code == 400 and "State mismatch" in refused.text
    # With a state the attacker's session does know (a login of the attacker's own, started and
    # not finished): state passes, but the code was issued for the victim's PKCE challenge and
    # the walkthrough sends the attacker's session's code_verifier. Authgear says invalid_grant.
    own_state = query(lab.login_url(attacker, apps.walkthrough))["state"]
    since = authgear_mock.exchanges()[-1]["seq"]
    refused = lab.visit(attacker, f"{apps.walkthrough}/auth-redirect?code={leaked.params['code']}&state={own_state}")
    assert refused.status_code == 400 and "invalid_grant" in refused.text and lab.welcome(refused) is None
    (exchange,) = [e for e in authgear_mock.exchanges(since) if e["path"] == "/oauth2/token"]
    assert exchange["status"] == 400 and "code_verifier" in exchange["params"]
    # A failed exchange does not use the code up: the victim's own browser still logs in with it.
    assert lab.welcome(lab.visit(victim, leaked)) == "alice@example.com"


# --- session forgery with the hard-coded secret -------------------------------------------------

def test_session_forgery_with_the_tutorials_secret(apps: lab.LabApps) -> None:
    victim, attacker = lab.browser(), lab.browser()

    # The tutorial's app. The victim logs in; the raw session ids leak (the store's keys, a log):
    assert lab.welcome(lab.log_in(victim, apps.tutorial, *ALICE)) == "alice@example.com"
    raw_ids = lab.session_ids(apps.tutorial_app)
    # A raw id alone is no cookie: express-session ignores an unsigned one, and a wrong signature.
    for cookie in (raw_ids[0], tutorial.cookie_value(raw_ids[0], "another secret")):
        attacker.cookies.clear()
        lab.plant_cookie(attacker, lab.TUTORIAL_COOKIE, cookie)
        assert landing(lab.visit(attacker, apps.tutorial + "/"))
    # Signed with the tutorial's public secret, it is the victim's session.
    pages = {}
    for session_id in lab.session_ids(apps.tutorial_app):
        attacker.cookies.clear()
        lab.plant_cookie(attacker, lab.TUTORIAL_COOKIE, lab.tutorial_cookie(session_id))
        pages[session_id] = lab.welcome(lab.visit(attacker, apps.tutorial + "/"))
    assert "alice@example.com" in pages.values()
    # Not a chosen id: express-session gives an id its store does not know a new session, new id.
    attacker.cookies.clear()
    chosen = lab.tutorial_cookie("attacker-chosen-id")
    lab.plant_cookie(attacker, lab.TUTORIAL_COOKIE, chosen)
    assert landing(lab.visit(attacker, apps.tutorial + "/")) and lab.cookie(attacker, lab.TUTORIAL_COOKIE) != chosen
    assert "attacker-chosen-id" not in lab.session_ids(apps.tutorial_app)

    # The walkthrough: the same leak, the cookie signed the way Starlette signs it with the
    # tutorial's secret. Refused: its secret is random at each start (or WALKTHROUGH_SESSION_SECRET).
    assert lab.welcome(lab.log_in(victim, apps.walkthrough, *ALICE)) == "alice@example.com"
    for session_id in lab.session_ids(apps.walkthrough_app):
        attacker.cookies.clear()
        lab.plant_cookie(attacker, lab.WALKTHROUGH_COOKIE, lab.walkthrough_cookie(session_id))
        page = lab.visit(attacker, apps.walkthrough + "/")
        assert landing(page) and lab.cookie(attacker, lab.WALKTHROUGH_COOKIE) != lab.walkthrough_cookie(session_id)
    # The control: with the walkthrough's own secret (which never leaves its process) the same
    # forgery works, so the secret is what stops it, not the cookie's format.
    (secret,) = [m.kwargs["secret_key"] for m in apps.walkthrough_app.user_middleware if "secret_key" in m.kwargs]
    pages = {}
    for session_id in lab.session_ids(apps.walkthrough_app):
        attacker.cookies.clear()
        lab.plant_cookie(attacker, lab.WALKTHROUGH_COOKIE, lab.walkthrough_cookie(session_id, secret))
        pages[session_id] = lab.welcome(lab.visit(attacker, apps.walkthrough + "/"))
    assert "alice@example.com" in pages.values()


# --- session fixation: no new id at login -------------------------------------------------------

def test_session_fixation(apps: lab.LabApps) -> None:
    # The tutorial's app: the attacker's own session (saveUninitialized stores one for every
    # visitor), planted in the victim's browser (cookies on localhost are shared by every port),
    # is the victim's once the victim logs in. No secret needed.
    attacker, victim = lab.browser(), lab.browser()
    lab.visit(attacker, apps.tutorial + "/")
    fixed = lab.cookie(attacker, lab.TUTORIAL_COOKIE)
    lab.plant_cookie(victim, lab.TUTORIAL_COOKIE, fixed)
    assert lab.welcome(lab.log_in(victim, apps.tutorial, *ALICE)) == "alice@example.com"
    assert lab.cookie(victim, lab.TUTORIAL_COOKIE) == fixed
    assert lab.welcome(lab.visit(attacker, apps.tutorial + "/")) == "alice@example.com"

    # The walkthrough replaces the session id at login: the planted one names nothing after.
    attacker, victim = lab.browser(), lab.browser()
    lab.visit(attacker, apps.walkthrough + "/")
    fixed = lab.cookie(attacker, lab.WALKTHROUGH_COOKIE)
    lab.plant_cookie(victim, lab.WALKTHROUGH_COOKIE, fixed)
    assert lab.welcome(lab.log_in(victim, apps.walkthrough, *ALICE)) == "alice@example.com"
    assert lab.cookie(victim, lab.WALKTHROUGH_COOKIE) != fixed
    assert landing(lab.visit(attacker, apps.walkthrough + "/"))


# --- refreshAccessTokenIfExpired under refresh-token rotation -------------------------------------

def test_the_refresh_helper_under_rotation(apps: lab.LabApps, authgear_mock: AuthgearMock) -> None:
    lab.set_client(apps.settings, refresh_token_rotation=True)
    person = lab.browser()
    assert lab.welcome(lab.log_in(person, apps.tutorial, *ALICE)) == "alice@example.com"
    assert lab.welcome(lab.log_in(person, apps.walkthrough, *ALICE)) == "alice@example.com"

    authgear_mock.advance_clock(1800 + 60)  # past the access tokens' 30 minutes
    assert lab.welcome(lab.visit(person, apps.tutorial + "/")) == "alice@example.com"  # refreshed: it worked once
    assert lab.welcome(lab.visit(person, apps.walkthrough + "/")) == "alice@example.com"
    refreshes = [e for e in authgear_mock.exchanges() if e["params"].get("grant_type") == "refresh_token"]
    assert [e["status"] for e in refreshes] == [200, 200] and all(e["response_body"]["refresh_token"]
                                                                   for e in refreshes)  # rotated

    authgear_mock.advance_clock(1800 + 60)
    for _ in range(2):  # the dead refresh token stays in the session: the same 500 on every visit
        broken = lab.visit(person, apps.tutorial + "/")
        assert broken.status_code == 500 and BANNER_MARK in broken.text
        assert ("Error: Failed to refresh access token: AxiosError: Request failed with status code 400"
                in broken.text)
        assert "tutorial.py" in broken.text  # Express's default error page shows the stack
    # The walkthrough kept the rotated refresh token: its second refresh works.
    assert lab.welcome(lab.visit(person, apps.walkthrough + "/")) == "alice@example.com"
    tutorial_refreshes = [e for e in authgear_mock.exchanges() if e["params"].get("grant_type") == "refresh_token"
                          and e["status"] == 400]
    assert tutorial_refreshes and tutorial_refreshes[0]["response_body"]["error"] == "invalid_grant"
    # Only /logout gets the user out.
    person.session.get(apps.tutorial + "/logout", allow_redirects=False, timeout=10)
    assert landing(lab.visit(person, apps.tutorial + "/"))


# --- stored XSS (Chromium) ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def new_page(chromium):
    contexts = []

    def new_page():
        context = chromium.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield new_page
    for context in contexts:
        context.close()


def log_in_in_chromium(page, app_url: str, email: str, password: str):
    page.goto(app_url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation(url=app_url + "/") as arrival:
        page.click("button[name=action][value=login]")
    return arrival.value


def test_stored_xss(apps: lab.LabApps, new_page) -> None:
    # Bob's name is a script (users edit their own name in Authgear's settings page).
    lab.set_claims(apps.settings, *BOB, name=lab.XSS_PAYLOAD)

    page = new_page()
    log_in_in_chromium(page, apps.tutorial, *BOB)
    assert page.title() == lab.XSS_TITLE  # the script ran, in the tutorial app's origin
    assert page.locator("pre script").count() == 1 and "Welcome bob@example.com" in page.inner_text("body")

    page = new_page()
    arrival = log_in_in_chromium(page, apps.walkthrough, *BOB)
    assert page.title() != lab.XSS_TITLE and page.locator("script").count() == 0
    assert lab.XSS_PAYLOAD in page.inner_text("#userinfo")  # shown as text (Jinja2 autoescapes)
    csp = arrival.headers["content-security-policy"]  # and had it got in, no inline script may run
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert page.dialogs == []


def test_login_csrf_delivers_the_stored_xss_to_a_victim(apps: lab.LabApps, new_page) -> None:
    # On its own the XSS runs in Bob's own session. Login CSRF puts it in someone else's browser.
    lab.set_claims(apps.settings, *BOB, name=lab.XSS_PAYLOAD)
    attacker = lab.browser()
    victim = new_page()
    victim.goto(lab.log_in_until_callback(attacker, apps.tutorial, *BOB))
    assert victim.url == apps.tutorial + "/" and victim.title() == lab.XSS_TITLE

    victim = new_page()
    victim.goto(lab.log_in_until_callback(attacker, apps.walkthrough, *BOB))
    assert "State mismatch" in victim.inner_text("body") and victim.title() != lab.XSS_TITLE


def test_lab_open_in_chromium_returns_what_the_script_set(apps: lab.LabApps) -> None:
    lab.set_claims(apps.settings, *BOB, name=lab.XSS_PAYLOAD)
    assert lab.open_in_chromium(apps.tutorial + "/login", email=BOB[0], password=BOB[1]) == lab.XSS_TITLE
    title = lab.open_in_chromium(apps.walkthrough + "/login", email=BOB[0], password=BOB[1])
    assert title is not None and title != lab.XSS_TITLE


def test_lab_open_in_chromium_says_so_without_chromium(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(lab, "CHROMIUM", Path("/nonexistent/chromium"))
    assert lab.open_in_chromium("http://localhost:9/") is None
    assert "/nonexistent/chromium is not installed" in capsys.readouterr().out
    with pytest.raises(lab.LabError, match="lab's own apps"):  # the lab's scripts run in it: nothing else
        lab.open_in_chromium("https://example.com/")


def test_the_lab_needs_the_mock() -> None:
    project = Settings("https://myapp.authgear.cloud", "id", "secret", "http://localhost:3000/auth-redirect",
                       is_mock=False)
    with pytest.raises(lab.LabError, match="bundled mock"):
        lab.start(project)


def test_the_tutorials_app_refuses_a_real_project(tmp_path: Path) -> None:
    """Its holes would be holes in a real project's logins: the command line and create_app
    both refuse settings that are not the bundled mock's (or a room's)."""
    project = Settings("https://myapp.authgear.cloud", "id", "secret", "http://localhost:3000/auth-redirect",
                       is_mock=False)
    with pytest.raises(tutorial.NotAgainstARealProject, match="bundled mock only"):
        tutorial.create_app(project)
    env_file = tmp_path / "real.env"
    env_file.write_text("AUTHGEAR_ENDPOINT=https://myapp.authgear.cloud\nAUTHGEAR_CLIENT_ID=abc123\n"
                        "AUTHGEAR_CLIENT_SECRET=s3cret\nAUTHGEAR_REDIRECT_URL=http://localhost:3000/auth-redirect\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGEAR_", "WALKTHROUGH_"))}
    refused = subprocess.run([sys.executable, "-m", "walkthrough", "--tutorial", "--port", str(free_port())],
                             cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**env, "KIT_ENV_FILE": str(env_file), "PYTHONPATH": str(ROOT)})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "bundled mock only" in refused.stderr and "s3cret" not in refused.stdout + refused.stderr
