"""The requests a browser and a client app make in the authorization-code flow, for tests.

No backdoor: the login goes through the real login form, as a person's browser would.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import requests

CLIENT_ID = "mock-client"
CLIENT_SECRET = "mock-secret"
REDIRECT_URI = "http://localhost:3000/auth-redirect"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(url: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(url)
    return dict(urllib.parse.parse_qsl(parts.query or parts.fragment, keep_blank_values=True))


@dataclass
class Flow:
    issuer: str
    browser: requests.Session
    verifier: str = ""
    last: dict[str, Any] = field(default_factory=dict)

    def authorize_params(self, **overrides: Any) -> dict[str, str]:
        self.verifier, challenge = pkce_pair()
        params = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "openid offline_access email profile",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **overrides: Any) -> requests.Response:
        """GET /oauth2/authorize; returns the first response (no redirects followed)."""
        params = self.authorize_params(**overrides)
        self.last = params
        return self.browser.get(self.issuer + "/oauth2/authorize", params=params, allow_redirects=False)

    def mock_page(self, response: requests.Response, path: str) -> str:
        """Follows the redirect to one of the mock's pages (`/login`, `/select_account`) and
        returns its HTML. Only ever follows a redirect to the mock, never to the client."""
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(self.issuer + path + "?"), location
        page = self.browser.get(location, allow_redirects=False)
        assert page.status_code == 200, page.text
        return page.text

    def login_form(self, response: requests.Response) -> tuple[str, str]:
        """Follows the redirect to the login page; returns (form action, login_request)."""
        page = self.mock_page(response, "/login")
        action = re.search(r'<form method="post" action="([^"]+)"', page)
        login_request = re.search(r'name="login_request" value="([^"]+)"', page)
        assert action and login_request, page
        return action.group(1), login_request.group(1)

    def submit_login(self, response: requests.Response, email: str = "alice@example.com",
                     password: str = "alice123") -> requests.Response:
        action, login_request = self.login_form(response)
        return self.browser.post(
            action,
            data={"login_request": login_request, "email": email, "password": password, "action": "login"},
            allow_redirects=False,
        )

    def select_account_form(self, response: requests.Response) -> tuple[str, str, str]:
        """Follows the redirect to the select-account page; returns (form action, login_request,
        the account it offers to continue as)."""
        page = self.mock_page(response, "/select_account")
        form = re.search(r'<form method="post" action="([^"]+)" data-account="([^"]+)">', page)
        login_request = re.search(r'name="login_request" value="([^"]+)"', page)
        assert form and login_request, page
        return form.group(1), login_request.group(1), form.group(2)

    def select_account(self, response: requests.Response, action: str = "continue") -> requests.Response:
        """Presses "Continue as …" (action=continue) or "Use another account" (action=login)."""
        form_action, login_request, _account = self.select_account_form(response)
        return self.browser.post(form_action, data={"login_request": login_request, "action": action},
                                 allow_redirects=False)

    def login(self, email: str = "alice@example.com", password: str = "alice123", **overrides: Any) -> dict[str, str]:
        """authorize → login form → callback; returns the callback's parameters (code, state).

        With an IdP session already in the browser, Authgear's select-account page comes
        instead of the form: this presses "Continue as …" (prompt=none: no page at all)."""
        started = self.authorize(**overrides)
        location = started.headers.get("location", "")
        if started.status_code == 303 and location.startswith(self.issuer + "/select_account?"):
            started = self.select_account(started)
            location = started.headers.get("location", "")
        if started.status_code == 303 and not location.startswith(self.issuer + "/login?"):
            return query_of(location)
        answer = self.submit_login(started, email, password)
        assert answer.status_code == 303, answer.text
        return query_of(answer.headers["location"])

    def exchange(self, code: str, **overrides: Any) -> requests.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.last.get("redirect_uri", REDIRECT_URI),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code_verifier": self.verifier,
        }
        data.update(overrides)
        return requests.post(self.issuer + "/oauth2/token", data={k: v for k, v in data.items() if v is not None})

    def tokens(self, **login_overrides: Any) -> dict[str, Any]:
        """A complete login: the token endpoint's JSON answer."""
        callback = self.login(**login_overrides)
        response = self.exchange(callback["code"])
        assert response.status_code == 200, response.text
        return response.json()


# -- helpers shared by the protocol tests (tests/test_mock_*.py)

def callback(response: requests.Response) -> dict[str, str]:
    """The parameters of a 303 redirect back to the client (query or fragment)."""
    assert response.status_code == 303, (response.status_code, response.text)
    return query_of(response.headers["location"])


def basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic as RFC 6749 §2.3.1 says: form-urlencode each part, then base64."""
    raw = urllib.parse.quote_plus(client_id) + ":" + urllib.parse.quote_plus(secret)
    return "Basic " + base64.b64encode(raw.encode()).decode()


def jwks(issuer: str) -> dict[str, Any]:
    response = requests.get(issuer + "/oauth2/jwks")
    assert response.status_code == 200, response.text
    return response.json()


def verify_jwt(issuer: str, token: str, audience: str, typ: str, leeway: int = 0) -> dict[str, Any]:
    """Checks a token as a client would: header, signature against the JWKS fetched over
    HTTP, issuer, audience, times; returns its claims. After the mock's clock was advanced,
    give a `leeway` of that many seconds (its iat is in the real clock's future)."""
    import jwt  # PyJWT

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == typ, header
    keys = {key["kid"]: key for key in jwks(issuer)["keys"]}
    assert header["kid"] in keys, (header, list(keys))
    key = jwt.PyJWK(keys[header["kid"]])
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer, leeway=leeway)


def add_client(issuer: str, **fields: Any) -> dict[str, Any]:
    """Adds (or replaces) a client through the teaching API."""
    response = requests.post(issuer + "/_mock/clients", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def add_user(issuer: str, **fields: Any) -> dict[str, Any]:
    response = requests.post(issuer + "/_mock/users", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def advance_clock(issuer: str, seconds: int) -> dict[str, Any]:
    """Moves the mock's clock on, so that codes and tokens expire on demand."""
    response = requests.post(issuer + "/_mock/clock", json={"advance": seconds})
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(issuer: str, access_token: str) -> requests.Response:
    return requests.get(issuer + "/oauth2/userinfo", headers={"Authorization": "Bearer " + access_token})


def refresh(issuer: str, refresh_token: str, client_id: str = CLIENT_ID, **extra: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    return requests.post(issuer + "/oauth2/token", data=data)
