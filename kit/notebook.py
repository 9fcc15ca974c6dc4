"""Small helpers for the notebooks. The OAuth requests themselves stay in the cells; these
only print what went over the wire, do the part a browser does, and fast-forward a later
notebook to its starting point.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import secrets
import threading
import urllib.parse
from typing import Any

import requests

from mock_idp.browser import Browser
from mock_idp.exchanges import shorten

from .settings import Settings, ensure_mock, load_settings

TIMEOUT = 10  # seconds, for every request a helper makes: nothing hangs in front of a room

# Values shown only by their start (a learner sees which value it is, never the whole secret).
SECRET_NAMES = {
    "client_secret", "code", "code_verifier", "refresh_token", "access_token", "id_token",
    "token", "id_token_hint", "password",
}

# The learner's browser when the notebooks run unattended (CI): it keeps the mock's cookie
# across cells, as a real browser would, so single sign-on and logout behave the same.
BROWSER = requests.Session()


def short(value: str, keep: int = 8) -> str:
    """The first characters of a secret, enough to recognise it: 'eyJhbGci…'; never a short
    secret whole (the same rule as the mock's exchange log)."""
    return shorten(value, keep)


def shorten_fields(fields: Any) -> Any:
    if isinstance(fields, dict):
        return {k: (short(v) if k in SECRET_NAMES and isinstance(v, str) else shorten_fields(v)) for k, v in fields.items()}
    return fields


def connect() -> Settings:
    """Reads .env, makes sure the bundled mock answers if no Authgear project is configured,
    and says which provider the notebook is talking to."""
    settings = load_settings()
    if settings.is_mock:
        ensure_mock(settings.endpoint)
    print("Provider:", settings.describe())
    print("Redirect URL:", settings.redirect_url)
    return settings


def _shorten_url(url: str) -> str:
    """The URL as it went over the wire (its own encoding kept), with secret values shortened."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    pairs = []
    for pair in parts.query.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(name + equals + (short(value) if urllib.parse.unquote_plus(name) in SECRET_NAMES else value))
    return urllib.parse.urlunsplit(parts._replace(query="&".join(pairs)))


def _shorten_header(name: str, value: str) -> str:
    if name.lower() == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {short(credentials)}"
    if name.lower() == "location":
        return _shorten_url(value)
    return value


def short_url(url: str) -> str:
    """A URL with the secrets in its query (code, tokens) shortened: safe to print."""
    return _shorten_url(url)


def show(response: requests.Response, fields: list[str] | None = None) -> None:
    """Prints the request and the answer as they went over the wire, secrets shortened.

    `fields` limits a JSON answer to those top-level fields (and says how many were left out).
    """
    request = response.request
    print(f"{request.method} {_shorten_url(request.url or '')}")
    for name in ("Authorization", "Content-Type"):
        if name in request.headers:
            print(f"{name}: {_shorten_header(name, request.headers[name])}")
    body = request.body
    if body:
        text = body.decode() if isinstance(body, bytes) else str(body)
        if request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
            print()
            print("&\n".join(f"{k}={short(v) if k in SECRET_NAMES else v}" for k, v in pairs))
        else:
            print()
            print(text)
    print()
    print(f"HTTP {response.status_code} {response.reason}")
    for name in ("Location", "Content-Type", "Cache-Control", "WWW-Authenticate"):
        if name in response.headers:
            print(f"{name}: {_shorten_header(name, response.headers[name])}")
    if response.headers.get("Content-Type", "").startswith("application/json") and response.content:
        body = response.json()
        left_out: list[str] = []
        if fields is not None and isinstance(body, dict):
            left_out = [name for name in body if name not in fields]
            body = {name: body[name] for name in fields if name in body}
        print()
        print(json.dumps(shorten_fields(body), indent=2, ensure_ascii=False))
        if left_out:
            print(f"({len(left_out)} more field{'s' if len(left_out) > 1 else ''} not shown)")
    elif response.headers.get("Content-Type", "").startswith("text/plain") and response.text:
        print()
        print(response.text.rstrip())


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (notebook 03 builds these by hand)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# --- The browser step ------------------------------------------------------------------

def _autologin_credentials() -> tuple[str, str] | None:
    """KIT_AUTOLOGIN=1 (alice) or KIT_AUTOLOGIN=email:password: no person at the browser."""
    value = os.environ.get("KIT_AUTOLOGIN", "")
    if not value:
        return None
    if ":" in value:
        email, _, password = value.partition(":")
        return email, password
    return "alice@example.com", "alice123"


# The kernel's callback listeners by port: running the login cell again replaces the old one.
_LISTENERS: dict[int, Any] = {}


class PendingLogin:
    """The step a person does in a browser: open the authorization URL, log in, land on the
    redirect URL. `callback()` returns the URL the browser landed on."""

    def __init__(self, settings: Settings, authorization_url: str, press: str = "login") -> None:
        self.settings = settings
        self.url = authorization_url
        self.press = press
        self.credentials = _autologin_credentials()
        redirect = urllib.parse.urlsplit(settings.redirect_url)
        self.listen = (
            self.credentials is None
            and redirect.hostname in ("localhost", "127.0.0.1")
            and not os.environ.get("KIT_PASTE_BACK")
        )
        self.listener: Any = None
        self.landed: list[str] = []
        self.event = threading.Event()

    def instruction(self) -> str:
        return "Open this link in your browser and " + ("press Cancel:" if self.press == "cancel" else "log in:")

    def unattended_note(self) -> str:
        assert self.credentials is not None
        doing = "pressing Cancel" if self.press == "cancel" else f"logging in as {self.credentials[0]}"
        return f"(Running unattended: the notebook makes the browser's requests itself, {doing}.)"

    def show_link(self) -> None:
        print(self.instruction())
        print()
        print(self.url)
        if self.credentials is not None:
            print()
            print(self.unattended_note())
        elif self.listen:
            self._start_listener()
            print()
            print(f"The notebook is listening at {self.settings.redirect_url} to catch where you land.")
        else:
            print()
            print("Then copy the whole URL you land on (even if the page does not load) and paste it below.")

    def _start_listener(self) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        from mock_idp.server import bind, serve_app

        redirect = urllib.parse.urlsplit(self.settings.redirect_url)

        async def landed(request: Request) -> HTMLResponse:
            self.landed.append(str(request.url))
            self.event.set()
            return HTMLResponse("<h1>Got it.</h1><p>Go back to the notebook: it has what it needs.</p>")

        app = Starlette(routes=[Route(redirect.path or "/", landed, methods=["GET", "POST"])])
        port = redirect.port or 80
        previous = _LISTENERS.pop(port, None)
        if previous is not None:  # the cell ran again before anyone logged in: free the port
            previous.stop()
        try:
            sock = bind(redirect.hostname or "localhost", port)
        except OSError:
            self.listen = False
            print(f"(Port {redirect.port} is busy, e.g. the walkthrough runs there: paste the URL instead.)")
            return
        self.listener = serve_app(app, sock, self.settings.redirect_url)
        _LISTENERS[port] = self.listener

    def _browse(self) -> str:
        """What the browser does, as plain HTTP (mock_idp.browser): follow the redirects, log in
        on the login page, press "Continue as …" on Authgear's select-account page."""
        assert self.credentials is not None
        email, password = self.credentials
        return Browser(BROWSER).login(self.url, until=self.settings.redirect_url, email=email, password=password,
                                      press=self.press)

    def callback(self, timeout: float = 300) -> str:
        if self.credentials is not None:
            return self._browse()
        if self.listen and self.listener is not None:
            if not self.listener.thread.is_alive():
                raise RuntimeError("This login link was replaced by a newer one: run the cell that shows "
                                   "the link again, then this one.")
            try:
                if not self.event.wait(timeout):
                    raise TimeoutError(f"No login arrived within {timeout:.0f} s: run the previous cell again.")
                return self.landed[0]
            finally:
                for port, listener in list(_LISTENERS.items()):
                    if listener is self.listener:
                        del _LISTENERS[port]
                self.listener.stop()
        return input("Paste the URL you landed on: ").strip()


def login_in_browser(settings: Settings, authorization_url: str, press: str = "login") -> PendingLogin:
    """Shows the link (and starts catching the callback); `.callback()` waits for it."""
    pending = PendingLogin(settings, authorization_url, press)
    pending.show_link()
    return pending


# --- Fast-forward for later notebooks ----------------------------------------------------

def discover(settings: Settings) -> dict[str, Any]:
    response = requests.get(settings.endpoint + "/.well-known/openid-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


@dataclasses.dataclass(frozen=True)
class AuthCode:
    """Where notebook 03 ends: a fresh code, and what the app kept to redeem and check it."""

    code: str
    code_verifier: str  # PKCE: only the app has it; the token request must send it
    nonce: str  # comes back inside the ID token (notebook 05 checks it)
    state: str  # already checked against the callback
    redirect_uri: str  # must be sent again, identical, with the code


def _authorize(settings: Settings, metadata: dict[str, Any], scope: str) -> AuthCode:
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    url = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_url,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    pending = PendingLogin(settings, url)
    if pending.credentials is None:
        pending.show_link()
    landed = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(pending.callback()).query))
    if landed.get("state") != state:
        raise RuntimeError(f"state does not match: the login did not come from this notebook ({landed})")
    if "code" not in landed:
        raise RuntimeError(f"the login did not give a code: {landed}")
    return AuthCode(landed["code"], verifier, nonce, state, settings.redirect_url)


