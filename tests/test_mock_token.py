"""The token endpoint: every row of the error table, client authentication, the code's life,
PKCE, the tokens' headers and claims (signatures checked against the JWKS over HTTP), refresh.

As Authgear answers them (see the README's mock section).
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest
import requests

from mock_idp import RunningServer
from tests.flow import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    Flow,
    add_client,
    add_user,
    advance_clock,
    basic_auth,
    jwks,
    pkce_pair,
    refresh,
    userinfo,
    verify_jwt,
)

OTHER_REDIRECT_URI = "http://localhost:3001/auth-redirect"  # mock-client's second one
REFRESH_TOKEN = re.compile(r"([0-9a-f-]{36})\.[A-Za-z0-9]{32}")
ALICE_SUB = str(uuid.uuid5(uuid.NAMESPACE_URL, "mock-idp:user:alice@example.com"))
AUTHGEAR = "https://authgear.com/claims/user/"


def post_token(issuer: str, data: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
    return requests.post(issuer + "/oauth2/token", data=data, **kwargs)


def assert_token_error(response: requests.Response, error: str, description: str | None = None) -> dict:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert body["error_description"]
    if description is not None:
        assert body["error_description"] == description, body
    return body


def code_for(flow: Flow, **overrides: Any) -> str:
    return flow.login(**overrides)["code"]


def assert_exchange_works(flow: Flow, code: str, **overrides: Any) -> dict[str, Any]:
    response = flow.exchange(code, **overrides)
    assert response.status_code == 200, response.text
    return response.json()


# -- the error table, row by row, in its order

@pytest.mark.parametrize("client_id", [None, "", "unknown-client"])
def test_unknown_or_missing_client_id_is_invalid_client_400(flow: Flow, client_id: str | None) -> None:
    code = code_for(flow)
    assert_token_error(flow.exchange(code, client_id=client_id), "invalid_client", "invalid client ID")


def test_unknown_client_comes_before_a_bad_grant_type(idp: RunningServer) -> None:
    assert_token_error(post_token(idp.url, {"client_id": "nope", "grant_type": "password"}),
                       "invalid_client", "invalid client ID")


@pytest.mark.parametrize("grant_type", [None, "", "password", "implicit", "AUTHORIZATION_CODE",
                                        "urn:ietf:params:oauth:grant-type:device_code"])
def test_missing_or_unknown_grant_type_is_unsupported_grant_type(flow: Flow, grant_type: str | None) -> None:
    code = code_for(flow)
    assert_token_error(flow.exchange(code, grant_type=grant_type), "unsupported_grant_type")


def test_client_credentials_is_refused_to_this_client(idp: RunningServer) -> None:
    # Discovery lists it (Authgear's M2M clients); a confidential web client may not use it.
    body = assert_token_error(post_token(idp.url, {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                                   "client_secret": CLIENT_SECRET}), "unauthorized_client")
    assert "client_credentials" in body["error_description"]


@pytest.mark.parametrize("code", [None, ""])
def test_authorization_code_without_code_is_invalid_request(flow: Flow, code: str | None) -> None:
    assert_token_error(flow.exchange(code, client_secret=None), "invalid_request", "code is required")


@pytest.mark.parametrize("secret", [None, ""])
def test_confidential_client_without_secret_is_invalid_client(flow: Flow, secret: str | None) -> None:
    code = code_for(flow)
    assert_token_error(flow.exchange(code, client_secret=secret), "invalid_client", "client secret is required")
    assert_exchange_works(flow, code)  # the failed exchange did not consume the code


@pytest.mark.parametrize("secret", ["wrong", CLIENT_SECRET + " ", CLIENT_SECRET.upper(), CLIENT_SECRET[:-1]])
def test_wrong_client_secret_is_invalid_request(flow: Flow, secret: str) -> None:
    # Authgear's quirk: RFC 6749 §5.2 says invalid_client here.
    code = code_for(flow)
    assert_token_error(flow.exchange(code, client_secret=secret), "invalid_request", "invalid client secret")
    assert_exchange_works(flow, code)


def test_checks_run_in_authgears_order_with_the_wrong_secret_last(flow: Flow) -> None:
    # Authgear's order: the request's shape, the
    # code, its redirect URI, PKCE, and only then the client secret. Each request below has
    # every later mistake too, so that only the order decides which error comes back.
    spa = {"client_id": "mock-spa", "client_secret": None}
    assert_token_error(flow.exchange(None, client_secret="wrong", code_verifier="bad"), "invalid_request",
                       "code is required")
    assert_token_error(flow.exchange(None, code_verifier=None, **spa), "invalid_request", "code is required")
    # Before the code is looked up: a public client without a verifier, a confidential one without a secret.
    assert_token_error(flow.exchange("no-such-code", code_verifier=None, **spa), "invalid_request",
                       "PKCE code verifier is required")
    assert_token_error(flow.exchange("no-such-code", client_secret=None, code_verifier="bad"), "invalid_client",
                       "client secret is required")
    # The code before the secret: an unknown code with a wrong secret is invalid_grant.
    assert_token_error(flow.exchange("no-such-code", client_secret="wrong"), "invalid_grant",
                       "invalid authorization code")
    code = code_for(flow)
    assert_token_error(flow.exchange(code, redirect_uri=OTHER_REDIRECT_URI, code_verifier="a" * 43,
                                     client_secret="wrong"), "invalid_request", "invalid redirect URI")
    assert_token_error(flow.exchange(code, code_verifier="a" * 43, client_secret="wrong"), "invalid_grant",
                       "invalid authorization code")
    assert_token_error(flow.exchange(code, client_secret="wrong"), "invalid_request", "invalid client secret")
    assert_exchange_works(flow, code)  # every check ran before the code would be consumed


@pytest.mark.parametrize("code", ["no-such-code", "A" * 32, "é", "x" * 2000])
def test_unknown_code_is_invalid_grant(flow: Flow, code: str) -> None:
    assert_token_error(flow.exchange(code), "invalid_grant", "invalid authorization code")


def test_code_is_single_use(idp: RunningServer, flow: Flow) -> None:
    code = code_for(flow)
    tokens = assert_exchange_works(flow, code)
    assert_token_error(flow.exchange(code), "invalid_grant", "invalid authorization code")
    # Authgear does not revoke what the first exchange issued (RFC 6749 says it SHOULD).
    assert userinfo(idp.url, tokens["access_token"]).status_code == 200
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200


def test_code_expires_after_300_seconds(idp: RunningServer, flow: Flow) -> None:
    code = code_for(flow)
    advance_clock(idp.url, 301)
    assert_token_error(flow.exchange(code), "invalid_grant", "invalid authorization code")


def test_code_still_works_just_before_300_seconds(idp: RunningServer, flow: Flow) -> None:
    code = code_for(flow)
    advance_clock(idp.url, 290)
    assert_exchange_works(flow, code)


def test_code_is_bound_to_its_client(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="other-app", client_secret="other-secret", redirect_uris=[REDIRECT_URI])
    code = code_for(flow)
    assert_token_error(flow.exchange(code, client_id="other-app", client_secret="other-secret"),
                       "invalid_grant", "invalid authorization code")
    assert_exchange_works(flow, code)


@pytest.mark.parametrize("redirect_uri", [None, "", OTHER_REDIRECT_URI, REDIRECT_URI + "/", "https://evil.example/"])
def test_code_is_bound_to_its_redirect_uri(flow: Flow, redirect_uri: str | None) -> None:
    code = code_for(flow)
    assert_token_error(flow.exchange(code, redirect_uri=redirect_uri), "invalid_request", "invalid redirect URI")
    assert_exchange_works(flow, code)


def test_the_other_registered_redirect_uri_works_when_used_at_both_ends(flow: Flow) -> None:
    code = code_for(flow, redirect_uri=OTHER_REDIRECT_URI)
    assert_exchange_works(flow, code, redirect_uri=OTHER_REDIRECT_URI)


# -- PKCE

@pytest.mark.parametrize(
    "verifier",
    [
        None,                    # missing
        "",                      # empty
        "a" * 43,                # well formed, wrong
        "a" * 42,                # too short
        "a" * 129,               # too long
        "a" * 42 + "+",          # bad character
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + " ",
        "é" * 43,
    ],
)
def test_bad_pkce_verifier_is_invalid_grant_and_keeps_the_code(flow: Flow, verifier: str | None) -> None:
    code = code_for(flow)
    assert_token_error(flow.exchange(code, code_verifier=verifier), "invalid_grant", "invalid authorization code")
    assert_exchange_works(flow, code)


def test_malformed_verifier_is_refused_even_if_it_hashes_to_the_challenge(flow: Flow) -> None:
    import hashlib

    short = "b" * 42  # one short of RFC 7636's minimum
    challenge = base64.urlsafe_b64encode(hashlib.sha256(short.encode()).digest()).rstrip(b"=").decode()
    code = code_for(flow, code_challenge=challenge)
    assert_token_error(flow.exchange(code, code_verifier=short), "invalid_grant", "invalid authorization code")


@pytest.mark.parametrize("length", [43, 128])
def test_verifier_of_the_boundary_lengths_works(flow: Flow, length: int) -> None:
    import hashlib

    verifier = ("-._~Az09" * 20)[:length]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = code_for(flow, code_challenge=challenge)
    assert_exchange_works(flow, code, code_verifier=verifier)


@pytest.mark.parametrize("challenge", ["é" * 43, "☃" * 43, "A" * 42 + "é", "\u00a0" * 43])
def test_non_ascii_code_challenge_is_invalid_grant_not_a_500(flow: Flow, challenge: str) -> None:
    # Authorize stores any challenge; the exchange compares it with the verifier's hash as
    # bytes (comparing non-ASCII str with hmac.compare_digest raises TypeError: a 500).
    code = code_for(flow, code_challenge=challenge)
    assert_token_error(flow.exchange(code), "invalid_grant", "invalid authorization code")
    assert_token_error(flow.exchange(code, code_verifier="é" * 43), "invalid_grant", "invalid authorization code")


def test_verifier_without_a_challenge_is_invalid_grant(flow: Flow) -> None:
    # As Authgear: a verifier with no stored challenge fails (a PKCE downgrade, RFC 9700 §2.1.1),
    # with the same answer as a bad code.
    code = code_for(flow, code_challenge=None, code_challenge_method=None)
    verifier, _ = pkce_pair()
    assert_token_error(flow.exchange(code, code_verifier=verifier), "invalid_grant",
                       "invalid authorization code")
    assert_exchange_works(flow, code, code_verifier=None)


@pytest.mark.parametrize("verifier", [None, ""])
def test_public_client_without_a_verifier_is_invalid_request_then_exchanges_with_pkce_and_no_secret(
        idp: RunningServer, flow: Flow, verifier: str | None) -> None:
    code = code_for(flow, client_id="mock-spa")
    # Authgear checks this before the code: invalid_request, not invalid_grant; the code is kept.
    assert_token_error(flow.exchange(code, client_id="mock-spa", client_secret=None, code_verifier=verifier),
                       "invalid_request", "PKCE code verifier is required")
    assert_token_error(flow.exchange(code, client_id="mock-spa", client_secret=None, code_verifier="a" * 43),
                       "invalid_grant", "invalid authorization code")
    tokens = assert_exchange_works(flow, code, client_id="mock-spa", client_secret=None)
    claims = verify_jwt(idp.url, tokens["id_token"], "mock-spa", "JWT")
    assert claims["aud"] == ["mock-spa"]


# -- client authentication

def test_client_secret_basic_works(idp: RunningServer, flow: Flow) -> None:
    code = code_for(flow)
    response = basic_exchange(flow, code, basic_auth(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200, response.text
    assert "access_token" in response.json()


def basic_exchange(flow: Flow, code: str, authorization: str, **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier, **extra}
    return requests.post(flow.issuer + "/oauth2/token", data=data, headers={"Authorization": authorization})


def test_client_secret_basic_decodes_form_urlencoded_credentials(idp: RunningServer, flow: Flow) -> None:
    secret = "a:b+c%d é"
    add_client(idp.url, client_id="odd:client id", client_secret=secret, redirect_uris=[REDIRECT_URI])
    code = code_for(flow, client_id="odd:client id")
    # Not form-urlencoded first: '+' reads as a space and the id is cut at its ':', so it fails...
    raw = "Basic " + base64.b64encode(f"odd:client id:{secret}".encode()).decode()
    assert basic_exchange(flow, code, raw).status_code == 400
    # ...and as RFC 6749 §2.3.1 says, it works.
    response = basic_exchange(flow, code, basic_auth("odd:client id", secret))
    assert response.status_code == 200, response.text


def test_client_secret_basic_with_a_plus_sent_raw_is_a_wrong_secret(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="plus", client_secret="a+b", redirect_uris=[REDIRECT_URI])
    code = code_for(flow, client_id="plus")
    raw = "Basic " + base64.b64encode(b"plus:a+b").decode()  # '+' decodes to ' '
    assert_token_error(basic_exchange(flow, code, raw), "invalid_request", "invalid client secret")
    assert basic_exchange(flow, code, basic_auth("plus", "a+b")).status_code == 200


def test_client_secret_basic_wrong_secret(flow: Flow) -> None:
    code = code_for(flow)
    assert_token_error(basic_exchange(flow, code, basic_auth(CLIENT_ID, "wrong")), "invalid_request",
                       "invalid client secret")
    assert_token_error(basic_exchange(flow, code, basic_auth("nope", CLIENT_SECRET)), "invalid_client",
                       "invalid client ID")
    assert_exchange_works(flow, code)


def test_basic_is_used_only_when_the_body_has_neither_id_nor_secret(flow: Flow) -> None:
    code = code_for(flow)
    # client_id in the body: client_secret_post, and it has no secret.
    assert_token_error(basic_exchange(flow, code, basic_auth(CLIENT_ID, CLIENT_SECRET), client_id=CLIENT_ID),
                       "invalid_client", "client secret is required")
    # client_secret in the body: client_secret_post, and it has no client_id.
    assert_token_error(basic_exchange(flow, code, basic_auth(CLIENT_ID, CLIENT_SECRET), client_secret=CLIENT_SECRET),
                       "invalid_client", "invalid client ID")
    assert_exchange_works(flow, code)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic ",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Bearer " + base64.b64encode(b"mock-client:mock-secret").decode(),
        "Basic " + "A" * 10000,
    ],
)
def test_malformed_basic_credentials_are_invalid_client(flow: Flow, authorization: str) -> None:
    code = code_for(flow)
    assert_token_error(basic_exchange(flow, code, authorization), "invalid_client", "invalid client ID")


def test_json_body_is_treated_as_empty(idp: RunningServer, flow: Flow) -> None:
    code = code_for(flow)
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code_verifier": flow.verifier}
    assert_token_error(requests.post(idp.url + "/oauth2/token", json=body), "invalid_client", "invalid client ID")
    # With the client in a Basic header, the JSON body still has no grant_type.
    response = requests.post(idp.url + "/oauth2/token", json=body,
                             headers={"Authorization": basic_auth(CLIENT_ID, CLIENT_SECRET)})
    assert_token_error(response, "unsupported_grant_type")
    assert_exchange_works(flow, code)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"grant_type=authorization_code&client_id=%FF", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"client_id=\xff\xfe", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"client_id=mock%00client", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"x" * 70_000, {"Content-Type": "application/x-www-form-urlencoded"}),
        ("&".join(f"p{i}=1" for i in range(500)).encode(), {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"<xml/>", {"Content-Type": "application/xml"}),
        (b"\x00\x01\x02", {}),
        (b"client_id=mock-client", {"Content-Type": "multipart/form-data; boundary=x"}),
    ],
)
def test_malformed_bodies_get_a_json_400_never_a_500(idp: RunningServer, body: bytes, headers: dict) -> None:
    response = requests.post(idp.url + "/oauth2/token", data=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_client")
    assert "Traceback" not in response.text


def test_repeated_parameters_first_value_wins(flow: Flow) -> None:
    code = code_for(flow)
    body = (f"grant_type=authorization_code&grant_type=refresh_token&code={code}&code=other"
            f"&client_id={CLIENT_ID}&client_id=nope&client_secret={CLIENT_SECRET}&client_secret=wrong"
            f"&redirect_uri={requests.utils.quote(REDIRECT_URI, safe='')}&code_verifier={flow.verifier}")
    response = requests.post(flow.issuer + "/oauth2/token", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text


# -- success

def test_success_headers_and_fields(idp: RunningServer, flow: Flow) -> None:
    response = flow.exchange(code_for(flow))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "id_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1800
    assert "scope" not in body
    assert REFRESH_TOKEN.fullmatch(body["refresh_token"])


def test_no_refresh_token_without_offline_access(flow: Flow) -> None:
    code = code_for(flow, scope="openid email")
    body = assert_exchange_works(flow, code)
    assert set(body) == {"access_token", "token_type", "expires_in", "id_token"}


def test_access_token_lifetime_follows_the_client_setting(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="short", client_secret="s", redirect_uris=[REDIRECT_URI], access_token_lifetime=60)
    body = assert_exchange_works(flow, code_for(flow, client_id="short"), client_id="short", client_secret="s")
    assert body["expires_in"] == 60
    claims = verify_jwt(idp.url, body["access_token"], idp.url, "at+jwt")
    assert claims["exp"] == claims["iat"] + 60


# -- the tokens

def test_id_token_header_and_claims(idp: RunningServer, flow: Flow) -> None:
    body = flow.tokens()
    keys = jwks(idp.url)["keys"]
    import jwt

    header = jwt.get_unverified_header(body["id_token"])
    assert header == {"alg": "RS256", "kid": keys[0]["kid"], "typ": "JWT"}
    claims = verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT")
    assert claims["iss"] == idp.url
    assert claims["aud"] == [CLIENT_ID]
    assert claims["exp"] == claims["iat"] + 300
    assert claims["iat"] - 5 <= claims["auth_time"] <= claims["iat"]
    assert uuid.UUID(claims["sid"])
    assert claims["amr"] == ["pwd", "x_primary_password"]
    assert claims["nonce"] == flow.last["nonce"]
    assert claims["sub"] == ALICE_SUB
    assert claims[AUTHGEAR + "is_anonymous"] is False
    assert claims[AUTHGEAR + "is_verified"] is True
    assert claims[AUTHGEAR + "can_reauthenticate"] is True
    assert claims[AUTHGEAR + "roles"] == ["admin"]
    # scope had email and profile
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Liddell"
    assert claims["given_name"] == "Alice"
    assert isinstance(claims["updated_at"], int)
    for absent in ("at_hash", "azp", "jti", "nbf"):
        assert absent not in claims


def test_id_token_has_no_nonce_when_none_was_sent(idp: RunningServer, flow: Flow) -> None:
    body = flow.tokens(nonce=None)
    assert "nonce" not in verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT")


@pytest.mark.parametrize(
    ("scope", "present", "absent"),
    [
        ("openid", set(), {"email", "email_verified", "name", "given_name", "phone_number"}),
        ("openid email", {"email", "email_verified"}, {"name", "given_name", "family_name", "phone_number"}),
        ("openid profile", {"name", "given_name", "family_name", "locale", "zoneinfo", "updated_at"},
         {"email", "email_verified", "phone_number"}),
        ("openid phone", {"phone_number", "phone_number_verified"}, {"email", "name"}),
    ],
)
def test_id_token_claims_follow_the_scope(idp: RunningServer, flow: Flow, scope: str, present: set,
                                          absent: set) -> None:
    claims = verify_jwt(idp.url, flow.tokens(scope=scope)["id_token"], CLIENT_ID, "JWT")
    assert present <= set(claims), claims
    assert not absent & set(claims), claims
    assert claims["sub"] == ALICE_SUB  # always


def test_access_token_header_and_claims(idp: RunningServer, flow: Flow) -> None:
    body = flow.tokens()
    import jwt

    assert jwt.get_unverified_header(body["access_token"]) == {
        "alg": "RS256", "kid": jwks(idp.url)["keys"][0]["kid"], "typ": "at+jwt"}
    claims = verify_jwt(idp.url, body["access_token"], idp.url, "at+jwt")
    assert claims["iss"] == idp.url
    assert claims["aud"] == [idp.url]
    assert claims["exp"] == claims["iat"] + 1800
    assert claims["sub"] == ALICE_SUB
    assert claims["client_id"] == CLIENT_ID
    assert claims["scope"] == "openid offline_access email profile"
    assert claims["amr"] == ["pwd", "x_primary_password"]
    assert uuid.UUID(claims["jti"])
    id_claims = verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT")
    assert claims["auth_time"] == id_claims["auth_time"]
    for name in ("is_anonymous", "is_verified", "can_reauthenticate", "roles"):
        assert AUTHGEAR + name in claims
    assert "email" not in claims and "nonce" not in claims


def test_tokens_verified_with_another_key_fail(idp: RunningServer, flow: Flow) -> None:
    """The signatures are real: a different RSA key does not verify them."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    body = flow.tokens()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["id_token"], other, algorithms=["RS256"], audience=CLIENT_ID)
    tampered = body["id_token"].rsplit(".", 1)[0] + "." + "A" * 342
    with pytest.raises(jwt.InvalidSignatureError):
        verify_jwt(idp.url, tampered, CLIENT_ID, "JWT")


