"""The pytest plugin (mock_idp/pytest_plugin.py) used as an app's developer would use it, and
the browser it drives (mock_idp/browser.py).

pytester runs small test suites of an imagined app in a fresh directory: the plugin comes in
through the package's `pytest11` entry point alone (no conftest), as it would in another
project. Authlib, a client we did not write, then logs in through the fixture here. The
select-account and logout-confirmation pages are checked against pages of their contract
served by a small Starlette app, so the browser is tested apart from the mock's own pages.
"""

from __future__ import annotations

import textwrap
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mock_idp.browser import Browser, BrowserError
from mock_idp.pytest_plugin import AuthgearMock
from mock_idp.server import RunningServer, bind, origin, serve_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")
    from authlib.jose import JsonWebKey, jwt as authlib_jwt

# The imagined app: what a developer on Authgear writes, and tests with the plugin.
APP = '''
    """The login of an app built on Authgear: authorization URL, callback, ID token check."""
    import base64, hashlib, secrets, urllib.parse

    import jwt  # PyJWT
    import requests


    class App:
        def __init__(self, issuer, client_id, client_secret, redirect_uri):
            self.issuer, self.client_id, self.client_secret = issuer, client_id, client_secret
            self.redirect_uri = redirect_uri
            self.metadata = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
            self.pending = {}  # by state: nonce and PKCE verifier

        def authorization_url(self, **extra):
            state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            self.pending[state] = (nonce, verifier)
            params = {"client_id": self.client_id, "redirect_uri": self.redirect_uri, "response_type": "code",
                      "scope": "openid offline_access email profile", "state": state, "nonce": nonce,
                      "code_challenge": challenge, "code_challenge_method": "S256", **extra}
            return self.metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)

        def callback(self, url, leeway=0):
            """The redirect URI's handler: code for tokens, ID token checked. Returns (claims, tokens)."""
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
            if "error" in params:
                raise PermissionError(params["error"])
            nonce, verifier = self.pending.pop(params["state"])
            response = requests.post(self.metadata["token_endpoint"], timeout=10, data={
                "grant_type": "authorization_code", "code": params["code"], "redirect_uri": self.redirect_uri,
                "client_id": self.client_id, "client_secret": self.client_secret, "code_verifier": verifier})
            response.raise_for_status()
            tokens = response.json()
            keys = jwt.PyJWKSet.from_dict(requests.get(self.metadata["jwks_uri"], timeout=10).json())
            kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
            claims = jwt.decode(tokens["id_token"], keys[kid].key, algorithms=["RS256"], audience=self.client_id,
                                issuer=self.issuer, leeway=leeway)
            assert claims["nonce"] == nonce
            return claims, tokens

        def userinfo(self, access_token):
            return requests.get(self.metadata["userinfo_endpoint"], timeout=10,
                                headers={"Authorization": "Bearer " + access_token})
'''

