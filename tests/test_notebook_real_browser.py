"""The learner's real path through the notebooks' browser steps, in a real browser (Debian's
chromium, driven by Playwright), without KIT_AUTOLOGIN.

A kernel runs in notebooks/ as JupyterLab would start it: no KIT_AUTOLOGIN, no .env
(KIT_ENV_FILE=/dev/null), no AUTHGEAR_*: so `connect()` starts the bundled mock at
http://localhost:4000 inside the kernel, and `login_in_browser` / `logout_in_browser` start the
kernel's own listener on http://localhost:3000 to catch where the browser lands. The test
executes the notebook's cells in order, one by one. When a cell prints "Open this link in your
browser", the test takes the link from the output; when a cell that waits for the browser runs
(`.callback()`, `quick_login()`), the browser does what the learner does, while the kernel
executes that cell: open the link, log in as alice on the mock's page (or press Cancel, or
nothing for a silent login or a logout), and land on the kernel's "Got it." page. Every cell
must finish without an error.

- 03: the login (the state check passes on the real callback) and Cancel (access_denied).
- 04: three fresh codes: the first asks for the password, the next two show Authgear's
  select-account page, where the learner presses "Continue as alice@example.com".
- 08: quick_login's browser step, the silent prompt=none login (the browser's cookie at the
  mock), the browser logout (no confirmation: a link opened from the address bar is same-site,
  so chromium sends Authgear's SameSite=Strict marker), and the next prompt=none login
  answering login_required. One browser context for each notebook: it holds the mock's
  cookies, as a real browser does.

Screenshots of the browser steps go to test-artifacts/notebooks/. The kernel (and with it its
mock and listener) is shut down at the end, and ports 4000 and 3000 are checked free again,
so the notebooks' nbval run afterwards starts from nothing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mock_idp.server import port_in_use
from tests.browser import launch_chromium
from tests.browser import shot as browser_shot

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MOCK_PORT, LISTENER_PORT = 4000, 3000
LINK_PROMPT = "Open this link in your browser"
LISTENING = re.compile(r"The notebook is listening at (\S+) to catch where you land\.")
CELL_TIMEOUT = 30  # seconds; a waiting cell is answered by the browser within a few

pytestmark = [pytest.mark.timeout(120)]




def wait_ports_free(*ports: int, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        busy = [port for port in ports if port_in_use(port)]
        if not busy or time.monotonic() > deadline:
            return busy
        time.sleep(0.1)


# --- The browser ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium) -> Iterator[object]:
    """One browser context per notebook: the mock's cookie lives in it across the notebook's cells."""
    context = chromium.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


@dataclass
class Link:
    url: str  # what the cell printed after "Open this link in your browser …"
    action: str  # "log in", "press Cancel" or "log out": what the instruction asks
    lands_on: str  # where the kernel listens: the browser must end there
    cell: int


@dataclass
class Learner:
    """What a person at the browser does with a link the notebook printed."""

    page: object
    notebook: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what the learner did, where the browser landed)
    shots: int = 0

    def shot(self, name: str) -> None:
        self.shots += 1
        browser_shot(self.page, "notebooks", f"{self.notebook}-{self.shots:02d}-{name}")

    def follow(self, link: Link) -> str:
        from playwright.sync_api import expect

        page = self.page
        landed = lambda url: url.startswith(link.lands_on)  # noqa: E731
        page.goto(link.url)
        if link.action == "log out":
            # A link opened from the address bar is same-site for chromium: it sends Authgear's
            # SameSite=Strict marker, so the logout happens at once, with no confirmation page.
            step = "logout"
        else:
            page.wait_for_url(lambda url: landed(url) or "/login?" in url or "/select_account?" in url)
            if landed(page.url):
                step = "silent-login"  # prompt=none: the browser comes straight back
            elif "/select_account?" in page.url:
                # Authgear's session lives: "Continue as alice@example.com", no password.
                expect(page.locator("#password")).to_have_count(0)
                self.shot("select-account")
                page.click("button:has-text('Continue as alice@example.com')")
                step = "continue-as"
            else:
                expect(page.locator("#password")).to_be_visible()
                if link.action == "press Cancel":
                    self.shot("login-page-before-cancel")
                    page.click("button:has-text('Cancel and go back to the app')")
                    step = "cancel"
                else:
                    page.fill("#email", "alice@example.com")
                    page.fill("#password", "alice123")
                    self.shot("login-page-filled")
                    page.click("button:has-text('Continue')")
                    step = "login"
        page.wait_for_url(landed)
        expect(page.get_by_role("heading", name="Got it.")).to_be_visible()
        expect(page.get_by_text("Go back to the notebook")).to_be_visible()
        self.shot(f"{step}-landed")
        self.steps.append((step, page.url))


# --- The kernel -----------------------------------------------------------------------------

@dataclass
class Cell:
    index: int
    source: str
    text: str  # everything the cell printed (streams and results)
    errors: list[str]


class Kernel:
    """A notebook's kernel driven cell by cell; a printed login/logout link goes to the learner
    when a cell that waits for the browser runs, while the kernel executes that cell."""

    def __init__(self, client, learner: Learner) -> None:
        self.client = client
        self.learner = learner
        self.link: Link | None = None
        self.linked_cells: set[int] = set()

    @staticmethod
    def waits_for_browser(source: str) -> bool:
        return ".callback()" in source or "quick_login(" in source or "quick_code(" in source

    def _take_link(self, cell: int, text: str) -> None:
        if LINK_PROMPT not in text or cell in self.linked_cells:
            return
        listening = LISTENING.search(text)
        if listening is None:  # the link is printed first, the listener's line right after
            return
        after = text[text.index(LINK_PROMPT):]
        instruction = after.splitlines()[0]
        url = next(line.strip() for line in after.splitlines()[1:] if line.strip())
        action = ("press Cancel" if "press Cancel" in instruction
                  else "log out" if "log out" in instruction else "log in")
        assert self.link is None, f"cell {cell} printed a link while the one of cell {self.link.cell} was not followed"
        self.link = Link(url, action, listening.group(1), cell)
        self.linked_cells.add(cell)

    def run(self, index: int, source: str) -> Cell:
        waits = self.waits_for_browser(source)
        msg_id = self.client.execute(source, store_history=True, allow_stdin=False)
        text: list[str] = []
        errors: list[str] = []
        started = False
        deadline = time.monotonic() + CELL_TIMEOUT
        while True:
            if started and waits and self.link is not None:
                # The kernel is executing the waiting cell now; the learner acts meanwhile.
                self.learner.follow(self.link)
                self.link = None
            try:
                message = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"cell {index} did not finish within {CELL_TIMEOUT} s; it printed:\n"
                                     + "".join(text)) from None
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "status" and content["execution_state"] == "busy":
                started = True
            elif kind == "status" and content["execution_state"] == "idle":
                break
            elif kind == "stream":
                text.append(content["text"])
                if content["name"] == "stderr":
                    errors.append(f"stderr: {content['text'].strip()[:500]}")
            elif kind in ("execute_result", "display_data"):
                text.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                errors.append(f"{content['ename']}: {content['evalue']}\n" + "\n".join(content["traceback"]))
            self._take_link(index, "".join(text))
        reply = self.client.get_shell_msg(timeout=10)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=10)
        if reply["content"]["status"] != "ok" and not errors:
            errors.append(f"execute_reply status {reply['content']['status']}")
        return Cell(index, source, "".join(text), errors)

    def run_notebook(self, name: str) -> list[Cell]:
        notebook = json.loads((NOTEBOOKS / name).read_text())
        cells = []
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] != "code":
                continue
            ran = self.run(index, "".join(cell["source"]))
            assert not ran.errors, f"{name}, cell {index} failed:\n{ran.source}\n---\n" + "\n".join(ran.errors)
            cells.append(ran)
        assert self.link is None, f"{name}: the link of cell {self.link.cell} was never waited for"
        return cells


@pytest.fixture
def kernel(page) -> Iterator[Callable[[str], Kernel]]:
    """Starts a notebook's kernel as JupyterLab would, with the learner's environment; shuts it down
    (and with it the mock and listener it started) at the end."""
    from jupyter_client import KernelManager

    busy = [port for port in (MOCK_PORT, LISTENER_PORT) if port_in_use(port)]
    if busy:
        pytest.fail(f"port(s) {', '.join(map(str, busy))} already in use (a `make lab` mock on 4000, the "
                    "walkthrough on 3000?): this test needs the kernel to start its own mock and listener there. "
                    "Stop them (`ss -ltnp | grep -E ':(3000|4000)'`) and run it again.")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("AUTHGEAR_") and name not in ("KIT_AUTOLOGIN", "KIT_PASTE_BACK")}
    env["KIT_ENV_FILE"] = os.devnull
    managers = []

    def start(notebook: str) -> Kernel:
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(env=env, cwd=str(NOTEBOOKS))
        managers.append(manager)
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        return Kernel(client, Learner(page, notebook))

    try:
        yield start
    finally:
        for manager in managers:
            manager.shutdown_kernel(now=False)
        still_busy = wait_ports_free(MOCK_PORT, LISTENER_PORT)
        assert not still_busy, f"port(s) {still_busy} still in use after the kernel was shut down"


def cell_with(cells: list[Cell], snippet: str) -> Cell:
    return next(cell for cell in cells if snippet in cell.source)


def test_notebook_03_login_and_cancel_in_a_real_browser(kernel) -> None:
    running = kernel("03")
    cells = running.run_notebook("03-authorization-request.ipynb")

    assert "Provider: the bundled mock" in cells[0].text
    shown = cell_with(cells, "login = login_in_browser(settings, login_url)").text
    assert "(Running unattended" not in shown, "KIT_AUTOLOGIN leaked into the kernel"
    assert "listening at http://localhost:3000/auth-redirect" in shown, shown

    steps = running.learner.steps
    assert [step for step, _ in steps] == ["login", "cancel"], steps
    (_, login_landed), (_, cancel_landed) = steps
    assert login_landed.startswith("http://localhost:3000/auth-redirect?code="), login_landed
    assert "error=access_denied" in cancel_landed, cancel_landed

    assert re.search(r"http://localhost:3000/auth-redirect\?code=\S+…&state=", cell_with(cells, "landed = login.callback()").text)
    checked = cell_with(cells, "code = read_callback(landed, state)").text
    assert "state matches ✔" in checked, checked
    cancelled = cell_with(cells, "cancelled = cancel_login.callback()").text
    assert "error=access_denied" in cancelled and "The login did not succeed: access_denied" in cancelled, cancelled


def test_notebook_04_second_and_third_logins_show_the_select_account_page(kernel) -> None:
    running = kernel("04")
    cells = running.run_notebook("04-code-exchange.ipynb")

    steps = running.learner.steps
    # The first code needs the password; the next two only "Continue as alice@example.com".
    assert [step for step, _ in steps] == ["login", "continue-as", "continue-as"], steps
    assert all(landed.startswith("http://localhost:3000/auth-redirect?code=") for _, landed in steps), steps
    assert "invalid authorization code" in cell_with(cells, "attackers_verifier, _ = pkce_pair()").text
    assert "HTTP 200" in cell_with(cells, "tutorial_exchange = requests.post").text  # the third code, redeemed


def test_notebook_08_login_logout_and_silent_login_in_a_real_browser(kernel) -> None:
    running = kernel("08")
    cells = running.run_notebook("08-logout-and-revocation.ipynb")

    steps = running.learner.steps
    assert [step for step, _ in steps] == ["login", "silent-login", "logout", "silent-login"], steps
    first_login, silent, logout, after_logout = (landed for _, landed in steps)
    assert first_login.startswith("http://localhost:3000/auth-redirect?code=")
    assert silent.startswith("http://localhost:3000/auth-redirect?code="), "the browser's cookie should log it in silently"
    assert re.fullmatch(r"http://localhost:3000/?\?state=[\w-]+", logout), logout
    assert "error=login_required" in after_logout, after_logout

    assert "Logged in. The token response has:" in cells[0].text
    assert "Authgear answered with: ['code', 'state']" in cell_with(cells, "Expected a code, since Authgear's session is alive").text
    assert "state matches: True" in cell_with(cells, "landed_url = urllib.parse.urlsplit(pending.callback())").text
    wire = cell_with(cells, "/_mock/exchanges").text
    assert "sent with Authgear's session cookie: True" in wire, wire
    assert "Set-Cookie deletes the session cookie: True" in wire, wire
    assert "error: login_required" in cell_with(cells, "print(\"error:\", landed.get(\"error\"))").text