def test_jti_and_refresh_tokens_are_unique(idp: RunningServer, flow: Flow) -> None:
    first, second = flow.tokens(), flow.tokens()
    jti = {verify_jwt(idp.url, b["access_token"], idp.url, "at+jwt")["jti"] for b in (first, second)}
    assert len(jti) == 2
    assert first["refresh_token"] != second["refresh_token"]


def test_bob_gets_his_own_claims(idp: RunningServer, flow: Flow) -> None:
    body = flow.tokens(email="bob@example.com", password="bob123")
    claims = verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT")
    assert claims["email"] == "bob@example.com"
    assert claims[AUTHGEAR + "roles"] == []
    assert claims["sub"] != ALICE_SUB


# -- refresh

def test_refresh_gives_new_access_and_id_token_same_sid_no_nonce(idp: RunningServer, flow: Flow) -> None:
    first = flow.tokens()
    old_id = verify_jwt(idp.url, first["id_token"], CLIENT_ID, "JWT")
    advance_clock(idp.url, 60)
    response = refresh(idp.url, first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "id_token"}  # no new refresh token
    new_id = verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT", leeway=60)
    assert new_id["sid"] == old_id["sid"]
    assert new_id["auth_time"] == old_id["auth_time"]
    assert new_id["iat"] >= old_id["iat"] + 60
    assert "nonce" not in new_id
    assert body["access_token"] != first["access_token"]
    assert userinfo(idp.url, body["access_token"]).status_code == 200
    # Without rotation the refresh token keeps working.
    assert refresh(idp.url, first["refresh_token"]).status_code == 200