def quick_code(settings: Settings, scope: str = "openid offline_access email profile") -> AuthCode:
    """Notebook 03 by hand, in one call: state, nonce and PKCE, the browser step (with the
    mock and no person: the browser's requests), the state check. Returns the code and what
    the app kept (`code_verifier`, `nonce`)."""
    fresh = _authorize(settings, discover(settings), scope)
    print(f"A fresh code (notebook 03 did this step by hand): code={short(fresh.code)}")
    return fresh


def quick_login(settings: Settings, scope: str = "openid offline_access email profile") -> dict[str, Any]:
    """Notebooks 03 and 04 by hand, in one call: authorization URL with state, nonce and PKCE,
    the browser step, state check, code exchange. Returns the token response (plus the nonce
    that was sent, under "_nonce", so the ID token can be checked against it)."""
    metadata = discover(settings)
    fresh = _authorize(settings, metadata, scope)
    response = requests.post(metadata["token_endpoint"], data={
        "grant_type": "authorization_code",
        "code": fresh.code,
        "redirect_uri": fresh.redirect_uri,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "code_verifier": fresh.code_verifier,
    }, timeout=TIMEOUT)
    if response.status_code != 200:
        raise RuntimeError(f"the code exchange failed: {response.status_code} {response.text}")
    return {**response.json(), "_nonce": fresh.nonce}


