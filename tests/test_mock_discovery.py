"""Discovery (both well-known paths), the JWKS, and the method table of every endpoint.

Reference: Authgear's endpoints and discovery document, as the README describes them.
"""

from __future__ import annotations

import base64

import pytest
import requests

from mock_idp import RunningServer, serve

WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@pytest.mark.parametrize("path", WELL_KNOWN)
def test_discovery_document_has_every_field_of_the_reference(server: RunningServer, path: str) -> None:
    response = requests.get(server.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    issuer = server.url
    assert doc["issuer"] == issuer
    assert not doc["issuer"].endswith("/")
    for name, endpoint in (
        ("authorization_endpoint", "authorize"),
        ("token_endpoint", "token"),
        ("userinfo_endpoint", "userinfo"),
        ("end_session_endpoint", "end_session"),
        ("revocation_endpoint", "revoke"),
        ("jwks_uri", "jwks"),
    ):
        assert doc[name] == f"{issuer}/oauth2/{endpoint}", name
    assert doc["response_types_supported"][:2] == ["code", "none"]
    assert all(t in ("code", "none") or t.startswith("urn:authgear:") for t in doc["response_types_supported"])
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["token_endpoint_auth_methods_supported"] == ["none", "client_secret_post", "client_secret_basic"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["scopes_supported"][:6] == ["openid", "offline_access", "profile", "email", "address", "phone"]
    assert "https://authgear.com/scopes/full-userinfo" in doc["scopes_supported"]
    claims = set(doc["claims_supported"])
    assert {"iss", "aud", "iat", "exp", "sub"} <= claims
    assert {"email", "email_verified", "phone_number", "phone_number_verified"} <= claims
    assert {"name", "given_name", "family_name", "preferred_username", "locale", "zoneinfo", "picture"} <= claims
    # No introspection or registration endpoint.
    assert "introspection_endpoint" not in doc
    assert "registration_endpoint" not in doc


def test_both_well_known_paths_answer_the_same_document(server: RunningServer) -> None:
    first, second = (requests.get(server.url + path).json() for path in WELL_KNOWN)
    assert first == second


@pytest.mark.parametrize("path", [*WELL_KNOWN, "/oauth2/jwks"])
def test_discovery_and_jwks_carry_cors_star(server: RunningServer, path: str) -> None:
    response = requests.get(server.url + path, headers={"Origin": "http://localhost:8888"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_issuer_override_is_used_everywhere_without_trailing_slash() -> None:
    with serve(port=0, issuer="https://auth.example.test/") as running:
        # running.url is the issuer, not where it listens: ask the socket's address.
        doc = requests.get(f"http://127.0.0.1:{running.port}/.well-known/openid-configuration").json()
    assert doc["issuer"] == "https://auth.example.test"
    assert doc["token_endpoint"] == "https://auth.example.test/oauth2/token"


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_jwks_has_one_rsa_2048_key_with_public_members_only(server: RunningServer) -> None:
    response = requests.get(server.url + "/oauth2/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
    for private in ("d", "p", "q", "dp", "dq", "qi"):
        assert private not in key
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
    assert key["e"] == "AQAB"
    assert b64url_int(key["n"]).bit_length() == 2048
    assert key["kid"]


# Wrong method: 405 (and never a 500). Each path with a method it does not take.
WRONG_METHODS = [
    ("POST", "/.well-known/openid-configuration"),
    ("PUT", "/.well-known/openid-configuration"),
    ("POST", "/.well-known/oauth-authorization-server"),
    ("POST", "/oauth2/jwks"),
    ("DELETE", "/oauth2/jwks"),
    ("PUT", "/oauth2/authorize"),
    ("DELETE", "/oauth2/authorize"),
    ("GET", "/oauth2/token"),
    ("PUT", "/oauth2/token"),
    ("PUT", "/oauth2/userinfo"),
    ("DELETE", "/oauth2/userinfo"),
    ("PUT", "/oauth2/end_session"),
    ("GET", "/oauth2/revoke"),
    ("DELETE", "/oauth2/revoke"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_wrong_method_is_405(server: RunningServer, method: str, path: str) -> None:
    response = requests.request(method, server.url + path, allow_redirects=False)
    assert response.status_code == 405
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/oauth2/jwks"),
        ("GET", "/oauth2/authorize"),
        ("POST", "/oauth2/authorize"),
        ("POST", "/oauth2/token"),
        ("GET", "/oauth2/userinfo"),
        ("POST", "/oauth2/userinfo"),
        ("GET", "/oauth2/end_session"),
        ("POST", "/oauth2/end_session"),
        ("POST", "/oauth2/revoke"),
    ],
)
def test_every_endpoint_takes_the_methods_of_the_reference(server: RunningServer, method: str, path: str) -> None:
    response = requests.request(method, server.url + path, allow_redirects=False)
    assert response.status_code not in (404, 405)
    assert response.status_code < 500


def test_unknown_path_is_404(server: RunningServer) -> None:
    response = requests.get(server.url + "/oauth2/introspect")
    assert response.status_code == 404