def test_refresh_ignores_scope_and_the_secret(idp: RunningServer, flow: Flow) -> None:
    first = flow.tokens(scope="openid offline_access email")
    response = refresh(idp.url, first["refresh_token"], scope="openid profile", client_secret="wrong")
    assert response.status_code == 200, response.text
    claims = verify_jwt(idp.url, response.json()["access_token"], idp.url, "at+jwt")
    assert claims["scope"] == "openid offline_access email"


def test_refresh_with_rotation_kills_the_old_token_at_once(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="rotating", client_secret="s", redirect_uris=[REDIRECT_URI],
               refresh_token_rotation=True)
    code = code_for(flow, client_id="rotating")
    first = assert_exchange_works(flow, code, client_id="rotating", client_secret="s")
    response = refresh(idp.url, first["refresh_token"], client_id="rotating")
    assert response.status_code == 200, response.text
    second = response.json()["refresh_token"]
    assert REFRESH_TOKEN.fullmatch(second)
    assert second != first["refresh_token"]
    assert second.split(".")[0] == first["refresh_token"].split(".")[0]  # same grant
    assert_token_error(refresh(idp.url, first["refresh_token"], client_id="rotating"), "invalid_grant",
                       "invalid refresh token")
    assert refresh(idp.url, second, client_id="rotating").status_code == 200