def advance_mock_clock(settings: Settings, seconds: int) -> bool:
    """Moves the mock's clock on (codes and tokens expire without waiting). A real Authgear's
    clock cannot be moved: returns False and says so."""
    if not settings.is_mock:
        print(f"A real Authgear project's clock cannot be moved: wait {seconds} s instead, or read on.")
        return False
    response = requests.post(settings.endpoint + "/_mock/clock", json={"advance": seconds}, timeout=TIMEOUT)
    response.raise_for_status()
    print(f"The mock's clock is now {response.json()['offset']} s ahead of real time.")
    return True


def set_mock_clock(settings: Settings, offset: int) -> bool:
    """Sets the mock's clock `offset` seconds from real time (negative: in the past; 0: back to
    real time). A real Authgear's clock cannot be moved: returns False and says so."""
    if not settings.is_mock:
        print("A real Authgear project's clock cannot be moved.")
        return False
    response = requests.post(settings.endpoint + "/_mock/clock", json={"offset": offset}, timeout=TIMEOUT)
    response.raise_for_status()
    now = response.json()["offset"]
    if now == 0:
        print("The mock's clock is back on real time.")
    else:
        print(f"The mock's clock is now {abs(now)} s {'ahead of' if now > 0 else 'behind'} real time.")
    return True


# --- Preflight: is the provider ready for the notebooks? ---------------------------------

def _fail(problem: str, fix: str) -> bool:
    print("✘", problem)
    print("  Fix:", fix)
    return False


