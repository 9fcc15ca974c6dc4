"""Test your Authgear login offline: a pytest plugin that gives each test its own mock Authgear.

Installed with this package (entry point `pytest11`), so any test can ask for it:

    @pytest.mark.authgear_mock(users=[{"email": "carol@example.com", "password": "pw"}])
    def test_login(authgear_mock):
        url = my_app.authorization_url(authgear_mock.discovery["authorization_endpoint"], ...)
        landed = authgear_mock.login(url, email="carol@example.com", password="pw")
        my_app.callback(landed)           # code and state, as the browser would bring them

Fixtures:

- `authgear_mock`: a mock started for this test on a free port of 127.0.0.1 and stopped after
  it, set up by the test's `@pytest.mark.authgear_mock(...)` marker if it has one (the closest
  one: the test's, else its class's or module's `pytestmark`).
- `authgear_mock_factory`: a function that starts more mocks for this test, each with its own
  users and clients; all are stopped after the test.

The marker and the factory take the config file's fields (README, "The config file"):
`users=[{...}]`, `clients=[{...}]` (dicts in the config file's format), `demo_data=True`
(keep the demo client `mock-client` and the users alice and bob), `signing_key="key.pem"`;
the factory also `profile="strict"` (the RFCs where Authgear is looser; default "authgear":
README, "Profiles") and `issuer=` (to serve under another issuer than its loopback origin, e.g.
http://idp.test:4000: the mock still listens at `base_url`, http://127.0.0.1:<port>, and the
fixture's helpers and browsers reach it there, sending the issuer's host in `Host`; route
your app's own `requests.Session` the same way with `route(session)`).

Everything goes over real HTTP: the login through the mock's own login page (`browser.py`,
no backdoor), the clock, users and clients through its teaching API (`/_mock/`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
import requests.adapters

from .browser import Browser, Landed

if TYPE_CHECKING:
    from .server import RunningServer

TIMEOUT = 10  # seconds, for each teaching-API request
MARKER = "authgear_mock"
SETTINGS = ("users", "clients", "demo_data", "signing_key")


class IssuerAdapter(requests.adapters.HTTPAdapter):
    """Sends the requests for URLs under the mock's issuer to where the mock really listens
    (`base_url`, http://127.0.0.1:<port>), with the issuer's host[:port] in `Host`: an issuer
    such as http://idp.test:4000 names no address this machine can reach, and the teaching
    API answers only to its issuer's Host. Cookies, redirects and `response.url` stay the
    issuer's, as a browser that resolved the issuer's name would see them."""

    def __init__(self, issuer: str, base_url: str) -> None:
        super().__init__()
        self.issuer = issuer
        self.base_url = base_url
        self.host = urllib.parse.urlsplit(issuer).netloc

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        original = request.url or ""
        routed = request.copy()
        routed.url = self.base_url + original[len(self.issuer):]
        routed.headers["Host"] = self.host
        response = super().send(routed, **kwargs)
        response.url = original
        response.request = request
        return response


class AuthgearMock:
    """One running mock Authgear, for a test. Stopped by the fixture after the test.

    `issuer` (also `url`): its issuer, by default its origin, e.g. http://127.0.0.1:38261, no
    trailing slash. `base_url`: where it listens, http://127.0.0.1:<port> (the issuer too,
    unless the factory was given `issuer=`). `discovery`: its OpenID configuration (the
    endpoints), fetched over HTTP once. `server`: the `RunningServer` itself
    (`mock_idp.serve`), for anything else."""

    def __init__(self, server: "RunningServer") -> None:
        self.server = server
        self.issuer = server.url
        self.base_url = f"http://127.0.0.1:{server.port}"
        self._discovery: dict[str, Any] | None = None
        self._browsers: list[Browser] = []
        self._http = self.route(requests.Session())

    @property
    def url(self) -> str:
        return self.issuer

    @property
    def profile(self) -> str:
        """"authgear" (Authgear's behaviour, quirks included) or "strict" (the RFCs')."""
        return self.server.ctx.profile.name

    def __repr__(self) -> str:
        return f"<AuthgearMock {self.issuer}>"

    def route(self, session: requests.Session) -> requests.Session:
        """Makes `session` reach the mock at its issuer's URLs, and returns it. Needed only when
        the issuer is not where the mock listens (the factory's `issuer=`): then its requests
        for URLs under the issuer go to `base_url`, with the issuer's host in `Host`. The
        fixture's own calls and browsers are routed already; route your app's session too."""
        if self.issuer != self.base_url:
            session.mount(self.issuer + "/", IssuerAdapter(self.issuer, self.base_url))
        return session

    @property
    def discovery(self) -> dict[str, Any]:
        """`/.well-known/openid-configuration`: authorization_endpoint, token_endpoint, jwks_uri, ..."""
        if self._discovery is None:
            self._discovery = self._call("GET", "/.well-known/openid-configuration")
        return self._discovery

    def jwks(self) -> dict[str, Any]:
        """The public signing keys (`/oauth2/jwks`), to validate ID tokens and access tokens."""
        return self._call("GET", "/oauth2/jwks")

    # -- the browser ---------------------------------------------------------------------

    def browser(self) -> Browser:
        """A new browser (its own cookie jar): one person. Closed after the test."""
        browser = Browser(self.route(requests.Session()))
        self._browsers.append(browser)
        return browser

    def login(self, authorization_url: str, *, email: str | None = None, password: str | None = None,
              redirect_uri: str | None = None, browser: Browser | None = None, press: str = "login") -> Landed:
        """Does the person's part of a login: opens `authorization_url` in `browser` (a new one
        unless given: pass the same browser twice for single sign-on), logs in on the mock's
        login page with `email` and `password` (or presses Cancel with `press="cancel"`), and
        returns the URL the browser is then sent to, not fetched: the redirect URI with `code`
        and `state` (or `error`) in its query or fragment. The result is a `str` with
        `.params` (those parameters) and `.method` ("POST" for `response_mode=form_post`,
        whose fields are then in `.params`).

        `redirect_uri` is where to stop; by default the one in `authorization_url`.
        A wrong password, an error page or anything unexpected raises
        `mock_idp.browser.BrowserError`, which names the HTTP status and the page's text."""
        until = redirect_uri or _query_param(authorization_url, "redirect_uri")
        if not until:
            raise ValueError("the authorization URL has no redirect_uri: say where the browser stops with "
                             "redirect_uri=...")
        if browser is not None:
            self.route(browser.session)
        return (browser or self.browser()).login(authorization_url, until=until, email=email,
                                                 password=password, press=press)

    def logout(self, end_session_url: str, *, browser: Browser, post_logout_redirect_uri: str | None = None) -> Landed:
        """RP-initiated logout in `browser` (the one that logged in: the mock's session lives
        in its cookies): opens `end_session_url`, confirms if asked, returns where it landed.
        `post_logout_redirect_uri` is where to stop; by default the one in the URL, else the
        mock's own "signed out" page (`{issuer}/settings`)."""
        until = (post_logout_redirect_uri or _query_param(end_session_url, "post_logout_redirect_uri")
                 or self.issuer + "/settings")
        self.route(browser.session)
        return browser.logout(end_session_url, until=until)

    # -- the clock -----------------------------------------------------------------------

    def advance_clock(self, seconds: int) -> int:
        """Moves the mock's clock on by `seconds`: codes and tokens expire without waiting
        (an access token after 1800 s, a code after 300 s). Returns the clock's offset from
        real time. Tokens issued afterwards have an `iat` in real time's future: validate them
        with a `leeway` of that offset."""
        return self._call("POST", "/_mock/clock", json={"advance": seconds})["offset"]

    def set_clock(self, offset: int) -> int:
        """Sets the mock's clock `offset` seconds from real time (negative: in the past; 0:
        real time again). Returns the offset."""
        return self._call("POST", "/_mock/clock", json={"offset": offset})["offset"]

    def clock_offset(self) -> int:
        """How many seconds the mock's clock is ahead of real time (negative: behind)."""
        return self._call("GET", "/_mock/clock")["offset"]

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the starting state: the marker's (or factory's) users and clients, no
        sessions, codes or tokens, real time, an empty log. Users and clients added with
        `add_user`/`add_client` are gone. Browsers keep their cookies, which no longer
        name a session."""
        self._call("POST", "/_mock/reset")

    def exchanges(self, since: int = 0) -> list[dict[str, Any]]:
        """The protocol exchanges the mock saw (the teaching log), oldest first: each with
        `seq`, `method`, `path`, `params`, `status`, the answer, secrets shortened. `since`:
        only those with a larger `seq`."""
        return self._call("GET", "/_mock/exchanges", params={"since": since})["exchanges"]

    def add_user(self, user: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Adds (or replaces, by email) a user, in the config file's format:
        `add_user(email="dave@example.com", password="pw", claims={"given_name": "Dave"},
        custom_attributes={...}, roles=[...])`. Returns the user as the mock shows it
        (password hidden; `sub` is derived from the email unless given)."""
        return self._call("POST", "/_mock/users", json={**(user or {}), **fields}, expect=201)

    def add_client(self, client: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Adds (or replaces, by client_id) a client, in the config file's format:
        `add_client(client_id="my-app", client_secret="s3cret", redirect_uris=[...],
        post_logout_redirect_uris=[...])` (no `client_secret`: a public client, PKCE
        required). Returns the client as the mock shows it (secret shortened)."""
        return self._call("POST", "/_mock/clients", json={**(client or {}), **fields}, expect=201)

    def users(self) -> list[dict[str, Any]]:
        """The users the mock knows now (passwords hidden)."""
        return self._call("GET", "/_mock/users")["users"]

    def clients(self) -> list[dict[str, Any]]:
        """The clients the mock knows now (secrets shortened)."""
        return self._call("GET", "/_mock/clients")["clients"]

    def stop(self) -> None:
        """Stops the mock and closes its browsers (the fixtures do this after the test)."""
        for browser in self._browsers:
            browser.close()
        self._http.close()
        self.server.stop()

    def _call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self._http.request(method, self.issuer + path, timeout=TIMEOUT, **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path} at the mock answered {response.status_code}: {response.text}")
        return response.json()


def _query_param(url: str, name: str) -> str:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)).get(name, "")


def start(users: list[dict[str, Any]] | None = None, clients: list[dict[str, Any]] | None = None,
          demo_data: bool = True, signing_key: str | None = None, issuer: str | None = None,
          profile: str = "authgear") -> AuthgearMock:
    """Starts a mock on a free port of 127.0.0.1 with these users and clients (the config
    file's format) and this profile; stop it with `.stop()`. A mistake in them raises
    `mock_idp.ConfigError`; an unknown profile, ValueError."""
    from .config import MockConfig
    from .server import serve

    settings: dict[str, Any] = {"demo_data": demo_data, "users": users or [], "clients": clients or []}
    if signing_key is not None:
        settings["signing_key"] = signing_key
    return AuthgearMock(serve(port=0, issuer=issuer, config=MockConfig.from_dict(settings), reuse=False,
                              profile=profile))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(users=[...], clients=[...], demo_data=True, signing_key=None): the users and clients "
        "(dicts in the mock's config-file format) of the mock Authgear the authgear_mock fixture starts",
    )


@pytest.fixture
def authgear_mock_factory() -> Iterator[Callable[..., AuthgearMock]]:
    """Starts mock Authgears for this test: `authgear_mock_factory(users=[...], clients=[...],
    demo_data=True, signing_key=None, issuer=None, profile="authgear")` returns a running
    `AuthgearMock` (`profile="strict"`: the RFCs where Authgear is looser); all are stopped
    after the test."""
    started: list[AuthgearMock] = []

    def factory(**settings: Any) -> AuthgearMock:
        mock = start(**settings)
        started.append(mock)
        return mock

    yield factory
    for mock in started:
        mock.stop()


@pytest.fixture
def authgear_mock(request: pytest.FixtureRequest, authgear_mock_factory: Callable[..., AuthgearMock]) -> AuthgearMock:
    """A mock Authgear for this test (an `AuthgearMock`), on a free loopback port, stopped after
    the test. Its users and clients: the demo ones (client `mock-client`/`mock-secret` with
    redirect URI http://localhost:3000/auth-redirect; alice@example.com/alice123,
    bob@example.com/bob123), changed by `@pytest.mark.authgear_mock(users=[...],
    clients=[...], demo_data=False)`."""
    marker = request.node.get_closest_marker(MARKER)
    settings = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        pytest.fail(f"@pytest.mark.{MARKER} takes keyword arguments only ({', '.join(SETTINGS)})", pytrace=False)
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        pytest.fail(f"@pytest.mark.{MARKER}: unknown argument(s) {', '.join(unknown)}; "
                    f"it takes {', '.join(SETTINGS)}", pytrace=False)
    return authgear_mock_factory(**settings)