def test_refresh_token_of_another_client_is_invalid_request(idp: RunningServer, flow: Flow) -> None:
    add_client(idp.url, client_id="other-app", client_secret="s", redirect_uris=[REDIRECT_URI])
    tokens = flow.tokens()
    assert_token_error(refresh(idp.url, tokens["refresh_token"], client_id="other-app"), "invalid_request",
                       "client ID mismatch")
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "token_of",
    [
        lambda t: "garbage",
        lambda t: str(uuid.uuid4()) + "." + "a" * 32,
        lambda t: t.split(".")[0] + "." + "a" * 32,  # right grant, wrong secret
        lambda t: t.split(".")[0],
        lambda t: t + "x",
        lambda t: "." + t.split(".")[1],
        lambda t: t.replace(".", ".."),
        lambda t: "é" * 40,
    ],
)
def test_unknown_or_garbage_refresh_token_is_invalid_grant(idp: RunningServer, flow: Flow, token_of: Any) -> None:
    tokens = flow.tokens()
    assert_token_error(refresh(idp.url, token_of(tokens["refresh_token"])), "invalid_grant", "invalid refresh token")


def test_refresh_without_a_refresh_token_is_invalid_request(idp: RunningServer) -> None:
    assert_token_error(refresh(idp.url, ""), "invalid_request", "refresh token is required")