def preflight(settings: Settings) -> bool:
    """Checks, without logging in, what notebook 01 checks by hand; says what to fix in plain words.

    1. the endpoint answers with a discovery document whose issuer is the endpoint itself;
    2. the authorization endpoint knows the client_id (else: 400 error page, "invalid client ID");
    3. the redirect URI is registered for it (else: 400 error page, "redirect URI is not allowed").
    The client secret cannot be checked without a real code: notebook 04 shows a wrong one.
    """
    where = "the bundled mock" if settings.is_mock else "AUTHGEAR_ENDPOINT"
    discovery_url = settings.endpoint + "/.well-known/openid-configuration"
    try:
        response = requests.get(discovery_url, timeout=TIMEOUT)
    except requests.ConnectionError:
        fix = ("restart the kernel and run connect() again (it starts the mock), or run `make lab`."
               if settings.is_mock else
               "check AUTHGEAR_ENDPOINT in .env (it looks like https://<project>.authgear.cloud) and "
               "your network, then restart the kernel.")
        return _fail(f"Nothing answers at {settings.endpoint} ({where}): the connection failed.", fix)
    except requests.Timeout:
        return _fail(f"{settings.endpoint} did not answer within {TIMEOUT} s.",
                     "check the address and your network (a proxy or firewall?).")
    except requests.RequestException as exc:
        return _fail(f"{settings.endpoint} is not a usable address ({type(exc).__name__}).",
                     "AUTHGEAR_ENDPOINT must be a full origin such as https://<project>.authgear.cloud.")
    try:
        metadata = response.json() if response.status_code == 200 else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or "authorization_endpoint" not in metadata:
        return _fail(f"{settings.endpoint} answers, but {discovery_url} is no discovery document "
                     f"(HTTP {response.status_code}).",
                     "AUTHGEAR_ENDPOINT must be the project's endpoint itself, with no path after it.")
    if metadata.get("issuer") != settings.endpoint:
        return _fail(f"The server calls itself {metadata.get('issuer')!r}, not {settings.endpoint!r}.",
                     f"set AUTHGEAR_ENDPOINT={metadata.get('issuer')} exactly: tokens carry the issuer and "
                     "must match it character for character.")
    print(f"✔ {settings.endpoint} answers, and its discovery document names it as the issuer.")

    probe = requests.get(metadata["authorization_endpoint"], params={
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_url,
        "response_type": "code",
        "scope": "openid",
    }, allow_redirects=False, timeout=TIMEOUT)
    text = probe.text if probe.status_code >= 400 else ""
    if probe.status_code == 400 and ("invalid client ID" in text or "unauthorized_client" in text):
        return _fail(f"The client_id {settings.client_id!r} is unknown to this project.",
                     "copy the Client ID from the portal (Applications → your application) into "
                     "AUTHGEAR_CLIENT_ID in .env, then restart the kernel.")
    if probe.status_code == 400 and "redirect URI" in text:
        print(f"✔ The client_id {settings.client_id} is known.")
        return _fail(f"The redirect URI {settings.redirect_url} is not registered for this client.",
                     "in the portal, add it to the application's Authorized Redirect URIs exactly as "
                     "written (scheme, host, port, path: a trailing slash counts), press Save, run this again.")
    if probe.status_code >= 400:
        first_line = text.strip().splitlines()[0] if text.strip() else probe.reason
        return _fail(f"The authorization endpoint refused the request: HTTP {probe.status_code}, {first_line}.",
                     "read the message above; notebook 01 shows the same request step by step.")
    landed = urllib.parse.parse_qs(urllib.parse.urlsplit(probe.headers.get("location", "")).query)
    if "error" in landed:
        return _fail(f"The authorization endpoint answered {landed['error'][0]}: "
                     f"{landed.get('error_description', [''])[0]}.",
                     "check the application's settings in the portal (type: OIDC/SAML Client Application).")
    print(f"✔ The client_id {settings.client_id} is known.")
    print(f"✔ The redirect URI {settings.redirect_url} is registered for it.")
    print("Ready. (The client secret can only be checked with a real code: notebook 04 shows a wrong one.)")
    return True


# --- Logout is a browser step too (notebook 08) ---------------------------------------------

class PendingLogout(PendingLogin):
    """RP-initiated logout: the browser visits end_session (Authgear's session cookie lives in
    the browser, not in the app) and lands on the post_logout_redirect_uri. `callback()`
    returns the URL it landed on, as for a login."""

    def instruction(self) -> str:
        return "Open this link in your browser to log out of Authgear:"

    def unattended_note(self) -> str:
        return "(Running unattended: the notebook makes the browser's requests itself, with its cookie.)"

    def _browse(self) -> str:
        """end_session with the browser's cookies; confirms the logout if Authgear asks."""
        return Browser(BROWSER).logout(self.url, until=self.settings.redirect_url)


def logout_in_browser(settings: Settings, end_session_url: str, post_logout_redirect_uri: str) -> PendingLogin:
    """Shows the logout link (and starts catching the return at `post_logout_redirect_uri`);
    `.callback()` waits for the URL the browser lands on."""
    import dataclasses

    pending = PendingLogout(dataclasses.replace(settings, redirect_url=post_logout_redirect_uri), end_session_url)
    pending.show_link()
    return pending
