"""The walkthrough in a real browser (Debian's chromium, driven by Playwright):
landing → Log in → the mock's login form → back on the app with the email shown → the
mock's clock moved past the access token's life → the page refreshes the token → the
protected API → logout → Log in again shows the password form. And a user whose name and
email are HTML is shown as text. A screenshot of each step goes to test-artifacts/walkthrough/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.browser import launch_chromium
from tests.browser import shot as browser_shot
from tests.test_walkthrough import Stack, start_stack



@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def stack() -> Iterator[Stack]:
    running = start_stack()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def page(chromium) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1180, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    missing: list[str] = []  # the app's own addresses that answered 404 (the favicon, a stylesheet)
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    page.missing = missing
    try:
        yield page
    finally:
        context.close()


def shot(page, name: str) -> None:
    browser_shot(page, "walkthrough", name)


def log_in_at_the_mock(page, email: str, password: str, base: str) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button:has-text('Continue')")
    page.wait_for_url(base + "/")


def test_login_refresh_api_logout_in_a_real_browser(stack: Stack, page) -> None:
    from playwright.sync_api import expect

    page.goto(stack.base + "/")
    expect(page.get_by_role("heading", name="Hi there!")).to_be_visible()
    expect(page.get_by_text("What is fixed compared with the tutorial")).to_be_visible()
    shot(page, "01-landing")

    page.click("text=Log in")
    page.wait_for_url(stack.idp.url + "/login?*")
    expect(page.locator("#password")).to_be_visible()
    shot(page, "02-mock-login-form")

    log_in_at_the_mock(page, "alice@example.com", "alice123", stack.base)
    expect(page.locator("h1.welcome")).to_have_text("Welcome alice@example.com")
    expect(page.locator("#userinfo")).to_contain_text('"name": "Alice Liddell"')
    expect(page.locator(".step-title")).to_have_count(7)
    expect(page.locator("#refresh-count")).to_contain_text("not yet")
    shot(page, "03-logged-in")

    stack.advance_clock(1800 + 60)  # past the access token's 30 minutes, by the mock's clock
    page.reload()
    expect(page.locator(".notice")).to_contain_text("The access token was refreshed")
    expect(page.locator("#refresh-count")).to_contain_text("1 time")
    expect(page.locator(".step-title", has_text="Refresh the access token")).to_have_count(1)
    expect(page.locator("h1.welcome")).to_have_text("Welcome alice@example.com")
    shot(page, "04-refreshed")

    page.click("button:has-text('Call the protected API')")
    expect(page.locator("#api-result")).to_contain_text("Hello from the protected API")
    expect(page.locator("#api-result .badge")).to_have_text("200")
    shot(page, "05-api-called")

    # A second login while Authgear's session lives: its select-account page, no password.
    page.goto(stack.base + "/login")
    page.wait_for_url(stack.idp.url + "/select_account?*")
    expect(page.get_by_role("button", name="Continue as alice@example.com")).to_be_visible()
    expect(page.get_by_role("button", name="Use another account")).to_be_visible()
    expect(page.locator("#password")).to_have_count(0)
    shot(page, "06-select-account")
    page.click("button:has-text('Continue as alice@example.com')")
    page.wait_for_url(stack.base + "/")
    expect(page.locator("h1.welcome")).to_have_text("Welcome alice@example.com")

    # localhost:<app> to localhost:<mock> is one site: chromium sends the SameSite=Strict marker
    # and Authgear logs out at once, with no confirmation page.
    # Authgear sends the browser back to /?state=…; the app checks the state and 303s to a clean "/".
    with page.expect_navigation(url=stack.base + "/"):
        page.click("button:has-text('Log out')")
    assert page.url == stack.base + "/"
    expect(page.locator(".notice")).to_contain_text("You are logged out of this app and of Authgear")
    expect(page.get_by_role("heading", name="Hi there!")).to_be_visible()
    shot(page, "07-logged-out")

    page.click("text=Log in")
    page.wait_for_url(stack.idp.url + "/login?*")
    expect(page.locator("#password")).to_be_visible()  # the Authgear session ended too: no select-account page
    shot(page, "08-login-again-asks-for-password")

    page.click("button:has-text('Cancel and go back to the app')")
    expect(page.get_by_role("heading", name="You cancelled the login")).to_be_visible()
    expect(page.get_by_role("link", name="Start over")).to_be_visible()
    shot(page, "09-cancelled")
    assert page.dialogs == []
    assert page.missing == []  # the favicon included: nothing the pages load is a 404


def test_html_in_the_users_name_and_email_is_shown_as_text(stack: Stack, page) -> None:
    from playwright.sync_api import expect

    name = "<img src=x onerror=alert(1)>"
    email = "<script>alert(2)</script>@example.com"
    user = {"email": email, "password": "xss-pass-1", "claims": {"name": name},
            "custom_attributes": {"bio": "<svg onload=alert(3)>"}}
    added = requests.post(stack.idp.url + "/_mock/users", data=json.dumps(user),
                          headers={"Content-Type": "application/json"}, timeout=5)
    assert added.status_code == 201, added.text

    page.goto(stack.base + "/login")
    page.wait_for_url(stack.idp.url + "/login?*")
    # The login form's type=email field would refuse this address; a person could still register it
    # through another channel, so type it as text.
    page.locator("#email").evaluate("field => field.type = 'text'")
    log_in_at_the_mock(page, email, "xss-pass-1", stack.base)

    expect(page.locator("h1.welcome")).to_have_text("Welcome " + email)
    expect(page.locator(".eyebrow").first).to_have_text("Logged in as " + name)
    expect(page.locator("#userinfo")).to_contain_text("<svg onload=alert(3)>")
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("svg").count() == 0
    assert page.evaluate("document.scripts.length") == 0
    shot(page, "10-xss-shown-as-text")
    assert page.dialogs == [], page.dialogs


def test_a_logout_link_on_another_site_gets_the_confirmation_page(stack: Stack, page) -> None:
    """The real SameSite rule at work: a link to end_session on a page of another site
    (127.0.0.1 is not localhost) comes without Authgear's SameSite=Strict marker cookie, so
    Authgear asks "Log out?" first; pressing it logs out and goes on to the app."""
    from playwright.sync_api import expect
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from mock_idp.server import bind, serve_app

    page.goto(stack.base + "/login")
    log_in_at_the_mock(page, "alice@example.com", "alice123", stack.base)
    end_session = stack.idp.url + "/oauth2/end_session?post_logout_redirect_uri=" + stack.base + "/&state=s1"

    async def other_site(request) -> HTMLResponse:
        return HTMLResponse(f'<a id="out" href="{end_session}">Log out of Authgear</a>')

    sock = bind("127.0.0.1", 0)
    other = serve_app(Starlette(routes=[Route("/", other_site)]), sock, f"http://127.0.0.1:{sock.getsockname()[1]}")
    try:
        page.goto(other.url + "/")
        page.click("#out")
        page.wait_for_url(stack.idp.url + "/logout?*")
        expect(page.get_by_role("heading", name="Log out?")).to_be_visible()
        expect(page.get_by_text("alice@example.com")).to_be_visible()
        shot(page, "11-cross-site-logout-asks")
        page.click("button:has-text('Log out')")
        # Back at the app, whose tokens died with Authgear's session: it sends the browser to log
        # in again, and with no session left Authgear asks for the password.
        page.wait_for_url(stack.idp.url + "/login?*")
        expect(page.locator("#password")).to_be_visible()
        shot(page, "12-after-cross-site-logout")
    finally:
        other.stop()
    assert page.dialogs == []


@pytest.mark.parametrize("width", [1180, 375])
def test_long_values_wrap_and_every_page_fits_the_width(stack: Stack, chromium, width: int) -> None:
    """Tokens, URLs and codes wrap at their punctuation, inside their boxes: no page is wider
    than the window, on a laptop (1180 px) or a phone (375 px)."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)

    def fits(name: str) -> None:
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        # Every step-log box stays within its column (its text wraps, it does not scroll sideways).
        assert page.evaluate("[...document.querySelectorAll('pre')].every(p => p.scrollWidth <= p.clientWidth)"), name
        shot(page, f"13-{width}px-{name}")

    try:
        page.goto(stack.base + "/")
        fits("landing")
        page.click("text=Log in")
        log_in_at_the_mock(page, "alice@example.com", "alice123", stack.base)
        page.click("button:has-text('Call the protected API')")
        expect(page.locator("#api-result")).to_contain_text("Hello from the protected API")
        fits("logged-in")
        page.goto(stack.base + "/no-such-page")
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        fits("not-found")
    finally:
        context.close()