TESTS = '''
    import urllib.parse

    import pytest
    from mock_idp.browser import BrowserError

    from myapp import App

    REDIRECT = "http://localhost:3000/auth-redirect"
    CAROL = {"email": "carol@example.com", "password": "carol-pw", "claims": {"given_name": "Carol"},
             "custom_attributes": {"team": "Platform"}, "roles": ["editor"]}
    MY_APP = {"client_id": "my-app", "client_secret": "my-app-secret",
              "redirect_uris": ["http://127.0.0.1:8000/callback"],
              "post_logout_redirect_uris": ["http://127.0.0.1:8000/"]}


    def demo_app(mock):
        return App(mock.issuer, "mock-client", "mock-secret", REDIRECT)


    def test_login_as_a_demo_user(authgear_mock):
        app = demo_app(authgear_mock)
        landed = authgear_mock.login(app.authorization_url(), email="alice@example.com", password="alice123")
        assert landed.startswith(REDIRECT + "?") and set(landed.params) == {"code", "state"}
        claims, tokens = app.callback(landed)
        assert claims["email"] == "alice@example.com" and claims["iss"] == authgear_mock.issuer
        assert app.userinfo(tokens["access_token"]).json()["given_name"] == "Alice"


    @pytest.mark.authgear_mock(users=[CAROL], clients=[MY_APP], demo_data=False)
    def test_a_user_and_client_of_my_own(authgear_mock):
        app = App(authgear_mock.issuer, "my-app", "my-app-secret", "http://127.0.0.1:8000/callback")
        claims, tokens = app.callback(authgear_mock.login(app.authorization_url(), email="carol@example.com",
                                                          password="carol-pw"))
        assert claims["email"] == "carol@example.com"
        info = app.userinfo(tokens["access_token"]).json()
        assert info["given_name"] == "Carol" and info["custom_attributes"] == {"team": "Platform"}
        assert [c["client_id"] for c in authgear_mock.clients()] == ["my-app"]
        with pytest.raises(BrowserError, match="Incorrect email or password"):  # no demo users here
            authgear_mock.login(app.authorization_url(), email="alice@example.com", password="alice123")


    def test_the_access_token_expires_when_the_clock_moves(authgear_mock):
        app = demo_app(authgear_mock)
        claims, tokens = app.callback(authgear_mock.login(app.authorization_url(), email="bob@example.com",
                                                          password="bob123"))
        assert app.userinfo(tokens["access_token"]).status_code == 200
        assert authgear_mock.advance_clock(tokens["expires_in"] + 1) == 1801
        expired = app.userinfo(tokens["access_token"])
        assert expired.status_code == 401 and "invalid_grant" in expired.headers["WWW-Authenticate"]
        # Logging in again works; its ID token is "issued" 1801 s ahead of real time.
        claims, _ = app.callback(authgear_mock.login(app.authorization_url(), email="bob@example.com",
                                                     password="bob123"), leeway=1801)
        assert authgear_mock.set_clock(0) == 0 and authgear_mock.clock_offset() == 0


    def test_users_added_at_runtime_are_gone_after_reset(authgear_mock):
        app = demo_app(authgear_mock)
        assert authgear_mock.add_user(email="dave@example.com", password="dave-pw")["password"] != "dave-pw"
        claims, _ = app.callback(authgear_mock.login(app.authorization_url(), email="dave@example.com",
                                                     password="dave-pw"))
        assert claims["email"] == "dave@example.com"
        assert [e["path"] for e in authgear_mock.exchanges()][-1] == "/oauth2/token"
        authgear_mock.reset()
        assert authgear_mock.exchanges() == []
        assert "dave@example.com" not in [u["email"] for u in authgear_mock.users()]


    def test_cancel_and_form_post(authgear_mock):
        app = demo_app(authgear_mock)
        cancelled = authgear_mock.login(app.authorization_url(), press="cancel")
        assert cancelled.params["error"] == "access_denied"
        with pytest.raises(PermissionError):
            app.callback(cancelled)
        posted = authgear_mock.login(app.authorization_url(response_mode="form_post"),
                                     email="alice@example.com", password="alice123")
        assert posted == REDIRECT and posted.method == "POST" and set(posted.params) == {"code", "state"}


    def test_single_sign_on_then_logout(authgear_mock):
        app = demo_app(authgear_mock)
        browser = authgear_mock.browser()
        first, tokens = app.callback(authgear_mock.login(app.authorization_url(), email="alice@example.com",
                                                         password="alice123", browser=browser))
        # The same browser again: no password needed (straight back, or "Continue as alice").
        again, _ = app.callback(authgear_mock.login(app.authorization_url(), browser=browser))
        assert again["sub"] == first["sub"] and again["sid"] == first["sid"]
        end_session = authgear_mock.discovery["end_session_endpoint"] + "?" + urllib.parse.urlencode(
            {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://localhost:3000/",
             "state": "bye"})
        landed = authgear_mock.logout(end_session, browser=browser)
        assert landed == "http://localhost:3000/?state=bye"
        with pytest.raises(BrowserError, match="asks for an email and password"):
            authgear_mock.login(app.authorization_url(), browser=browser)


    def test_wrong_password(authgear_mock):
        app = demo_app(authgear_mock)
        app.callback(authgear_mock.login(app.authorization_url(), email="alice@example.com", password="wrong"))
'''


def test_an_apps_login_suite_runs_against_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(myapp=textwrap.dedent(APP), test_login=textwrap.dedent(TESTS))
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6, failed=1)
    # The failing login says why, with the page's own words and the HTTP status.
    result.stdout.fnmatch_lines([
        "*BrowserError: the login page came back after the email and password of alice@example.com were sent "
        "(HTTP 200 at http://127.0.0.1:*/login)",
        "*The page says: 'Incorrect email or password.'",
        "FAILED test_login.py::test_wrong_password - *",
    ])


