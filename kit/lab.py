"""The security lab's helpers (notebook 10): the tutorial's app as written and the walkthrough
side by side, and the parts of an attack that are not the lesson (a browser logging in,
planting a cookie, opening a page in Chromium).

    from kit import lab
    apps = lab.start()                  # both apps in this kernel, on free loopback ports, against the mock
    apps.tutorial, apps.walkthrough     # 'http://localhost:41327', 'http://localhost:41329'

    attacker, victim = lab.browser(), lab.browser()
    landed = lab.log_in_until_callback(attacker, apps.tutorial, "bob@example.com", "bob123")
    page = lab.visit(victim, landed)    # login CSRF: the victim's browser follows the attacker's callback
    lab.welcome(page)                   # 'bob@example.com'
    apps.stop()

Everything goes over HTTP as a browser's would: the logins through the mock's own login form
(`mock_idp.browser.Browser`), no backdoor. The exceptions are the premises of two attacks,
said where they are used: `session_ids` reads an app's server-side session store (a leak of
the store or of a log), and `set_claims` changes a user through the mock's teaching API (the
user editing their own profile in Authgear's settings page).

The lab needs the mock (the bundled one, or a room's): it registers the apps' ports with the
demo client and changes users through the teaching API, which an Authgear project does not have.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import itsdangerous
import requests
from starlette.applications import Starlette

from mock_idp.browser import Browser, Landed
from walkthrough import create_app as create_walkthrough
from walkthrough import tutorial
from walkthrough.__main__ import register_with_mock, unregister_from_mock
from walkthrough.server import Running, bind, serve_in_thread
from walkthrough.sessions import COOKIE_NAME

from . import hosted
from .settings import Settings

TIMEOUT = 10  # seconds, for each request
TUTORIAL_SECRET = tutorial.SESSION_SECRET  # "your_strong_secret_key"
TUTORIAL_COOKIE = tutorial.COOKIE_NAME  # "connect.sid"
WALKTHROUGH_COOKIE = COOKIE_NAME  # "walkthrough_session"
# A name that proves a script ran: it sets the page's title. JSON.stringify leaves ' alone.
XSS_PAYLOAD = "<script>document.title='XSS ran'</script>"
XSS_TITLE = "XSS ran"
CHROMIUM = Path("/usr/bin/chromium")  # installed by `make test` (scripts/install-browser.sh)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


class LabError(RuntimeError):
    """The lab cannot run here; the message says why and what to do."""


@dataclasses.dataclass
class LabApps:
    """The two apps, running in this process. `tutorial` and `walkthrough` are their URLs
    (http://localhost:PORT, no trailing slash); `tutorial_app` and `walkthrough_app` the ASGI
    apps (their session stores are in `.state`)."""

    settings: Settings
    tutorial: str
    walkthrough: str
    tutorial_app: Starlette
    walkthrough_app: Starlette
    servers: list[Running]
    # What register() added to the mock's client (not what was there before), removed by stop().
    added: tuple[set[str], set[str]] = dataclasses.field(default_factory=lambda: (set(), set()))

    def register(self) -> None:
        """Registers both apps' redirect and post-logout URIs with the mock's client again
        (after a POST /_mock/reset, which forgets them)."""
        for url, paths in ((self.tutorial, ("", "/")), (self.walkthrough, ("/",))):
            redirects, post_logouts = register_with_mock(self.settings, port_of(url), paths)
            self.added[0].update(redirects)
            self.added[1].update(post_logouts)

    def stop(self) -> None:
        """Stops both apps, then takes their URIs off the mock's client: once a port is free,
        another program may take it, and the mock must not send codes there. If the mock has
        gone already (a kernel restart stops it with the apps), there is nothing to take off."""
        for server in self.servers:
            server.stop()
        redirects, post_logouts = self.added
        if redirects or post_logouts:
            try:
                unregister_from_mock(self.settings, redirects, post_logouts)
            except (requests.RequestException, ValueError, StopIteration):
                pass
            redirects.clear()
            post_logouts.clear()

    def __enter__(self) -> "LabApps":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None, url
    return port


def start(settings: Settings | None = None, *, tutorial_port: int = 0, walkthrough_port: int = 0) -> LabApps:
    """Starts the tutorial's app and the walkthrough in this process, each on a loopback port
    (0: a free one), against `settings` (default: the kit's, as `kit.notebook.connect()` reads
    them, which starts the bundled mock if needed), and registers their redirect and post-logout
    URIs with the mock's client. Stop them with `.stop()` (or a `with` block)."""
    if settings is None:
        from .notebook import connect

        settings = connect()
    if not settings.is_mock:
        raise LabError("The security lab attacks the mock's demo users: it registers the apps' ports and changes a "
                       "user's name through the mock's teaching API, which an Authgear project does not have. "
                       "Run it with the bundled mock (move .env aside and restart the kernel).")
    servers: list[Running] = []
    apps: dict[str, tuple[str, Starlette]] = {}
    try:
        for name, port in (("tutorial", tutorial_port), ("walkthrough", walkthrough_port)):
            sock = bind("127.0.0.1", port)
            url = f"http://localhost:{sock.getsockname()[1]}"
            app_settings = dataclasses.replace(settings, redirect_url=url + "/auth-redirect")
            try:
                app = tutorial.create_app(app_settings) if name == "tutorial" else create_walkthrough(app_settings)
            except BaseException:
                sock.close()  # not served yet, so no server of `servers` holds it
                raise
            # On a shared hub machine another learner's programs must not reach a deliberately vulnerable app.
            servers.append(serve_in_thread(hosted.this_user_only(app), sock))
            apps[name] = (url, app)
        lab = LabApps(settings, apps["tutorial"][0], apps["walkthrough"][0], apps["tutorial"][1],
                      apps["walkthrough"][1], servers)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    try:
        lab.register()
    except BaseException:
        lab.stop()  # the servers, and whatever the first registration added
        raise
    return lab


# --- a browser's part ------------------------------------------------------------------------

def browser() -> Browser:
    """A new browser (its own cookie jar): one person."""
    return Browser()


def login_url(person: Browser, app_url: str) -> str:
    """Presses the app's Login in `person`'s browser: returns where the app sends it (the
    authorization URL), not followed. The walkthrough keeps its state and verifier in this
    browser's session; the tutorial's app keeps nothing."""
    answer = person.session.get(app_url + "/login", allow_redirects=False, timeout=TIMEOUT)
    if answer.status_code not in (302, 303) or "location" not in answer.headers:
        raise LabError(f"{app_url}/login answered {answer.status_code}, not a redirect to the login page")
    return answer.headers["location"]


def log_in_until_callback(person: Browser, app_url: str, email: str, password: str) -> Landed:
    """`person` starts a login on the app and logs in at the mock with `email` and `password`,
    and stops where the mock sends the browser back: the app's callback URL with the code in
    it (`.params["code"]`, and `.params["state"]` from the walkthrough), not visited."""
    return person.login(login_url(person, app_url), until=app_url + "/auth-redirect", email=email,
                        password=password)


def log_in(person: Browser, app_url: str, email: str, password: str) -> requests.Response:
    """A whole login: up to the callback, then the callback itself; returns the page it ends on."""
    return visit(person, log_in_until_callback(person, app_url, email, password))


def visit(person: Browser, url: str) -> requests.Response:
    """`person`'s browser opens `url` (a link clicked, an <img> loaded) and follows the redirects."""
    return person.session.get(url, timeout=TIMEOUT)


def open_page(person: Browser, page_html: str) -> requests.Response | None:
    """`person`'s browser opens a page (the attacker's, from another site): it goes where the
    page sends it on load (a meta refresh, a top-level navigation) and follows the redirects.
    None when the page sends it nowhere (a link waits for a click)."""
    from .exercises.n10_security_lab import page_loads

    navigates = page_loads(page_html).navigates
    return visit(person, navigates[0]) if navigates else None


def welcome(page: requests.Response | str) -> str | None:
    """Who the page says is logged in, or None: the tutorial's `<p>Welcome <email></p>`, the
    walkthrough's `<h1 class="welcome">Welcome <email></h1>`."""
    text = page.text if isinstance(page, requests.Response) else page
    found = re.search(r"<(p|h1)\b[^>]*>Welcome ([^<]*)</\1>", text)
    return html.unescape(found.group(2)).strip() if found else None


# --- sessions ------------------------------------------------------------------------------

def session_ids(app: Starlette) -> list[str]:
    """The raw session ids an app keeps on its server (not the cookies). The premise of the
    session forgery: a leak of the session store (Redis keys `sess:<id>`, a backup) or of a
    log that prints the session id. Read here from this process's memory."""
    if hasattr(app.state, "session_store"):  # the tutorial's MemoryStore
        return app.state.session_store.ids()
    return list(app.state.sessions._sessions)  # the walkthrough's SessionStore


def tutorial_cookie(session_id: str, secret: str = TUTORIAL_SECRET) -> str:
    """The tutorial's `connect.sid` for a session id, signed as express-session signs it."""
    return tutorial.cookie_value(session_id, secret)


def walkthrough_cookie(session_id: str, secret: str = TUTORIAL_SECRET) -> str:
    """The walkthrough's cookie for a session id, signed as Starlette's SessionMiddleware signs
    it (itsdangerous: base64 JSON, a timestamp, an HMAC), with `secret`."""
    data = base64.b64encode(json.dumps({"id": session_id}).encode())
    return itsdangerous.TimestampSigner(secret).sign(data).decode()


def plant_cookie(person: Browser, name: str, value: str) -> None:
    """Puts a cookie for localhost into `person`'s browser, as another page on localhost can
    (cookies on localhost are shared by every port; on the web, a sibling subdomain can)."""
    person.cookies.set(name, value, domain="localhost.local", path="/")


def cookie(person: Browser, name: str) -> str | None:
    """The value of `person`'s cookie `name` for localhost, or None."""
    return next((c.value for c in person.cookies if c.name == name), None)


# --- the mock's teaching API ---------------------------------------------------------------

def set_claims(settings: Settings, email: str, password: str, **claims: Any) -> dict[str, Any]:
    """Changes a user's standard claims (`name="..."`) through the mock's teaching API, keeping
    the rest: stands for the user editing their own profile in Authgear's settings page. The
    teaching API hides passwords, so give the user's (it is kept as it is). Returns the user."""
    return _change(settings, "users", lambda user: user["email"].lower() == email.lower(),
                   lambda user: {"password": password, "claims": {**user["claims"], **claims}})


def set_client(settings: Settings, **fields: Any) -> dict[str, Any]:
    """Changes the settings' client through the mock's teaching API, keeping the rest, as in
    the portal: `set_client(settings, refresh_token_rotation=True)`. Returns the client."""
    return _change(settings, "clients", lambda client: client["client_id"] == settings.client_id,
                   lambda client: {"client_secret": settings.client_secret, **fields})  # the list shortens it


def _change(settings: Settings, kind: str, which: Callable[[dict[str, Any]], bool],
            changes: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """GET /_mock/<kind>, the entry `which` picks, with `changes(entry)` made, POSTed back."""
    auth = settings.teaching_auth  # in a room: the learner's own client credentials
    entries = requests.get(f"{settings.endpoint}/_mock/{kind}", auth=auth, timeout=TIMEOUT).json()[kind]
    entry = next((e for e in entries if which(e)), None)
    if entry is None:
        raise LabError(f"the mock has no such entry in /_mock/{kind}")
    answer = requests.post(f"{settings.endpoint}/_mock/{kind}", json={**entry, **changes(entry)}, auth=auth,
                           timeout=TIMEOUT)
    if answer.status_code != 201:
        raise LabError(f"the mock refused the change: {answer.text}")
    return answer.json()


# --- Chromium ------------------------------------------------------------------------------

def playwright_starter() -> Any:
    """Playwright's `sync_playwright`, or None: Playwright is optional (`make test` installs it)."""
    try:
        from playwright.sync_api import sync_playwright as start_playwright
    except ImportError:
        return None
    return start_playwright


def chromium_missing() -> str | None:
    """Why Chromium cannot be driven here, or None when it can."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is not installed (`make test` installs it)"
    if playwright_starter() is None:
        return "Playwright is not installed (`make test` installs it)"
    return None


def open_in_chromium(url: str, *, email: str | None = None, password: str | None = None,
                     timeout: float = 15.0) -> str | None:
    """Opens `url` in a fresh headless Chromium, logs in at the mock's login form with `email`
    and `password` if it lands there, waits until the browser is back on `url`'s site, and
    returns the page's title (what a script on it set: `XSS_TITLE` after the payload ran).
    Returns None, and says why, where Chromium or Playwright is missing. Only this machine's
    pages (the lab's apps): the browser runs the lab's scripts, with its sandbox off as root."""
    if urllib.parse.urlsplit(url).hostname not in ("localhost", "127.0.0.1"):
        raise LabError(f"open_in_chromium opens the lab's own apps on this machine, not {url[:80]!r}")
    missing = chromium_missing()
    if missing is not None:
        print(f"Chromium cannot run here: {missing}. Skipped.")
        return None
    # Playwright's sync API refuses to run on a thread with an asyncio loop (a Jupyter kernel's).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_title_in_chromium, url, email, password, timeout).result()


def _title_in_chromium(url: str, email: str | None, password: str | None, timeout: float) -> str:
    site = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
    start_playwright = playwright_starter()
    with start_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page()
            page.set_default_timeout(timeout * 1000)
            page.goto(url)
            if page.locator("#password").count():  # the mock's login form
                if email is None or password is None:
                    raise LabError(f"{url} led to the login form: give email= and password=")
                page.fill("#email", email)
                page.fill("#password", password)
                page.click("button[name=action][value=login]")
                page.wait_for_url(lambda there: there.startswith(site + "/") and "/auth-redirect" not in there)
            page.wait_for_load_state()
            return page.title()
        finally:
            chromium.close()
