"""The instructor's dashboard of a room (/_room) in a real browser (Debian's chromium, driven by
Playwright), updating by itself while simulated learners join and go through the flow.

The page is opened once with the instructor's token and never reloaded: each learner's row, the
✔ of each step, the bars' counts, a failed request's error and the "no pkce" warning must show up
through the page's own polling of /_room/progress (every 2 s). Each simulated learner sends their
requests from an address of their own on the loopback network (127.0.0.2, 127.0.0.3, ...), as
laptops in a room would, and starts as the kit's connect() does (a teaching-API call with their
client's credentials): that is how the room tells whose discovery request it was.

Screenshots of the key moments go to test-artifacts/room/.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from mock_idp.browser import Browser
from mock_idp.room import Room
from mock_idp.room.progress import STEPS
from mock_idp.server import RunningServer
from tests.browser import launch_chromium
from tests.browser import shot as browser_shot
from tests.flow import pkce_pair
from tests.test_room import REDIRECT, joined
from tests.test_room import room  # noqa: F401  (the fixture: a room of 5 on a free port)

POLL = 2.0  # seconds between the page's polls of /_room/progress (room_dashboard.html)
WAIT = int(5 * POLL * 1000)  # ms to wait for the page to show something: a few polls
POST_LOGOUT = "http://localhost:3000"  # a post_logout_redirect_uri each learner's client has (never fetched)
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


class FromAddress(HTTPAdapter):
    """Connections from one loopback address: one laptop of the room."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Learner:
    """One simulated learner: joined, on a laptop (address) of their own, one step at a time."""

    def __init__(self, issuer: str, name: str, address: str) -> None:
        self.issuer = issuer
        self.details = joined(issuer, name)
        self.client_id: str = self.details["client_id"]
        self.session = requests.Session()
        self.session.mount("http://", FromAddress(address))
        self.browser = Browser(self.session)
        self.metadata: dict[str, Any] = {}
        self.verifier: str | None = None
        self.login_page = ""
        self.code = ""
        self.tokens: dict[str, Any] = {}

    def close(self) -> None:
        self.session.close()

    @property
    def auth(self) -> tuple[str, str]:
        return self.client_id, self.details["client_secret"]

    def connect(self) -> None:
        """What the kit's connect() sends first, with the learner's client credentials: the
        room ties this address to this learner, so their discovery requests count for them."""
        answer = self.session.get(self.issuer + "/_mock/clock", auth=self.auth, timeout=5)
        assert answer.status_code == 200, answer.text

    def discovery(self) -> None:
        answer = self.session.get(self.issuer + "/.well-known/openid-configuration", timeout=5)
        assert answer.status_code == 200, answer.text
        self.metadata = answer.json()

    def authorize(self, pkce: bool = True) -> None:
        """The authorization request (state, nonce, and PKCE unless told not to): the mock
        answers with its login page, where the browser stops for now."""
        params = {"client_id": self.client_id, "redirect_uri": REDIRECT, "response_type": "code",
                  "scope": "openid offline_access email profile", "state": "st-" + self.client_id,
                  "nonce": "no-" + self.client_id}
        self.verifier = None
        if pkce:
            self.verifier, challenge = pkce_pair()
            params.update(code_challenge=challenge, code_challenge_method="S256")
        answer = self.session.get(self.metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(params),
                                  allow_redirects=False, timeout=5)
        assert answer.status_code in (302, 303), answer.text
        self.login_page = urllib.parse.urljoin(self.issuer, answer.headers["location"])
        assert self.login_page.startswith(self.issuer + "/login?"), self.login_page

    def login(self) -> None:
        landed = self.browser.login(self.login_page, until=REDIRECT, email=self.details["email"],
                                    password=self.details["password"])
        self.code = landed.params["code"]

    def token(self, code: str | None = None) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code or self.code, "redirect_uri": REDIRECT}
        if self.verifier:
            data["code_verifier"] = self.verifier
        answer = self.session.post(self.metadata["token_endpoint"], data=data, auth=self.auth, timeout=5)
        if code is None:
            assert answer.status_code == 200, answer.text
            self.tokens = answer.json()
        return answer

    def userinfo(self) -> None:
        answer = self.session.get(self.metadata["userinfo_endpoint"], timeout=5,
                                  headers={"Authorization": "Bearer " + self.tokens["access_token"]})
        assert answer.status_code == 200, answer.text

    def refresh(self) -> None:
        answer = self.session.post(self.metadata["token_endpoint"], auth=self.auth, timeout=5, data={
            "grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]})
        assert answer.status_code == 200, answer.text
        self.tokens = {**self.tokens, **answer.json()}

    def revoke(self) -> None:
        answer = self.session.post(self.metadata["revocation_endpoint"], auth=self.auth, timeout=5,
                                   data={"token": self.tokens["refresh_token"]})
        assert answer.status_code == 200, answer.text

    def logout(self) -> None:
        url = self.metadata["end_session_endpoint"] + "?" + urllib.parse.urlencode({
            "client_id": self.client_id, "id_token_hint": self.tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT})
        self.browser.logout(url, until=POST_LOGOUT)


def loopback_addresses(count: int) -> list[str]:
    """127.0.0.2, 127.0.0.3, ...: on Linux all of 127/8 is this machine's loopback."""
    addresses = [f"127.0.0.{number}" for number in range(2, 2 + count)]
    for address in addresses:
        with socket.socket() as probe:
            try:
                probe.bind((address, 0))
            except OSError as exc:
                pytest.fail(f"cannot send from {address} ({exc}): the room's learners need loopback addresses "
                            "of their own (Linux has all of 127.0.0.0/8)", pytrace=False)
    return addresses


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A 1280×800 page that records what would go wrong quietly: dialogs (alert() from a name read
    as HTML), console errors (a CSP violation among them), uncaught exceptions, failed requests,
    and navigations (the dashboard must update without one)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.dialogs = []
    page.problems = []
    page.navigations = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: message.type in ("error", "warning") and page.problems.append(
        f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: page.problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: response.status >= 400 and page.problems.append(
        f"HTTP {response.status}: {response.url}"))
    page.on("framenavigated", lambda frame: frame == page.main_frame and page.navigations.append(frame.url))
    try:
        yield page
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    browser_shot(page, "room", name)


# --- What the page shows ------------------------------------------------------------------------

def row(page: Any, learner: Learner) -> Any:
    return page.locator(f'#rows tr[data-client-id="{learner.client_id}"]')


def cell(page: Any, learner: Learner, step: str) -> Any:
    return row(page, learner).locator(f'td[data-step="{step}"]')


def bar_count(page: Any, step: str) -> Any:
    """The "done / learners" of a step's bar (#bars holds a label, a bar and a count per step)."""
    return page.locator(f"#bars > :nth-child({3 * STEPS.index(step) + 3})")


def expect_steps(page: Any, learner: Learner, done: set[str]) -> None:
    """The learner's row shows ✔ in exactly these steps' columns, and · in the others."""
    from playwright.sync_api import expect

    for step in STEPS:
        mark = cell(page, learner, step)
        if step in done:
            expect(mark).to_contain_text("✔", timeout=WAIT)
            expect(mark).to_have_class(re.compile(r"\bdone\b"), timeout=WAIT)
        else:
            expect(mark).to_have_text("·", timeout=WAIT)


def expect_bars(page: Any, counts: dict[str, int], learners: int) -> None:
    from playwright.sync_api import expect

    for step in STEPS:
        expect(bar_count(page, step)).to_have_text(f"{counts.get(step, 0)} / {learners}", timeout=WAIT)


# --- The test -----------------------------------------------------------------------------------

def test_the_dashboard_follows_the_room_as_learners_go_through_the_flow(
        room: tuple[Room, RunningServer], page: Any) -> None:
    from playwright.sync_api import expect

    the_room, server = room
    ada_address, bob_address, mallory_address = loopback_addresses(3)

    # The instructor opens the address printed when the room started; the token goes into an
    # HttpOnly cookie and off the address bar (and off the projector).
    page.goto(server.url + "/_room?token=" + urllib.parse.quote(the_room.instructor_token))
    assert page.url == server.url + "/_room"
    assert the_room.instructor_token not in page.url
    assert the_room.instructor_token not in page.content()
    assert the_room.instructor_token not in page.evaluate("document.cookie")  # HttpOnly: scripts cannot read it
    expect(page.get_by_role("heading", name="The room")).to_be_visible()
    expect(page.locator("#rows")).to_have_text("Nobody has joined yet.", timeout=WAIT)
    expect(page.locator("#count")).to_have_text("0 of 5 places taken.")
    expect_bars(page, {}, 0)
    expect(page.locator("#status")).to_contain_text("Updated")
    page.evaluate("window.openedOnce = true")  # gone if the page were reloaded
    navigations = len(page.navigations)
    shot(page, "01-nobody-yet")

    # Ada joins, then goes through the notebooks' flow one step at a time.
    ada = Learner(server.url, "Ada Lovelace", ada_address)
    expect(row(page, ada)).to_be_visible(timeout=WAIT)
    expect(row(page, ada).locator("td").first).to_contain_text("Ada Lovelace")
    expect(page.locator("#count")).to_have_text("1 of 5 places taken.")
    expect_steps(page, ada, set())
    expect(row(page, ada).locator("td").nth(len(STEPS) + 1)).to_have_text("0")  # errors
    shot(page, "02-ada-joined")

    done: set[str] = set()
    ada.connect()
    for step, action in [("discovery", ada.discovery), ("authorize", ada.authorize), ("login", ada.login),
                         ("token", ada.token), ("userinfo", ada.userinfo)]:
        action()
        done.add(step)
        expect_steps(page, ada, done)
        expect(bar_count(page, step)).to_have_text("1 / 1", timeout=WAIT)
    # She sent state, nonce and a PKCE challenge: no warning under authorize.
    expect(cell(page, ada, "authorize")).to_have_text("✔")
    expect(cell(page, ada, "authorize").locator(".warn")).to_have_count(0)
    shot(page, "03-ada-logged-in")

    # Bob joins: every bar now counts two learners.
    bob = Learner(server.url, "Bob", bob_address)
    expect(row(page, bob)).to_be_visible(timeout=WAIT)
    ada_counts = {step: 1 for step in done}
    expect_bars(page, ada_counts, 2)
    bob.connect()
    bob.discovery()
    expect_steps(page, bob, {"discovery"})
    expect(bar_count(page, "discovery")).to_have_text("2 / 2", timeout=WAIT)

    # His authorization request has no code_challenge: done, but the page says so.
    bob.authorize(pkce=False)
    expect_steps(page, bob, {"discovery", "authorize"})
    expect(cell(page, bob, "authorize").locator(".warn")).to_have_text("no pkce", timeout=WAIT)
    expect(bar_count(page, "authorize")).to_have_text("2 / 2", timeout=WAIT)
    bob.login()
    expect_steps(page, bob, {"discovery", "authorize", "login"})

    # A made-up code: the token endpoint says invalid_grant, and Bob's row shows it.
    bad = bob.token(code="made-up-code")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    errors = row(page, bob).locator("td").nth(len(STEPS) + 1)
    expect(errors.locator(".error")).to_contain_text("token: invalid_grant", timeout=WAIT)
    expect(errors).to_contain_text(re.compile(r"^1"))
    expect(cell(page, bob, "token")).to_have_text("·")
    expect(bar_count(page, "token")).to_have_text("1 / 2")
    expect(row(page, ada).locator("td").nth(len(STEPS) + 1)).to_have_text("0")  # Ada's row unaffected
    shot(page, "04-bob-no-pkce-and-an-error")

    # With his real code the exchange works (no verifier: he sent no challenge).
    bob.token()
    expect_steps(page, bob, {"discovery", "authorize", "login", "token"})
    expect(bar_count(page, "token")).to_have_text("2 / 2", timeout=WAIT)

    # Ada goes on: refresh, revocation, logout.
    for step, action in [("refresh", ada.refresh), ("revocation", ada.revoke), ("logout", ada.logout)]:
        action()
        done.add(step)
        expect_steps(page, ada, done)
        expect(bar_count(page, step)).to_have_text("1 / 2", timeout=WAIT)
    expect_bars(page, {"discovery": 2, "authorize": 2, "login": 2, "token": 2, "userinfo": 1, "refresh": 1,
                       "revocation": 1, "logout": 1}, 2)

    # A name that is HTML is shown as text: no element made of it, no script run.
    mallory = Learner(server.url, HOSTILE_NAME, mallory_address)
    expect(row(page, mallory)).to_be_visible(timeout=WAIT)
    expect(row(page, mallory).locator("td").first.locator("div").first).to_have_text(HOSTILE_NAME)
    mallory.connect()
    mallory.discovery()
    mallory.authorize()
    expect_steps(page, mallory, {"discovery", "authorize"})
    expect(page.locator("#count")).to_have_text("3 of 5 places taken.")
    assert page.locator("img").count() == 0
    assert page.evaluate("document.scripts.length") == 1  # the page's own
    shot(page, "05-three-learners")

    # The same page all along, updated by its polling only.
    assert page.evaluate("window.openedOnce") is True
    assert page.navigations[navigations:] == []
    assert page.dialogs == [], page.dialogs
    assert page.problems == [], page.problems  # CSP blocked nothing the page needs; no 404s
    for learner in (ada, bob, mallory):
        learner.close()


def test_the_dashboard_without_the_token_is_refused_in_the_browser(
        room: tuple[Room, RunningServer], page: Any) -> None:
    from playwright.sync_api import expect

    _, server = room
    answer = page.goto(server.url + "/_room")
    assert answer is not None and answer.status == 401
    expect(page.get_by_role("heading", name="Instructors only")).to_be_visible()
    answer = page.goto(server.url + "/_room?token=not-the-token")
    assert answer is not None and answer.status == 403
    assert page.dialogs == []


def test_a_row_is_marked_stuck_after_an_old_error_until_a_step_succeeds(
        room: tuple[Room, RunningServer], page: Any) -> None:  # noqa: F811
    """Stuck: an error more than two minutes old with no success since. The error's time is set
    back in the room itself (waiting two minutes is not a test)."""
    from playwright.sync_api import expect

    the_room, server = room
    ada = joined(server.url, "Ada")
    page.goto(server.url + "/_room?token=" + urllib.parse.quote(the_room.instructor_token))
    bad = requests.post(server.url + "/oauth2/token", timeout=5, data={
        "grant_type": "authorization_code", "code": "made-up", "redirect_uri": REDIRECT},
        auth=(ada["client_id"], ada["client_secret"]))
    assert bad.status_code == 400
    learner = the_room.learner(ada["client_id"])
    assert learner is not None and learner.progress.last_error is not None
    fresh = page.locator(f'#rows tr[data-client-id="{ada["client_id"]}"]')
    expect(fresh).to_be_visible(timeout=WAIT)
    expect(fresh).not_to_have_class(re.compile(r"\bstuck\b"))  # a fresh error is not being stuck
    learner.progress.last_error.at -= 300
    expect(fresh).to_have_class(re.compile(r"\bstuck\b"), timeout=WAIT)
    shot(page, "06-stuck")
    # A step that succeeds afterwards: no longer stuck.
    assert requests.get(server.url + "/_mock/clock", auth=(ada["client_id"], ada["client_secret"]),
                        timeout=5).status_code == 200
    metadata = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    verifier, challenge = pkce_pair()
    landed = Browser(requests.Session()).login(metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": ada["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}), until=REDIRECT,
        email=ada["email"], password=ada["password"])
    assert landed.params["code"]
    expect(fresh).not_to_have_class(re.compile(r"\bstuck\b"), timeout=WAIT)