def test_the_marker_and_the_factory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marker=textwrap.dedent('''
        import pytest
        import requests

        pytestmark = pytest.mark.authgear_mock(demo_data=False, users=[{"email": "m@example.com", "password": "p"}])

        def test_the_module_marker_applies(authgear_mock):
            assert [u["email"] for u in authgear_mock.users()] == ["m@example.com"]

        @pytest.mark.authgear_mock(users=[{"email": "t@example.com", "password": "p"}])
        def test_the_closest_marker_wins(authgear_mock):
            assert len(authgear_mock.users()) == 3  # alice, bob and t

        def test_two_mocks_of_the_factory(authgear_mock_factory):
            one = authgear_mock_factory(clients=[{"client_id": "a", "redirect_uris": ["http://x/cb"]}])
            two = authgear_mock_factory(demo_data=False)
            assert one.issuer != two.issuer and one.url == one.issuer
            assert "a" in [c["client_id"] for c in one.clients()] and two.clients() == []
            assert one.discovery["issuer"] == one.issuer and one.jwks()["keys"]
            pytest.two = two

        def test_the_factorys_mocks_were_stopped():
            with pytest.raises(requests.ConnectionError):
                requests.get(pytest.two.issuer + "/_mock/", timeout=2)

        @pytest.mark.authgear_mock(colour="red")
        def test_an_unknown_marker_argument(authgear_mock):
            pass

        @pytest.mark.authgear_mock(users=[{"email": "no-password@example.com"}])
        def test_a_user_without_password(authgear_mock):
            pass
    '''))
    result = pytester.runpytest("-p", "no:cacheprovider", "-q", "--strict-markers")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.authgear_mock: unknown argument(s) colour; it takes users, clients, demo_data, signing_key",
        "*ConfigError: *password is required*",
    ])


def test_the_factorys_issuer_names_no_reachable_address(pytester: pytest.Pytester) -> None:
    """`issuer=` names a host this machine cannot reach (idp.test, auth.example.test): the
    helpers, the browser and a session routed with `route()` reach the mock where it listens,
    sending the issuer's host in `Host` (which the teaching API checks)."""
    pytester.makepyfile(test_issuer=textwrap.dedent('''
        import urllib.parse

        import jwt  # PyJWT
        import pytest
        import requests
        from mock_idp.browser import Browser

        REDIRECT = "http://localhost:3000/auth-redirect"


        def authorization_url(mock, **extra):
            return mock.discovery["authorization_endpoint"] + "?" + urllib.parse.urlencode({
                "client_id": "mock-client", "redirect_uri": REDIRECT, "response_type": "code",
                "scope": "openid email", "state": "s1", **extra})


        @pytest.mark.parametrize("issuer", ["http://idp.test:4000", "https://auth.example.test"])
        def test_every_helper_works_under_the_issuer(authgear_mock_factory, issuer):
            mock = authgear_mock_factory(issuer=issuer)
            assert mock.issuer == issuer and mock.base_url == "http://127.0.0.1:%d" % mock.server.port
            assert mock.discovery["issuer"] == issuer
            assert mock.discovery["token_endpoint"] == issuer + "/oauth2/token"
            assert mock.jwks()["keys"]
            assert mock.advance_clock(10) == 10 and mock.clock_offset() == 10 and mock.set_clock(0) == 0
            mock.add_user(email="dave@example.com", password="dave-pw")
            assert "dave@example.com" in [u["email"] for u in mock.users()]
            assert "mock-client" in [c["client_id"] for c in mock.clients()]

            browser = mock.browser()
            landed = mock.login(authorization_url(mock), email="dave@example.com", password="dave-pw",
                                browser=browser)
            assert landed.startswith(REDIRECT + "?") and landed.params["state"] == "s1"
            app = mock.route(requests.Session())  # the app's own HTTP client
            tokens = app.post(mock.discovery["token_endpoint"], timeout=10, data={
                "grant_type": "authorization_code", "code": landed.params["code"], "redirect_uri": REDIRECT,
                "client_id": "mock-client", "client_secret": "mock-secret"}).json()
            key = jwt.PyJWKSet.from_dict(mock.jwks()).keys[0].key
            claims = jwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience="mock-client", issuer=issuer)
            assert claims["email"] == "dave@example.com"
            # The same browser again: single sign-on, its cookies kept under the issuer's name.
            assert "code" in mock.login(authorization_url(mock), browser=browser).params
            assert mock.login(authorization_url(mock), press="cancel").params["error"] == "access_denied"
            # A browser of one's own is routed by login() too.
            assert "code" in mock.login(authorization_url(mock), email="alice@example.com", password="alice123",
                                        browser=Browser()).params
            assert "/oauth2/token" in [e["path"] for e in mock.exchanges()]
            mock.reset()
            assert mock.exchanges() == [] and "dave@example.com" not in [u["email"] for u in mock.users()]
    '''))
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Test your Authgear login offline (pytest plugin)", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makepyfile(test_readme=example)
    pytester.runpytest("-p", "no:cacheprovider", "-q").assert_outcomes(passed=1)