def test_refresh_needs_a_known_client_id(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    assert_token_error(refresh(idp.url, tokens["refresh_token"], client_id=""), "invalid_client", "invalid client ID")


def test_refresh_token_dies_after_30_idle_days(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    advance_clock(idp.url, 29 * 86400)
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200  # use resets the idle time
    advance_clock(idp.url, 29 * 86400)
    assert refresh(idp.url, tokens["refresh_token"]).status_code == 200
    advance_clock(idp.url, 30 * 86400 + 1)
    assert_token_error(refresh(idp.url, tokens["refresh_token"]), "invalid_grant", "invalid refresh token")


def test_refresh_token_of_a_removed_user_is_invalid_grant(idp: RunningServer, flow: Flow) -> None:
    tokens = flow.tokens()
    assert requests.delete(idp.url + "/_mock/users/alice@example.com").status_code == 200
    assert_token_error(refresh(idp.url, tokens["refresh_token"]), "invalid_grant")


def test_runtime_user_with_custom_claims_gets_them_in_tokens(idp: RunningServer, flow: Flow) -> None:
    add_user(idp.url, email="carol@example.com", password="carol123", claims={"given_name": "Carol"},
             roles=["editor"], custom_attributes={"team": "blue"})
    body = flow.tokens(email="carol@example.com", password="carol123")
    claims = verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT")
    assert claims["given_name"] == "Carol"
    assert claims[AUTHGEAR + "roles"] == ["editor"]
    assert userinfo(idp.url, body["access_token"]).json()["custom_attributes"] == {"team": "blue"}


def test_codes_and_refresh_secrets_are_stored_hashed(idp: RunningServer, flow: Flow) -> None:
    """As Authgear stores them: what the store holds is not what went over the wire."""
    import hashlib

    code = code_for(flow)
    store = idp.ctx.store
    assert code not in store.codes
    assert hashlib.sha256(code.encode()).hexdigest() in store.codes
    refresh_token = assert_exchange_works(flow, code)["refresh_token"]
    grant_id, secret = refresh_token.split(".")
    held = store.grants[grant_id]
    assert held.refresh_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(held)


def test_empty_nonce_gives_no_nonce_claim(idp: RunningServer, flow: Flow) -> None:
    body = flow.tokens(nonce="")
    assert "nonce" not in verify_jwt(idp.url, body["id_token"], CLIENT_ID, "JWT")
