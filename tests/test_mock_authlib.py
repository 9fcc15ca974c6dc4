"""A client library we did not write completes the whole OIDC flow against the mock.

Authlib's OAuth2Session (authlib.integrations.requests_client) plays the client app:
discovery → authorization URL with PKCE S256, state and nonce → (a requests session plays
the browser through the real login form) → code exchange with client_secret_post and
client_secret_basic → ID token validated with authlib.jose against the JWKS fetched over
HTTP → userinfo → refresh. If the mock bent the protocol somewhere, an independent
implementation is where it would show.
"""

from __future__ import annotations

import re
import urllib.parse
import warnings

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

with warnings.catch_warnings():
    # authlib.jose announces its move to joserfc; it is still Authlib's documented JOSE API.
    warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")
    from authlib.jose import JsonWebKey, jwt
    from authlib.jose.errors import BadSignatureError, InvalidClaimError

from mock_idp import RunningServer
from tests.flow import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI

SCOPE = "openid offline_access email profile"


@pytest.fixture(autouse=True)
def plain_http_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Authlib refuses http:// unless told; the mock runs on plain-http loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def discover(issuer: str) -> dict:
    response = requests.get(issuer + "/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == issuer
    assert "S256" in metadata["code_challenge_methods_supported"]
    return metadata


def browser_login(authorization_url: str, email: str, password: str) -> str:
    """What a person's browser does: follow to the login page, fill in the form, submit.
    Returns the callback URL the mock redirects to (not fetched: nothing listens on :3000)."""
    with requests.Session() as browser:
        first = browser.get(authorization_url, allow_redirects=False, timeout=10)
        assert first.status_code == 303, first.text
        page = browser.get(first.headers["location"], allow_redirects=False, timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        login_request = re.search(r'name="login_request" value="([^"]+)"', page.text)
        assert action and login_request, page.text
        assert 'name="email"' in page.text and 'name="password"' in page.text
        answer = browser.post(
            action.group(1),
            data={"login_request": login_request.group(1), "email": email, "password": password, "action": "login"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]


def token_requests(issuer: str, since: int) -> list[dict]:
    """The token-endpoint exchanges the mock recorded (teaching API) after `since`."""
    log = requests.get(issuer + "/_mock/exchanges", params={"since": since}, timeout=10).json()["exchanges"]
    return [e for e in log if e["path"] == "/oauth2/token"]


def last_seq(issuer: str) -> int:
    log = requests.get(issuer + "/_mock/exchanges", timeout=10).json()["exchanges"]
    return max((e["seq"] for e in log), default=0)


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_authlib_client_completes_the_flow(server: RunningServer, auth_method: str) -> None:
    issuer = server.url
    metadata = discover(issuer)
    client = OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )

    # Authorization URL: Authlib generates the verifier, the state; we add a nonce.
    verifier = generate_token(64)
    nonce = generate_token(24)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    sent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(issuer + "/oauth2/authorize?")
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] == create_s256_code_challenge(verifier) != verifier
    assert sent["state"] == state and sent["nonce"] == nonce and sent["client_id"] == CLIENT_ID

    callback = browser_login(url, "alice@example.com", "alice123")
    assert callback.startswith(REDIRECT_URI + "?")
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    assert back["state"] == state and re.fullmatch(r"[A-Za-z0-9]{32}", back["code"])

    # Code exchange: Authlib parses the callback (checks state) and sends the verifier.
    since = last_seq(issuer)
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["expires_in"] == 1800
    assert re.fullmatch(r"[0-9a-f-]{36}\.[A-Za-z0-9]{32}", token["refresh_token"])
    [exchange] = token_requests(issuer, since)
    assert exchange["status"] == 200
    if auth_method == "client_secret_basic":
        assert exchange["request_headers"]["authorization"].startswith("Basic ")
        assert "client_secret" not in exchange["params"]
    else:
        assert "authorization" not in exchange["request_headers"]
        assert exchange["params"]["client_id"] == CLIENT_ID and "client_secret" in exchange["params"]

    # ID token: signature against the JWKS fetched over HTTP, then iss, aud and nonce.
    jwks_response = requests.get(metadata["jwks_uri"], timeout=10)
    assert jwks_response.status_code == 200
    keys = JsonWebKey.import_key_set(jwks_response.json())
    claims_options = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": CLIENT_ID},
        "nonce": {"essential": True, "value": nonce},
        "sub": {"essential": True},
        "sid": {"essential": True},
    }
    claims = jwt.decode(token["id_token"], keys, claims_options=claims_options)
    claims.validate(leeway=5)
    assert claims.header["alg"] == "RS256" and claims.header["typ"] == "JWT"
    assert claims.header["kid"] == jwks_response.json()["keys"][0]["kid"]
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    assert claims["amr"] == ["pwd", "x_primary_password"]
    assert claims["exp"] - claims["iat"] == 300

    # The validation is not a formality: a wrong nonce and a forged signature both fail.
    wrong_nonce = jwt.decode(token["id_token"], keys, claims_options={**claims_options, "nonce": {"value": "other"}})
    with pytest.raises(InvalidClaimError):
        wrong_nonce.validate(leeway=5)
    header, payload, signature = token["id_token"].split(".")
    forged = ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys)

    # Access token: a JWT for the issuer, typ at+jwt, same key.
    access = jwt.decode(token["access_token"], keys)
    access.validate(leeway=5)
    assert access.header["typ"] == "at+jwt"
    assert access["aud"] == [issuer] and access["client_id"] == CLIENT_ID and access["sub"] == claims["sub"]

    # Userinfo with Authlib's session (it sends the bearer token itself).
    info = client.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["email"] == "alice@example.com"

    # Refresh: a new access token and ID token (same sid, no nonce); no rotation by default.
    refreshed = client.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] == token["refresh_token"]  # Authlib keeps it: none was sent back
    new_claims = jwt.decode(
        refreshed["id_token"], keys,
        claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": CLIENT_ID}},
    )
    new_claims.validate(leeway=5)
    assert new_claims["sub"] == claims["sub"] and new_claims["sid"] == claims["sid"]
    assert "nonce" not in new_claims
    again = client.get(metadata["userinfo_endpoint"], timeout=10)
    assert again.status_code == 200 and again.json()["sub"] == claims["sub"]


def test_authlib_sees_the_error_for_a_wrong_verifier(server: RunningServer) -> None:
    """PKCE is checked, not just declared: Authlib's exchange with another verifier fails."""
    metadata = discover(server.url)
    client = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=SCOPE, redirect_uri=REDIRECT_URI,
                           code_challenge_method="S256")
    verifier = generate_token(64)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    callback = browser_login(url, "bob@example.com", "bob123")
    with pytest.raises(OAuthError) as failure:
        client.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state,
                           code_verifier=generate_token(64))
    assert failure.value.error == "invalid_grant"
    # The failed exchange did not consume the code: the right verifier still works.
    token = client.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state,
                               code_verifier=verifier)
    claims = jwt.decode(token["id_token"], JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"]).json()))
    assert claims["email"] == "bob@example.com"