# -- an independent client: Authlib through the fixture's login() ---------------------------

def test_authlib_logs_in_through_the_fixture(authgear_mock: AuthgearMock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain-http loopback
    metadata = authgear_mock.discovery
    client = OAuth2Session("mock-client", "mock-secret", scope="openid email profile",
                           redirect_uri="http://localhost:3000/auth-redirect", code_challenge_method="S256")
    verifier, nonce = generate_token(64), generate_token(24)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce)
    landed = authgear_mock.login(url, email="bob@example.com", password="bob123")
    token = client.fetch_token(metadata["token_endpoint"], authorization_response=landed, state=state,
                               code_verifier=verifier)
    claims = authlib_jwt.decode(token["id_token"], JsonWebKey.import_key_set(authgear_mock.jwks()), claims_options={
        "iss": {"essential": True, "value": authgear_mock.issuer}, "aud": {"essential": True, "value": "mock-client"},
        "nonce": {"essential": True, "value": nonce}})
    claims.validate(leeway=5)
    info = client.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200 and info.json()["email"] == "bob@example.com" == claims["email"]
    assert info.json()["sub"] == claims["sub"]


# -- the browser against pages of the select-account and logout contracts ------------------

REDIRECT = "http://app.test/callback"


def select_account_page(action: str, email: str) -> str:
    return f"""<!doctype html><html><head><title>Continue</title></head><body>
<h1>Continue as {email}?</h1>
<form method="post" action="{action}" data-account="{email}">
  <input type="hidden" name="login_request" value="lr-1">
  <button type="submit" name="action" value="continue">Continue as {email}</button>
  <button class="secondary" type="submit" name="action" value="login">Use another account</button>
</form></body></html>"""


LOGIN_PAGE = """<!doctype html><html><body><h1>Log in</h1>{error}
<form method="post" action="/login">
  <input type="hidden" name="login_request" value="lr-2">
  <input id="email" name="email" type="email" value="">
  <input id="password" name="password" type="password">
  <button type="submit" name="action" value="login">Continue</button>
</form>
<form method="post" action="/login">
  <input type="hidden" name="login_request" value="lr-2">
  <button class="secondary" type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>"""

LOGOUT_PAGE = """<!doctype html><html><body><h1>Log out?</h1>
<form method="post" action="{action}">
  <input type="hidden" name="redirect_uri" value="http://app.test/bye">
  <button type="submit" name="action" value="logout">Log out</button>
</form></body></html>"""


async def posted(request: Request) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl((await request.body()).decode(), keep_blank_values=True))


