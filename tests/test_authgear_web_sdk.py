"""Authgear's own browser SDK (@authgear/web 6.x, from npm) against the mock, in Debian's chromium.

A single-page app (tests/spa/index.html) on its own origin, http://localhost:<free port>, loads
the SDK's <script>-tag build (dist/authgear-web.iife.js, the global `authgear`) and talks to a mock
on http://127.0.0.1:<another free port>: another origin (another site, even), so every call the
SDK makes to the mock is a cross-origin fetch that the browser lets the page read only if the
mock's CORS answers allow it (mock_idp/cors.py). The whole path of a public client:

configure(refresh_token session) → startAuthentication → the mock's login form, filled in and
submitted like a person → back on the SPA: finishAuthentication (code + PKCE at the token
endpoint, then userinfo) → fetchUserInfo → the mock's clock and the browser's clock moved past
the access token's life → refreshAccessTokenIfNeeded (refresh_token grant) → fetchUserInfo with
the new token → logout (revokes the refresh token).

`make test` installs the SDK into .test-tools/ (scripts/install-test-tools.sh); the test never runs
npm and fails, saying what to run, when the SDK is missing. Screenshots: test-artifacts/authgear-web/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from mock_idp import RunningServer, serve
from mock_idp.server import bind, serve_app
from tests.browser import launch_chromium
from tests.browser import shot as browser_shot

ROOT = Path(__file__).resolve().parent.parent
SDK_VERSION = "6.0.0"  # pinned in scripts/install-test-tools.sh too
SDK_JS = (ROOT / ".test-tools" / f"@authgear+web@{SDK_VERSION}" / "node_modules" / "@authgear" / "web" / "dist"
          / "authgear-web.iife.js")
SPA_PAGE = Path(__file__).resolve().parent / "spa" / "index.html"
ACCESS_TOKEN_LIFETIME = 1800  # the mock's default, Authgear's too


def spa_app(config: dict[str, str]) -> Starlette:
    """The SPA's static files: the page (also at the redirect URI's path), its config, the SDK."""
    page = SPA_PAGE.read_text()
    no_store = {"Cache-Control": "no-store"}

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html", headers=no_store)

    async def config_js(request: Request) -> Response:
        return Response(f"window.SPA_CONFIG = {json.dumps(config)};\n", media_type="text/javascript", headers=no_store)

    async def sdk(request: Request) -> Response:
        return FileResponse(SDK_JS, media_type="text/javascript")

    return Starlette(routes=[Route("/", index), Route("/callback", index), Route("/config.js", config_js),
                             Route("/authgear-web.iife.js", sdk)])


class Stack:
    def __init__(self, idp: RunningServer, spa: RunningServer) -> None:
        self.idp, self.spa = idp, spa
        self.origin = spa.url
        self.redirect_uri = spa.url + "/callback"
        self.post_logout_redirect_uri = spa.url + "/"


@pytest.fixture
def stack() -> Iterator[Stack]:
    if not SDK_JS.is_file():
        pytest.fail(f"{SDK_JS.relative_to(ROOT)} is missing: run `make test` (or `bash scripts/install-test-tools.sh`), "
                    f"which installs @authgear/web@{SDK_VERSION} from npm before the tests", pytrace=False)
    with serve(port=0) as idp:
        sock = bind("127.0.0.1", 0)
        # localhost, not 127.0.0.1: another origin and another site than the mock's.
        spa_url = f"http://localhost:{sock.getsockname()[1]}"
        config = {"endpoint": idp.url, "clientID": "mock-spa", "redirectURI": spa_url + "/callback",
                  "postLogoutRedirectURI": spa_url + "/"}
        spa = serve_app(spa_app(config), sock, spa_url)
        try:
            # mock-spa again, public (no secret), with this SPA's redirect URIs instead of localhost:3000/3001.
            client = {"client_id": "mock-spa", "name": "SPA on @authgear/web (test)",
                      "redirect_uris": [config["redirectURI"]], "post_logout_redirect_uris": [config["postLogoutRedirectURI"]]}
            registered = requests.post(idp.url + "/_mock/clients", json=client, timeout=10)
            assert registered.status_code == 201, registered.text
            yield Stack(idp, spa)
        finally:
            spa.stop()


@pytest.fixture
def page(stack: Stack) -> Iterator[object]:
    with launch_chromium() as browser:
        context = browser.new_context(viewport={"width": 1000, "height": 760})
        try:
            context.clock.install()  # the SDK times its access token by the browser's clock: the test moves it
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.problems = []
            page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
            page.on("pageerror", lambda error: page.problems.append(str(error)))
            page.mock_calls = []
            page.on("response", lambda response: response.url.startswith(stack.idp.url) and page.mock_calls.append(response))

            def failed(request) -> None:
                # The SDK never reads the revocation answer's (empty) body: chromium then reports the
                # fetch as ERR_ABORTED although its answer came (a 200, checked below). Only a
                # request that got no answer at all is a problem.
                if request.failure == "net::ERR_ABORTED" and any(r.request is request for r in page.mock_calls):
                    return
                page.problems.append(f"{request.method} {request.url}: {request.failure}")

            page.on("requestfailed", failed)
            yield page
        finally:
            context.close()


def shot(page, name: str) -> None:
    browser_shot(page, "authgear-web", name)


def result(page) -> dict:
    return page.evaluate("JSON.parse(JSON.stringify(spa.result))")


def wait_for_steps(page, count: int) -> None:
    """Until the SPA has done `count` steps; a step that failed fails the test with the SDK's error
    and the browser's console (where chromium says which CORS header was missing)."""
    page.wait_for_function(f"document.body.dataset.steps >= {count} || spa.result.error !== null")
    assert result(page)["error"] is None, (result(page)["error"], page.problems)


