"""Hosted mode on a real JupyterHub (issue 9): two learners, alice and bob, each with their own
server, their own mock and their own browser, and no KIT_AUTOLOGIN anywhere.

tests/hub.py starts a JupyterHub on this machine (npm's configurable-http-proxy in front, the
simple local spawner behind). Each learner logs in to the hub in a browser context of their own
(Debian's chromium, driven by Playwright), their server starts, and their browser opens it once
(the server's own OAuth with the hub). Then each learner's kernel, on their own server, runs
notebook 03 cell by cell, the two taking turns, every code cell as stored (the `exercise` cells
too: their checks go on with the reference solution). When a cell says "Open this link in your
browser", the learner's browser opens the link (their own mock, /user/NAME/mock/, through the
hub), logs in as their own demo user (or presses Cancel), and lands on
/user/NAME/proxy/127.0.0.1:PORT/auth-redirect, where their kernel's listener answers "Got it."; the next
cell (`.callback()`) has the address then.

Then the two stay apart: alice's clock moved two hours and her mock reset leave bob's token, clock
and log as they were; their issuers and signing keys differ. Alice's mock outlives her kernel
(a new kernel's connect() finds the same mock, clock and keys), and bob's outlives a restart. The
hub refuses alice's browser on bob's mock, and alice's token on bob's server.

Screenshots go to test-artifacts/hub/, the hub's log (with its proxy's and both servers') to
test-artifacts/hub/hub.log. The hub, its proxy, both servers, their kernels and their mocks are
stopped at the end, and nothing they listened on may still listen.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import nbformat
import pytest

from tests.browser import launch_chromium
from tests.browser import shot as browser_shot
from tests.hub import (ROOT, VENV_BIN, CellError, Hub, Kernel, Outputs, Server, log_in_to_hub, open_own_server,
                       running_hub)

NOTEBOOK = "notebooks/03-authorization-request.ipynb"  # from the repository's root, the servers' root
ACCOUNTS = {"alice": ("alice@example.com", "alice123"), "bob": ("bob@example.com", "bob123")}
LINK_PROMPT = "Open this link in your browser"
TWO_HOURS = 7200  # longer than any token of the mock lives

pytestmark = [pytest.mark.timeout(400)]  # the hub and two servers start in 10-30 s; each login takes seconds


# --- The learners ---------------------------------------------------------------------------

@dataclass
class Learner:
    """One person at the hub: their browser (a context of its own: their hub cookie, their
    mock's cookie), their server, their kernel, and what they did at each login link."""

    name: str
    email: str
    password: str
    hub: Hub
    page: Any
    server: Server | None = None
    kernel: Kernel | None = None
    ran: dict[int, tuple[str, Outputs]] = field(default_factory=dict)  # cell index → (source, what it showed)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what they did, where the browser landed)
    shots: int = 0

    def shot(self, name: str) -> None:
        self.shots += 1
        browser_shot(self.page, "hub", f"{self.name}-{self.shots:02d}-{name}")

    def landed(self, url: str) -> bool:
        """Their kernel's listener, through their server's proxy: /user/NAME/proxy/127.0.0.1:PORT/auth-redirect."""
        return re.match(rf"{re.escape(self.hub.url)}/user/{self.name}/proxy/127\.0\.0\.1:\d+/auth-redirect\?", url) is not None

    def login_link(self, shown: Outputs) -> str | None:
        """The address their click opens when the cell asks them to open a link: the authorization
        endpoint of their own mock, absolute or root-relative (then an HTML link as well),
        resolved against the hub's address as a click resolves it."""
        if not any(LINK_PROMPT in text for text in [shown.text, *shown.html]):
            return None  # cells 5 and 20 print the same kind of URL without asking to open it
        own = re.compile(rf'(?:https?://[^\s"<>]+)?/user/{self.name}/mock/oauth2/authorize\?[^\s"<>]+')
        hrefs = [html.unescape(href) for page in shown.html for href in re.findall(r'href="([^"]+)"', page)]
        links = [href for href in hrefs if own.fullmatch(href)] or own.findall(shown.text)
        assert links, (f"{self.name}'s cell asks to open a link but shows none to /user/{self.name}/mock/oauth2/"
                       f"authorize; it showed:\n{shown.text}\n{shown.html}")
        return urllib.parse.urljoin(self.hub.url + "/", links[0])

    def follow(self, link: str, press: str) -> None:
        """What the learner does with the link: log in as themselves on their mock's page (or
        "Continue as …" if their mock knows them already, or Cancel), and land on "Got it."."""
        from playwright.sync_api import expect

        page = self.page
        page.goto(link)
        if self.landed(page.url):
            step = "silent-login"
        else:
            path = urllib.parse.urlsplit(page.url).path
            assert path.startswith(f"/user/{self.name}/mock/"), f"{self.name}'s link led to {page.url}, not their mock"
            continue_as = page.locator('button[name="action"][value="continue"]')
            if press == "cancel":
                expect(page.locator('input[name="password"]')).to_be_visible()
                self.shot("mock-login-page-before-cancel")
                page.click('button[name="action"][value="cancel"]')
                step = "cancel"
            elif continue_as.count():
                expect(continue_as).to_contain_text(f"Continue as {self.email}")
                self.shot("mock-select-account")
                continue_as.click()
                step = "continue-as"
            else:
                page.fill('input[name="email"]', self.email)
                page.fill('input[name="password"]', self.password)
                self.shot("mock-login-page-filled")
                page.click('button[name="action"][value="login"]')
                step = "login"
        page.wait_for_url(self.landed)
        expect(page.locator("body")).to_contain_text("Got it.")
        self.shot(f"{step}-landed")
        self.steps.append((step, page.url))

    def run_cell(self, index: int, source: str) -> Outputs:
        """One cell in their kernel; a login link it shows is followed before the next cell runs
        (the kernel's listener already waits for the browser)."""
        assert self.kernel is not None
        try:
            shown = self.kernel.execute(source)
        except CellError as error:
            raise AssertionError(f"{self.name}'s notebook 03, cell {index} failed: {error}") from None
        self.ran[index] = (source, shown)
        link = self.login_link(shown)
        if link is not None:
            self.follow(link, "cancel" if "press Cancel" in shown.text + "".join(shown.html) else "login")
        return shown

    def cell_with(self, snippet: str) -> Outputs:
        return next(shown for source, shown in self.ran.values() if snippet in source)


# --- Fixtures: one hub, one browser, two learners for the module --------------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def learners(hub: Hub, chromium: Any) -> Iterator[dict[str, Learner]]:
    """alice and bob, logged in to the hub, their servers running and opened in their browsers."""
    contexts = []
    everyone: dict[str, Learner] = {}
    try:
        for name, (email, password) in ACCOUNTS.items():
            context = chromium.new_context(viewport={"width": 1000, "height": 700})
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(20_000)
            learner = everyone[name] = Learner(name, email, password, hub, page)
            log_in_to_hub(page, hub, name)
            learner.shot("hub-home")
            learner.server = hub.start_server(name)
            open_own_server(page, hub, name)
            learner.shot("jupyterlab")
        yield everyone
    finally:
        for context in contexts:
            context.close()


# --- The tests -------------------------------------------------------------------------------

def test_learners_kernels_run_on_their_servers_without_the_runners_settings(learners: dict[str, Learner]) -> None:
    """The harness itself: a kernel started for notebook 03 runs in notebooks/, with the venv's
    Python, the hub's variables for its own learner, and none of the test runner's settings."""
    for name, learner in learners.items():
        kernel = learner.server.start_kernel(NOTEBOOK)
        try:
            seen = kernel.value("{'cwd': __import__('os').getcwd(), 'python': __import__('sys').executable, "
                                "'env': dict(__import__('os').environ)}")
        finally:
            kernel.shutdown()
        env = seen["env"]
        assert seen["cwd"] == str(ROOT / "notebooks"), seen["cwd"]
        assert seen["python"].startswith(str(VENV_BIN)), seen["python"]
        assert env["JUPYTERHUB_SERVICE_PREFIX"] == f"/user/{name}/"
        assert env["JUPYTERHUB_USER"] == name
        assert {"JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_URL"} <= env.keys()
        assert env["PATH"].split(":")[0] == str(VENV_BIN)
        # KIT_AUTOLOGIN would skip the browser, KIT_HOSTED=0 (nbval's) the hub, AUTHGEAR_* the mock.
        leaked = sorted(key for key in env if key.startswith(("AUTHGEAR_", "KIT_")) and key != "KIT_ENV_FILE")
        assert not leaked, f"the runner's {leaked} reached {name}'s kernel"
        assert env.get("KIT_ENV_FILE") == "/dev/null", "the hub's own setting: no developer's .env"


def test_the_hub_keeps_each_learner_out_of_the_others_server(learners: dict[str, Learner], hub: Hub) -> None:
    alice, bob = learners["alice"], learners["bob"]
    # alice's browser at bob's mock: the hub refuses (bob's server sends her to the hub's OAuth,
    # which will not give alice access to bob's server), and nothing of bob's mock shows.
    response = alice.page.goto(f"{hub.url}/user/bob/mock/.well-known/openid-configuration")
    alice.shot("refused-at-bobs-mock")
    assert response.status == 403 or not alice.page.url.startswith(f"{hub.url}/user/bob/"), (
        f"alice's browser reached {alice.page.url} (HTTP {response.status})")
    assert '"issuer"' not in alice.page.content()
    # alice's token at bob's server's REST API: refused too.
    assert Server(hub, "bob", alice.server.token).api("GET", "/kernels").status_code == 403
    assert bob.server.api("GET", "/kernels").status_code == 200


# Run in a learner's kernel after notebook 03 (its names: settings, metadata, code, code_verifier, requests).
EXCHANGE = """\
exchanged = requests.post(metadata["token_endpoint"], data={
    "grant_type": "authorization_code",
    "code": code,
    "redirect_uri": settings.redirect_url,
    "client_id": settings.client_id,
    "client_secret": settings.client_secret,
    "code_verifier": code_verifier,
}, timeout=10)
show(exchanged, fields=["token_type", "expires_in"])
tokens = exchanged.json()
"""
USERINFO = ('(lambda answer: [answer.status_code, answer.json() if answer.ok else answer.text])(requests.get('
            'metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}, '
            'timeout=10))')
CLOCK = 'requests.get(settings.endpoint + "/_mock/clock", timeout=10).json()["offset"]'
EXCHANGES = 'len(requests.get(settings.endpoint + "/_mock/exchanges", timeout=10).json()["exchanges"])'
KIDS = '[key["kid"] for key in requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]]'
MOCK = '[settings.endpoint, requests.get(metadata["jwks_uri"], timeout=10).json(), ' + CLOCK + ']'
RECONNECT = """\
import requests
from kit.notebook import connect, discover
settings = connect()
metadata = discover(settings)
"""


def test_two_learners_log_in_on_their_own_mocks_and_stay_apart(learners: dict[str, Learner]) -> None:
    installed = {entry.name for entry in entry_points(group="jupyter_serverproxy_servers")}
    assert "mock" in installed, ("the 'mock' proxy entry is not installed (the package's metadata predates it): "
                                 "run `make setup-test` (pip install -e '.[test]') and run this again")
    alice, bob = learners["alice"], learners["bob"]
    for learner in (alice, bob):
        learner.kernel = learner.server.start_kernel(NOTEBOOK)

    # Notebook 03, cell by cell, alice and bob taking turns: both mid-lesson at the same time.
    notebook = nbformat.read(ROOT / NOTEBOOK, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            for learner in (alice, bob):
                learner.run_cell(index, cell.source)

    for learner in (alice, bob):
        shown = learner.cell_with("login = login_in_browser(settings, login_url)").text
        assert "(Running unattended" not in shown, f"KIT_AUTOLOGIN reached {learner.name}'s kernel:\n{shown}"
        assert [step for step, _ in learner.steps] == ["login", "cancel"], learner.steps
        (_, logged_in), (_, cancelled) = learner.steps
        assert "code=" in logged_in and "state=" in logged_in, logged_in
        assert "error=access_denied" in cancelled, cancelled
        assert "state matches ✔" in learner.cell_with("code = read_callback(landed, state)").text
        assert "access_denied" in learner.cell_with("cancelled = cancel_login.callback()").text

    # Two mocks: each learner's issuer and signing key are their own.
    endpoints = {learner.name: learner.kernel.value("settings.endpoint") for learner in (alice, bob)}
    assert endpoints["alice"] != endpoints["bob"], endpoints
    kids = {learner.name: set(learner.kernel.value(KIDS)) for learner in (alice, bob)}
    assert not kids["alice"] & kids["bob"], kids

    # bob redeems his code (notebook 04's step) on his mock: a token of bob@example.com.
    redeemed = bob.kernel.execute(EXCHANGE).text
    assert "HTTP 200" in redeemed, redeemed
    status, claims = bob.kernel.value(USERINFO)
    assert status == 200 and claims.get("email") == "bob@example.com", (status, claims)
    bobs_log = bob.kernel.value(EXCHANGES)
    assert bobs_log > 0

    # alice moves her mock's clock two hours on: bob's clock and token do not move.
    moved = alice.kernel.execute("from kit.notebook import advance_mock_clock\n"
                                 f"advance_mock_clock(settings, {TWO_HOURS})")
    assert f"{TWO_HOURS} s ahead" in moved.text, moved.text
    assert alice.kernel.value(CLOCK) == TWO_HOURS
    assert bob.kernel.value(CLOCK) == 0
    assert bob.kernel.value(USERINFO)[0] == 200, "alice's clock expired bob's token"

    # alice resets her mock: her log empties, bob's log, clock and token stay.
    alices_log = alice.kernel.value(EXCHANGES)
    reset = alice.kernel.value('requests.post(settings.endpoint + "/_mock/reset", timeout=10).json()')
    assert reset.get("reset") is True and reset.get("offset") == 0, reset
    assert alice.kernel.value(EXCHANGES) < alices_log
    assert bob.kernel.value(CLOCK) == 0
    assert bob.kernel.value(EXCHANGES) >= bobs_log, "alice's reset emptied bob's log"
    assert bob.kernel.value(USERINFO)[0] == 200, "alice's reset revoked bob's token"

    # The mock lives beside the kernel, not in it: alice's next kernel finds the same mock (the
    # same issuer, keys and clock) ...
    alice.kernel.execute("advance_mock_clock(settings, 60)")
    before = alice.kernel.value(MOCK)
    alice.kernel.shutdown()
    alice.kernel = alice.server.start_kernel(NOTEBOOK)
    alice.kernel.execute(RECONNECT)
    assert alice.kernel.value(MOCK) == before, "alice's new kernel found another mock"
    # ... and bob's restarted kernel finds his, with his token still good there.
    before = bob.kernel.value(MOCK)
    token = bob.kernel.value('tokens["access_token"]')
    bob.kernel.restart()
    bob.kernel.execute(RECONNECT + f"tokens = {{'access_token': {token!r}}}")
    assert bob.kernel.value(MOCK) == before, "bob's restarted kernel found another mock"
    assert bob.kernel.value(USERINFO)[0] == 200
    for learner in (alice, bob):
        learner.kernel.shutdown()