class ContractPages:
    """Pages of the select-account and logout contracts, at a free loopback port; `posts`
    records every form the browser sent."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str]]] = []
        self.logged_in_as = "alice@example.com"
        self.server: RunningServer | None = None

    @property
    def issuer(self) -> str:
        assert self.server is not None
        return self.server.url

    def app(self) -> Starlette:
        async def authorize(request: Request) -> Response:
            return RedirectResponse("/select_account?login_request=lr-1", status_code=303)

        async def select_account(request: Request) -> Response:
            if request.method == "GET":
                return HTMLResponse(select_account_page(self.issuer + "/select_account", self.logged_in_as))
            form = await posted(request)
            self.posts.append(("/select_account", form))
            if form.get("action") == "continue":
                return RedirectResponse(REDIRECT + "?code=for-" + self.logged_in_as + "&state=s", status_code=303)
            return RedirectResponse("/login?login_request=lr-2", status_code=303)

        async def login(request: Request) -> Response:
            if request.method == "GET":
                return HTMLResponse(LOGIN_PAGE.format(error=""))
            form = await posted(request)
            self.posts.append(("/login", form))
            if form.get("action") == "cancel":
                return RedirectResponse(REDIRECT + "?error=access_denied&state=s", status_code=303)
            if form.get("password") != "right":
                return HTMLResponse(LOGIN_PAGE.format(error='<p class="error" role="alert">Incorrect email or password.</p>'))
            return RedirectResponse(REDIRECT + "?code=for-" + form["email"] + "&state=s", status_code=303)

        async def end_session(request: Request) -> Response:
            return RedirectResponse("/logout?redirect_uri=http%3A%2F%2Fapp.test%2Fbye", status_code=302)

        async def logout(request: Request) -> Response:
            if request.method == "GET":
                return HTMLResponse(LOGOUT_PAGE.format(action=self.issuer + "/logout"))
            form = await posted(request)
            self.posts.append(("/logout", form))
            return RedirectResponse(form["redirect_uri"] + "?state=bye", status_code=303)

        async def strange(request: Request) -> Response:
            return HTMLResponse('<form method="post" action="/x"><input name="q"><button>Go</button></form>'
                                "<p>Please solve this puzzle.</p>")

        return Starlette(routes=[
            Route("/oauth2/authorize", authorize), Route("/select_account", select_account, methods=["GET", "POST"]),
            Route("/login", login, methods=["GET", "POST"]), Route("/oauth2/end_session", end_session),
            Route("/logout", logout, methods=["GET", "POST"]), Route("/strange", strange),
        ])


@pytest.fixture
def pages() -> Iterator[ContractPages]:
    contract = ContractPages()
    sock = bind("127.0.0.1", 0)
    contract.server = serve_app(contract.app(), sock, origin("127.0.0.1", sock.getsockname()[1]))
    try:
        yield contract
    finally:
        contract.server.stop()


def test_select_account_continues_as_the_account_asked_for(pages: ContractPages) -> None:
    with Browser() as browser:
        landed = browser.login(pages.issuer + "/oauth2/authorize", until=REDIRECT, email="Alice@Example.com",
                               password="unused")
    assert landed.params == {"code": "for-alice@example.com", "state": "s"}
    assert pages.posts == [("/select_account", {"login_request": "lr-1", "action": "continue"})]


def test_select_account_continues_when_no_account_is_asked_for(pages: ContractPages) -> None:
    landed = Browser().login(pages.issuer + "/oauth2/authorize", until=REDIRECT)
    assert landed.params["code"] == "for-alice@example.com"


def test_select_account_uses_another_account_then_logs_in(pages: ContractPages) -> None:
    landed = Browser().login(pages.issuer + "/oauth2/authorize", until=REDIRECT, email="bob@example.com",
                             password="right")
    assert landed.params["code"] == "for-bob@example.com"
    assert pages.posts == [
        ("/select_account", {"login_request": "lr-1", "action": "login"}),
        ("/login", {"login_request": "lr-2", "email": "bob@example.com", "password": "right", "action": "login"}),
    ]


def test_another_account_with_a_wrong_password_says_so(pages: ContractPages) -> None:
    with pytest.raises(BrowserError) as stuck:
        Browser().login(pages.issuer + "/oauth2/authorize", until=REDIRECT, email="bob@example.com", password="no")
    assert stuck.value.status == 200 and stuck.value.page_says == "Incorrect email or password."
    assert stuck.value.url == pages.issuer + "/login"
    assert "the login page came back" in str(stuck.value) and "Incorrect email or password." in str(stuck.value)


def test_cancel_on_the_select_account_page_uses_another_account_then_cancels(pages: ContractPages) -> None:
    """The contract gives that page no Cancel: a person presses "Use another account", then
    Cancel on the login form."""
    landed = Browser().login(pages.issuer + "/oauth2/authorize", until=REDIRECT, press="cancel")
    assert landed.params == {"error": "access_denied", "state": "s"}
    assert pages.posts == [
        ("/select_account", {"login_request": "lr-1", "action": "login"}),
        ("/login", {"login_request": "lr-2", "action": "cancel"}),
    ]


def test_logout_confirms_on_the_logout_page(pages: ContractPages) -> None:
    landed = Browser().logout(pages.issuer + "/oauth2/end_session", until="http://app.test/bye")
    assert landed == "http://app.test/bye?state=bye" and landed.params == {"state": "bye"}
    assert pages.posts == [("/logout", {"redirect_uri": "http://app.test/bye", "action": "logout"})]


def test_an_unknown_page_fails_loudly(pages: ContractPages) -> None:
    with pytest.raises(BrowserError) as stuck:
        Browser().login(pages.issuer + "/strange", until=REDIRECT, email="a@example.com", password="right")
    assert "does not know how to go on" in str(stuck.value) and "Please solve this puzzle." in str(stuck.value)
    assert pages.posts == []


def test_leaving_for_somewhere_else_than_until_fails_loudly(pages: ContractPages) -> None:
    with pytest.raises(BrowserError, match=r"sent away from http://127\.0\.0\.1:\d+, and not to http://app\.test/other"):
        Browser().login(pages.issuer + "/oauth2/authorize", until="http://app.test/other")


# -- the browser on the mock's own select-account and logout pages ------------------------

def authorization_url(mock: AuthgearMock, **extra: str) -> str:
    """The demo client's authorization request (confidential: no PKCE needed here)."""
    params = {"client_id": "mock-client", "redirect_uri": "http://localhost:3000/auth-redirect",
              "response_type": "code", "scope": "openid email", "state": generate_token(16), **extra}
    return mock.discovery["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)


def email_of(mock: AuthgearMock, landed: str) -> str:
    """Who logged in: the code exchanged, then userinfo."""
    tokens = requests.post(mock.discovery["token_endpoint"], timeout=10, data={
        "grant_type": "authorization_code", "code": urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)["code"][0],
        "redirect_uri": "http://localhost:3000/auth-redirect", "client_id": "mock-client", "client_secret": "mock-secret",
    }).json()
    return requests.get(mock.discovery["userinfo_endpoint"], timeout=10,
                        headers={"Authorization": "Bearer " + tokens["access_token"]}).json()["email"]


