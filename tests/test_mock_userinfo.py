"""The UserInfo endpoint: GET and POST with a Bearer token only; 401 with Authgear's
`invalid_grant` for a bad, expired, revoked or wrong kind of token.

As Authgear answers it (see the README's mock section).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from mock_idp import RunningServer, serve
from tests.flow import Flow, advance_clock, jwks, userinfo

INVALID_SESSION = 'Bearer error="invalid_grant", error_description="invalid session"'
AUTHGEAR = "https://authgear.com/claims/user/"


def assert_invalid_session(response: requests.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"] == INVALID_SESSION
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["error_description"]
    assert "sub" not in body and "email" not in body


def test_get_answers_every_attribute_of_the_user(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    response = userinfo(idp.url, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    info = response.json()
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert info["sub"] == id_claims["sub"]
    assert info["email"] == "alice@example.com"
    assert info["email_verified"] is True
    assert isinstance(info["updated_at"], int)
    assert info["name"] == "Alice Liddell"
    assert info["given_name"] == "Alice"
    assert info["family_name"] == "Liddell"
    assert info["phone_number"] == "+447700900123"
    assert info[AUTHGEAR + "is_anonymous"] is False
    assert info[AUTHGEAR + "is_verified"] is True
    assert info[AUTHGEAR + "can_reauthenticate"] is True
    assert info[AUTHGEAR + "roles"] == ["admin"]
    assert info["custom_attributes"] == {"department": "Engineering", "plan": "pro"}
    assert info["x_web3"] == {}


def test_first_party_client_gets_every_attribute_whatever_the_scope(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens(scope="openid")
    info = userinfo(idp.url, tokens["access_token"]).json()
    assert info["email"] == "alice@example.com"
    assert info["name"] == "Alice Liddell"


def test_post_with_bearer_works(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    response = requests.post(idp.url + "/oauth2/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_bearer_scheme_is_case_insensitive(idp: RunningServer, flow: Flow) -> None:
    # RFC 7235 §2.1: the auth scheme is case-insensitive.
    tokens = flow.tokens()
    response = requests.get(idp.url + "/oauth2/userinfo", headers={"Authorization": "bearer " + tokens["access_token"]})
    assert response.status_code == 200


def test_bob_gets_bobs_attributes(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens(email="bob@example.com", password="bob123")
    info = userinfo(idp.url, tokens["access_token"]).json()
    assert info["email"] == "bob@example.com"
    assert info["custom_attributes"] == {"department": "Sales", "plan": "free"}
    assert info[AUTHGEAR + "roles"] == []
    assert "phone_number" not in info


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer garbage", "Bearer a.b.c", "Bearer " + "x" * 5000,
     "Basic bW9jay1jbGllbnQ6bW9jay1zZWNyZXQ=", "Token abc"],
)
def test_missing_or_garbage_token_is_401(idp: RunningServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_invalid_session(requests.get(idp.url + "/oauth2/userinfo", headers=headers))
    assert_invalid_session(requests.post(idp.url + "/oauth2/userinfo", headers=headers))


def test_token_in_the_query_or_form_is_not_accepted(idp: RunningServer, flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    assert_invalid_session(requests.get(idp.url + "/oauth2/userinfo", params={"access_token": token}))
    assert_invalid_session(requests.post(idp.url + "/oauth2/userinfo", data={"access_token": token}))
    assert_invalid_session(requests.post(idp.url + "/oauth2/userinfo", json={"access_token": token}))


def test_id_token_sent_instead_is_401(idp: RunningServer, flow: Flow) -> None:
    assert_invalid_session(userinfo(idp.url, flow.tokens()["id_token"]))


def test_refresh_token_sent_instead_is_401(idp: RunningServer, flow: Flow) -> None:
    assert_invalid_session(userinfo(idp.url, flow.tokens()["refresh_token"]))


def test_expired_access_token_is_401(idp: RunningServer, flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    advance_clock(idp.url, 1700)
    assert userinfo(idp.url, token).status_code == 200
    advance_clock(idp.url, 101)
    assert_invalid_session(userinfo(idp.url, token))


def test_tampered_access_token_is_401(idp: RunningServer, flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(uuid.uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_invalid_session(userinfo(idp.url, f"{header}.{forged}.{signature}"))
    assert_invalid_session(userinfo(idp.url, f"{header}.{payload}.{signature[:-4]}AAAA"))


def test_token_signed_by_another_key_with_the_same_kid_is_401(idp: RunningServer, flow: Flow) -> None:
    real = jwt.decode(flow.tokens()["access_token"], options={"verify_signature": False})
    kid = jwks(idp.url)["keys"][0]["kid"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(real, other, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})
    assert_invalid_session(userinfo(idp.url, forged))


def test_unsigned_token_is_401(idp: RunningServer, flow: Flow) -> None:
    real: dict[str, Any] = jwt.decode(flow.tokens()["access_token"], options={"verify_signature": False})
    unsigned = jwt.encode(real, None, algorithm="none", headers={"typ": "at+jwt"})
    assert_invalid_session(userinfo(idp.url, unsigned))
    hs256 = jwt.encode(real, jwks(idp.url)["keys"][0]["n"], algorithm="HS256", headers={"typ": "at+jwt"})
    assert_invalid_session(userinfo(idp.url, hs256))


def test_token_of_a_removed_user_is_401(idp: RunningServer, flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    assert requests.delete(idp.url + "/_mock/users/alice@example.com").status_code == 200
    assert_invalid_session(userinfo(idp.url, token))


def test_revoked_access_token_is_401(idp: RunningServer, flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    assert requests.post(idp.url + "/oauth2/revoke", data={"token": token}).status_code == 200
    assert_invalid_session(userinfo(idp.url, token))


def test_token_from_another_mock_is_401(idp: RunningServer) -> None:
    with serve(port=0) as other, requests.Session() as browser:
        token = Flow(other.url, browser).tokens()["access_token"]
    assert_invalid_session(userinfo(idp.url, token))


def test_malformed_post_body_is_not_a_500(idp: RunningServer, flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/x-www-form-urlencoded"}
    for body in (b"\xff\xfe=\xff", b"a=%FF", b"x" * 70_000):
        response = requests.post(idp.url + "/oauth2/userinfo", data=body, headers=headers)
        assert 400 <= response.status_code < 500
        assert response.json()["error"]