def cross_origin_calls(page, stack: Stack, path: str) -> list:
    """The SDK's fetches to `path` of the mock that the page was allowed to read."""
    calls = []
    for response in page.mock_calls:
        if response.url.split("?")[0] == stack.idp.url + path and response.request.resource_type == "fetch":
            calls.append(response)
    return calls


def test_authgear_web_sdk_logs_in_refreshes_and_logs_out_against_the_mock(stack: Stack, page) -> None:
    from playwright.sync_api import expect

    page.goto(stack.spa.url + "/")
    page.wait_for_function("document.body.dataset.ready === 'yes'")
    assert result(page)["steps"] == ["configure"], (result(page), page.problems)
    assert page.evaluate("authgear.VERSION") == SDK_VERSION
    expect(page.locator("#session-state")).to_have_text("NO_SESSION")
    shot(page, "01-spa-before-login")

    page.click("#login")
    page.wait_for_url(stack.idp.url + "/login?*")
    authorize = next(r for r in page.mock_calls if "/oauth2/authorize?" in r.url)
    assert "x_suppress_idp_session_cookie=true" in authorize.url and "code_challenge_method=S256" in authorize.url
    shot(page, "02-mock-login-form")
    page.fill("#email", "alice@example.com")
    page.fill("#password", "alice123")
    page.click("button:has-text('Continue')")

    page.wait_for_url(stack.spa.url + "/**")  # back on the SPA's /callback
    page.wait_for_function("document.body.dataset.ready === 'yes'")
    wait_for_steps(page, 3)
    assert page.url == stack.spa.url + "/"  # finished: the spent code is out of the address bar
    after_login = result(page)
    assert after_login["steps"] == ["configure", "finishAuthentication", "fetchUserInfo"], after_login
    assert after_login["finished"]["email"] == "alice@example.com"
    assert after_login["userInfo"]["email"] == "alice@example.com"
    assert after_login["userInfo"]["emailVerified"] is True
    assert after_login["sessionState"] == "AUTHENTICATED"
    assert len(after_login["accessTokens"]) == 1
    first_token = after_login["accessTokens"][0]
    expect(page.locator("#email")).to_have_text("alice@example.com")
    shot(page, "03-spa-logged-in")

    # Every call the SDK made to the mock was cross-origin, and the mock's CORS answer let it through.
    for path in ("/.well-known/openid-configuration", "/oauth2/token", "/oauth2/userinfo"):
        calls = cross_origin_calls(page, stack, path)
        assert calls, (path, [r.url for r in page.mock_calls])
        for response in calls:
            assert response.request.all_headers().get("origin") == stack.origin
            assert response.status == 200
            assert response.all_headers().get("access-control-allow-origin") == stack.origin
    token_call = cross_origin_calls(page, stack, "/oauth2/token")[0]
    assert "grant_type=authorization_code" in token_call.request.post_data
    assert token_call.all_headers().get("access-control-allow-credentials") == "true"
    assert page.evaluate("localStorage.length") >= 1  # the refresh token, where the SDK keeps it

    # Nothing to refresh yet: the SDK keeps its token.
    page.click("#refresh")
    wait_for_steps(page, 5)
    assert result(page)["accessTokens"] == [first_token]

    # The access token's life ends, by the mock's clock and by the browser's.
    advanced = requests.post(stack.idp.url + "/_mock/clock", json={"advance": ACCESS_TOKEN_LIFETIME + 100}, timeout=10)
    assert advanced.status_code == 200, advanced.text
    old = requests.get(stack.idp.url + "/oauth2/userinfo", headers={"Authorization": "Bearer " + first_token}, timeout=10)
    assert old.status_code == 401  # the mock no longer takes the first token
    page.clock.fast_forward((ACCESS_TOKEN_LIFETIME + 100) * 1000)

    page.click("#refresh")
    wait_for_steps(page, 7)
    refreshed = result(page)
    assert len(refreshed["accessTokens"]) == 2, refreshed
    new_token = refreshed["accessTokens"][1]
    assert new_token != first_token
    assert refreshed["userInfo"]["email"] == "alice@example.com"
    refresh_calls = [r for r in cross_origin_calls(page, stack, "/oauth2/token")
                     if "grant_type=refresh_token" in (r.request.post_data or "")]
    assert len(refresh_calls) == 1 and refresh_calls[0].status == 200
    assert refresh_calls[0].all_headers().get("access-control-allow-origin") == stack.origin
    assert refresh_calls[0].json()["access_token"] == new_token
    expect(page.locator("#tokens li")).to_have_count(2)
    shot(page, "04-spa-refreshed")
    # The mock takes the new token (and told the browser the same: fetchUserInfo above used it).
    now = requests.get(stack.idp.url + "/oauth2/userinfo", headers={"Authorization": "Bearer " + new_token}, timeout=10)
    assert now.status_code == 200 and now.json()["email"] == "alice@example.com"
    refresh_token = refresh_calls[0].request.post_data.split("refresh_token=")[1].split("&")[0]

    page.click("#logout")
    expect(page.locator("#session-state")).to_have_text("NO_SESSION")
    wait_for_steps(page, 8)
    logged_out = result(page)
    assert logged_out["steps"][-1] == "logout"
    expect(page.locator("#email")).to_have_text("–")
    assert page.evaluate("authgear.default.accessToken") is None
    assert page.evaluate("Object.keys(localStorage).filter(k => k.includes('refresh_token'))") == []
    revoke_calls = cross_origin_calls(page, stack, "/oauth2/revoke")
    assert len(revoke_calls) == 1 and revoke_calls[0].status == 200
    assert revoke_calls[0].all_headers().get("access-control-allow-origin") == stack.origin
    shot(page, "05-spa-logged-out")
    # The mock revoked the grant: its refresh token (unquoted from the form body) is dead.
    dead = requests.post(stack.idp.url + "/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": "mock-spa",
        "refresh_token": requests.utils.unquote(refresh_token)})
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    assert page.problems == [], page.problems