def posted_paths(browser: Browser) -> list[str]:
    return [urllib.parse.urlsplit(url).path for method, url, _status in browser.history if method == "POST"]


def test_the_mocks_select_account_page(authgear_mock: AuthgearMock) -> None:
    browser = authgear_mock.browser()
    assert email_of(authgear_mock, authgear_mock.login(authorization_url(authgear_mock), email="alice@example.com",
                                                       password="alice123", browser=browser)) == "alice@example.com"
    # Alice again: "Continue as alice@example.com", no password.
    again = authgear_mock.login(authorization_url(authgear_mock), email="alice@example.com", browser=browser)
    assert posted_paths(browser) == ["/select_account"]
    assert email_of(authgear_mock, again) == "alice@example.com"
    # Bob in the same browser: "Use another account", then the login form.
    bob = authgear_mock.login(authorization_url(authgear_mock), email="bob@example.com", password="bob123",
                              browser=browser)
    assert posted_paths(browser) == ["/select_account", "/login"]
    assert email_of(authgear_mock, bob) == "bob@example.com"


def test_cancel_on_the_mocks_select_account_page(authgear_mock: AuthgearMock) -> None:
    browser = authgear_mock.browser()
    authgear_mock.login(authorization_url(authgear_mock), email="alice@example.com", password="alice123",
                        browser=browser)
    cancelled = authgear_mock.login(authorization_url(authgear_mock, state="c1"), press="cancel", browser=browser)
    assert cancelled.params["error"] == "access_denied" and cancelled.params["state"] == "c1"
    assert posted_paths(browser) == ["/select_account", "/login"]
    # Cancelling this login ends nothing else: alice is still logged in at the mock.
    again = authgear_mock.login(authorization_url(authgear_mock), email="alice@example.com", browser=browser)
    assert posted_paths(browser) == ["/select_account"] and email_of(authgear_mock, again) == "alice@example.com"


def test_the_mocks_logout_confirmation(authgear_mock: AuthgearMock) -> None:
    browser = authgear_mock.browser()
    authgear_mock.login(authorization_url(authgear_mock), email="alice@example.com", password="alice123",
                        browser=browser)
    # The browser sends every cookie it has (it applies no SameSite rule): to the mock that is a
    # same-site navigation, which logs out at once. A logout link on another site comes without
    # the SameSite=Strict marker cookie: then the mock asks first.
    del browser.cookies["mock_idp_same_site_strict"]
    end_session = authgear_mock.discovery["end_session_endpoint"] + "?" + urllib.parse.urlencode(
        {"post_logout_redirect_uri": "http://localhost:3000/", "state": "bye"})
    landed = authgear_mock.logout(end_session, browser=browser)
    assert landed == "http://localhost:3000/?state=bye"
    assert posted_paths(browser) == ["/logout"]
    with pytest.raises(BrowserError, match="asks for an email and password"):  # the session is gone
        authgear_mock.login(authorization_url(authgear_mock), browser=browser)
