"""The mock's two profiles, protocol by protocol: `authgear` (the default: Authgear's behaviour,
quirks included) and `strict` (RFC 6749, RFC 7009 and RFC 9700 where Authgear is looser).

Each test sends the same requests to both, over real HTTP on loopback, and checks both
answers: what Authgear does, and what the RFC asks for (the README's "Profiles" table).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
import requests

from mock_idp import PROFILES, MockConflict, RunningServer, create_app, serve
from mock_idp.__main__ import main
from mock_idp.pytest_plugin import AuthgearMock
from tests.flow import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    Flow,
    add_client,
    advance_clock,
    basic_auth,
    callback,
    pkce_pair,
    refresh,
    userinfo,
)
from tests.test_mock_config import cli, run_cli, wait_for_discovery  # noqa: F401 (cli: a fixture)

SPA = "mock-spa"  # the demo's public client
CHALLENGE = 'Basic realm="mock_idp"'


class Mocks(NamedTuple):
    authgear: RunningServer
    strict: RunningServer


@pytest.fixture(scope="module")
def servers() -> Iterator[Mocks]:
    """One mock of each profile for the module (starting them per test is slow)."""
    with serve(port=0) as authgear, serve(port=0, profile="strict") as strict:
        yield Mocks(authgear, strict)


@pytest.fixture
def mocks(servers: Mocks) -> Mocks:
    """Both mocks, reset to their starting state."""
    for server in servers:
        requests.post(server.url + "/_mock/reset", timeout=10).raise_for_status()
    return servers


@pytest.fixture
def flows(mocks: Mocks) -> Iterator[dict[str, Flow]]:
    """A browser for each profile's mock, by profile name."""
    with requests.Session() as one, requests.Session() as two:
        yield {"authgear": Flow(mocks.authgear.url, one), "strict": Flow(mocks.strict.url, two)}


def each(flows: dict[str, Flow], request: Callable[[Flow], requests.Response]) -> dict[str, requests.Response]:
    """The same request to both profiles: their answers, by profile name."""
    return {name: request(flow) for name, flow in flows.items()}


def token_error(response: requests.Response) -> tuple[int, str, str]:
    """(status, error, error_description) of a token-endpoint error; checks the JSON body."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    return response.status_code, body["error"], body["error_description"]


def assert_authgears_client_error(response: requests.Response, error: str, description: str) -> None:
    assert token_error(response) == (400, error, description)
    assert "www-authenticate" not in response.headers


def assert_strict_client_error(response: requests.Response, description: str) -> None:
    """RFC 6749 §5.2: 401 invalid_client, with a WWW-Authenticate challenge."""
    assert token_error(response) == (401, "invalid_client", description)
    assert response.headers["www-authenticate"] == CHALLENGE


def tokens_of(flow: Flow, client_id: str = CLIENT_ID, **login: Any) -> dict[str, Any]:
    """A whole login with PKCE: the token endpoint's answer (with a refresh token)."""
    code = flow.login(client_id=client_id, **login)["code"]
    secret = CLIENT_SECRET if client_id == CLIENT_ID else None
    response = flow.exchange(code, client_id=client_id, client_secret=secret)
    assert response.status_code == 200, response.text
    return response.json()


def works(issuer: str, tokens: dict[str, Any], client_id: str = CLIENT_ID) -> tuple[int, int]:
    """(userinfo status with the access token, refresh status with the refresh token)."""
    secret = {"client_secret": CLIENT_SECRET} if client_id == CLIENT_ID else {}
    return (userinfo(issuer, tokens["access_token"]).status_code,
            refresh(issuer, tokens["refresh_token"], client_id, **secret).status_code)


def revoke(issuer: str, token: str, auth: str | None = None, **fields: str) -> requests.Response:
    headers = {"Authorization": auth} if auth else {}
    return requests.post(issuer + "/oauth2/revoke", data={"token": token, **fields}, headers=headers)


# -- which profile runs

def test_the_default_is_authgear_and_the_teaching_api_says_which_runs(mocks: Mocks) -> None:
    for server, name in ((mocks.authgear, "authgear"), (mocks.strict, "strict")):
        index = requests.get(server.url + "/_mock/").json()
        assert index["profile"] == name == server.ctx.profile.name
        assert index["profile_summary"] == PROFILES[name].summary
    assert "quirks" in PROFILES["authgear"].summary and "RFC 9700" in PROFILES["strict"].summary


def test_both_publish_the_same_discovery_document(mocks: Mocks) -> None:
    # A client cannot tell the profiles apart until it breaks a rule one of them enforces.
    documents = [requests.get(s.url + "/.well-known/openid-configuration").text.replace(s.url, "ISSUER")
                 for s in mocks]
    assert documents[0] == documents[1]


def test_an_unknown_profile_is_a_value_error_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="unknown profile 'lax': choose from authgear, strict"):
        serve(port=0, profile="lax")
    with pytest.raises(ValueError, match="unknown profile"):
        create_app("http://127.0.0.1:4999", profile="RFC")


def test_serve_on_a_port_with_the_other_profile_is_a_conflict() -> None:
    first = serve(port=0)
    try:
        with pytest.raises(MockConflict, match="with the authgear profile, not strict"):
            serve(port=first.port, profile="strict")
        assert serve(port=first.port) is first
        assert serve(port=first.port, profile="authgear") is first
    finally:
        first.stop()


# -- the authorization endpoint: PKCE

def test_a_public_client_without_pkce_is_refused_by_both(flows: dict[str, Flow]) -> None:
    # Authgear requires PKCE of public clients already: the same answer from both.
    answers = each(flows, lambda f: f.authorize(client_id=SPA, code_challenge=None, code_challenge_method=None))
    for name, answer in answers.items():
        params = callback(answer)
        assert answer.headers["location"].startswith(REDIRECT_URI + "?"), name
        assert params == {"error": "invalid_request",
                          "error_description": "PKCE code challenge is required for public clients",
                          "state": flows[name].last["state"]}, name


def test_a_confidential_client_without_pkce(flows: dict[str, Flow]) -> None:
    answers = each(flows, lambda f: f.authorize(code_challenge=None, code_challenge_method=None))
    # Authgear: PKCE is optional for a confidential client, so the browser goes on to the login page...
    assert answers["authgear"].status_code == 303
    assert answers["authgear"].headers["location"].startswith(flows["authgear"].issuer + "/login?")
    # ...strict (RFC 9700 §2.1.1): refused, as a redirect back with error and state (RFC 6749 §4.1.2.1).
    assert answers["strict"].headers["location"].startswith(REDIRECT_URI + "?")
    assert callback(answers["strict"]) == {"error": "invalid_request",
                                           "error_description": "PKCE code challenge is required for every client",
                                           "state": flows["strict"].last["state"]}
    # The Authgear login completes, and the code is redeemed without a verifier.
    flow = flows["authgear"]
    code = callback(flow.submit_login(answers["authgear"]))["code"]
    assert flow.exchange(code, code_verifier=None).status_code == 200


def test_strict_asks_every_client_for_the_verifier_before_looking_at_the_code(flows: dict[str, Flow]) -> None:
    codes = {name: flow.login()["code"] for name, flow in flows.items()}
    answers = {name: flow.exchange(codes[name], code_verifier=None) for name, flow in flows.items()}
    # Authgear: a confidential client's missing verifier fails the PKCE check, answered as a bad code.
    assert token_error(answers["authgear"]) == (400, "invalid_grant", "invalid authorization code")
    assert token_error(answers["strict"]) == (400, "invalid_request", "PKCE code verifier is required")
    for name, flow in flows.items():  # in both, the failed exchange kept the code
        assert flow.exchange(codes[name]).status_code == 200, name


def test_with_pkce_both_log_in_alike(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        tokens = tokens_of(flow)
        assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "id_token"}, name
        assert works(flow.issuer, tokens) == (200, 200), name


# -- the refresh grant: rotation and reuse detection

def test_refresh_rotates_only_in_strict(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        first = tokens_of(flow)
        answer = refresh(flow.issuer, first["refresh_token"], client_secret=CLIENT_SECRET)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if name == "authgear":
            assert "refresh_token" not in body  # no rotation: the old one keeps working
            assert refresh(flow.issuer, first["refresh_token"], client_secret=CLIENT_SECRET).status_code == 200
        else:
            assert body["refresh_token"] != first["refresh_token"]
            assert body["refresh_token"].split(".")[0] == first["refresh_token"].split(".")[0]  # same grant
            assert refresh(flow.issuer, body["refresh_token"], client_secret=CLIENT_SECRET).status_code == 200


def test_a_replayed_refresh_token_revokes_the_whole_grant_in_strict(flows: dict[str, Flow]) -> None:
    flow = flows["strict"]
    first = tokens_of(flow)
    second = refresh(flow.issuer, first["refresh_token"], client_secret=CLIENT_SECRET).json()
    third = refresh(flow.issuer, second["refresh_token"], client_secret=CLIENT_SECRET).json()
    assert userinfo(flow.issuer, third["access_token"]).status_code == 200
    # The first refresh token, rotated out two refreshes ago, comes back (an attacker's copy)...
    replay = refresh(flow.issuer, first["refresh_token"], client_secret=CLIENT_SECRET)
    assert token_error(replay) == (400, "invalid_grant", "invalid refresh token")
    # ...and the whole grant is revoked (RFC 9700 §4.14.2): the newest refresh token, every access token.
    newest = refresh(flow.issuer, third["refresh_token"], client_secret=CLIENT_SECRET)
    assert token_error(newest) == (400, "invalid_grant", "invalid refresh token")
    for tokens in (first, second, third):
        assert userinfo(flow.issuer, tokens["access_token"]).status_code == 401
    # Another login is another grant: untouched.
    assert works(flow.issuer, tokens_of(flow)) == (200, 200)


def test_authgears_rotation_has_no_reuse_detection(flows: dict[str, Flow]) -> None:
    # The same requests to Authgear with a client configured to rotate: the replay fails, and
    # the newest refresh token and the access tokens keep working.
    for name, flow in flows.items():
        add_client(flow.issuer, client_id="rotating", client_secret="s", redirect_uris=[REDIRECT_URI],
                   refresh_token_rotation=True)
        code = flow.login(client_id="rotating")["code"]
        first = flow.exchange(code, client_id="rotating", client_secret="s").json()
        second = refresh(flow.issuer, first["refresh_token"], "rotating", client_secret="s").json()
        replay = refresh(flow.issuer, first["refresh_token"], "rotating", client_secret="s")
        assert token_error(replay) == (400, "invalid_grant", "invalid refresh token"), name
        still = (userinfo(flow.issuer, second["access_token"]).status_code,
                 refresh(flow.issuer, second["refresh_token"], "rotating", client_secret="s").status_code)
        assert still == ((200, 200) if name == "authgear" else (401, 400)), name


def test_a_public_clients_refresh_token_rotates_and_its_replay_revokes_in_strict(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        first = tokens_of(flow, SPA)
        second = refresh(flow.issuer, first["refresh_token"], SPA).json()
        replay = refresh(flow.issuer, first["refresh_token"], SPA)
        if name == "authgear":
            assert "refresh_token" not in second and replay.status_code == 200
            assert works(flow.issuer, first, SPA) == (200, 200)
        else:
            assert token_error(replay) == (400, "invalid_grant", "invalid refresh token")
            assert token_error(refresh(flow.issuer, second["refresh_token"], SPA))[1] == "invalid_grant"
            assert userinfo(flow.issuer, second["access_token"]).status_code == 401


def test_a_refresh_token_reused_without_the_secret_revokes_nothing_in_strict(flows: dict[str, Flow]) -> None:
    # The client authenticates before the refresh token is looked at: no secret, no revocation.
    flow = flows["strict"]
    first = tokens_of(flow)
    second = refresh(flow.issuer, first["refresh_token"], client_secret=CLIENT_SECRET).json()
    assert_strict_client_error(refresh(flow.issuer, first["refresh_token"], client_secret="wrong"),
                               "invalid client secret")
    assert_strict_client_error(refresh(flow.issuer, first["refresh_token"]), "client secret is required")
    assert works(flow.issuer, second) == (200, 200)


# -- the authorization_code grant: a replayed code

def test_a_replayed_code(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        code = flow.login()["code"]
        first = flow.exchange(code)
        assert first.status_code == 200, first.text
        tokens = first.json()
        # The same request again: both refuse it, with the same answer...
        assert token_error(flow.exchange(code)) == (400, "invalid_grant", "invalid authorization code"), name
        # ...Authgear leaves what the first redemption issued working; strict revokes it
        # (RFC 6749 §4.1.2, §10.5): userinfo 401, the refresh token invalid_grant.
        status = works(flow.issuer, tokens)
        assert status == ((200, 200) if name == "authgear" else (401, 400)), name
        if name == "strict":
            again = refresh(flow.issuer, tokens["refresh_token"], client_secret=CLIENT_SECRET)
            assert token_error(again) == (400, "invalid_grant", "invalid refresh token")


def test_a_public_clients_replayed_code_revokes_in_strict(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        code = flow.login(client_id=SPA)["code"]
        tokens = flow.exchange(code, client_id=SPA, client_secret=None).json()
        replay = flow.exchange(code, client_id=SPA, client_secret=None)
        assert token_error(replay) == (400, "invalid_grant", "invalid authorization code"), name
        assert works(flow.issuer, tokens, SPA) == ((200, 200) if name == "authgear" else (401, 400)), name


def test_strict_revokes_nothing_for_a_replay_without_the_secret_or_after_the_code_expired(
        flows: dict[str, Flow]) -> None:
    flow = flows["strict"]
    code = flow.login()["code"]
    tokens = flow.exchange(code).json()
    # The client authenticates first: a replay by someone without the secret is refused as such.
    assert_strict_client_error(flow.exchange(code, client_secret="wrong"), "invalid client secret")
    assert_strict_client_error(flow.exchange(code, client_secret=None), "client secret is required")
    assert userinfo(flow.issuer, tokens["access_token"]).status_code == 200
    # Once the code would have expired (300 s), a replay is an unknown code, as in Authgear.
    advance_clock(flow.issuer, 301)
    assert token_error(flow.exchange(code)) == (400, "invalid_grant", "invalid authorization code")
    assert refresh(flow.issuer, tokens["refresh_token"], client_secret=CLIENT_SECRET).status_code == 200


# -- client authentication at the token endpoint

@pytest.mark.parametrize("how", ["client_secret_post", "client_secret_basic"])
def test_a_wrong_client_secret(flows: dict[str, Flow], how: str) -> None:
    def exchange(flow: Flow, code: str, secret: str) -> requests.Response:
        if how == "client_secret_post":
            return flow.exchange(code, client_secret=secret)
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                "code_verifier": flow.verifier}
        return requests.post(flow.issuer + "/oauth2/token", data=data,
                             headers={"Authorization": basic_auth(CLIENT_ID, secret)})

    for name, flow in flows.items():
        code = flow.login()["code"]
        answer = exchange(flow, code, "wrong")
        if name == "authgear":  # Authgear's quirk
            assert_authgears_client_error(answer, "invalid_request", "invalid client secret")
        else:  # RFC 6749 §5.2
            assert_strict_client_error(answer, "invalid client secret")
        assert exchange(flow, code, CLIENT_SECRET).status_code == 200, name  # the code was kept


def test_no_secret_and_an_unknown_client(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        code = flow.login()["code"]
        missing, unknown = flow.exchange(code, client_secret=None), flow.exchange(code, client_id="nobody")
        if name == "authgear":  # invalid_client, but 400
            assert_authgears_client_error(missing, "invalid_client", "client secret is required")
            assert_authgears_client_error(unknown, "invalid_client", "invalid client ID")
        else:
            assert_strict_client_error(missing, "client secret is required")
            assert_strict_client_error(unknown, "invalid client ID")


def test_strict_authenticates_the_client_before_the_code(flows: dict[str, Flow]) -> None:
    # Authgear checks the code first and the secret last (RFC 6749 §4.1.3: the client first).
    answers = each(flows, lambda f: f.exchange("no-such-code", client_secret="wrong"))
    assert token_error(answers["authgear"]) == (400, "invalid_grant", "invalid authorization code")
    assert_strict_client_error(answers["strict"], "invalid client secret")


# -- client authentication on the refresh grant

@pytest.mark.parametrize("secret", ["wrong", None])
def test_refresh_with_a_wrong_or_no_secret(flows: dict[str, Flow], secret: str | None) -> None:
    for name, flow in flows.items():
        tokens = tokens_of(flow)
        extra = {"client_secret": secret} if secret is not None else {}
        answer = refresh(flow.issuer, tokens["refresh_token"], **extra)
        if name == "authgear":  # Authgear does not check the secret on this grant
            assert answer.status_code == 200, answer.text
        else:  # RFC 6749 §6
            assert_strict_client_error(answer, "invalid client secret" if secret else "client secret is required")
            assert refresh(flow.issuer, tokens["refresh_token"], client_secret=CLIENT_SECRET).status_code == 200


def test_refresh_with_basic_authentication_works_in_both(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        tokens = tokens_of(flow)
        answer = requests.post(flow.issuer + "/oauth2/token",
                               data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                               headers={"Authorization": basic_auth(CLIENT_ID, CLIENT_SECRET)})
        assert answer.status_code == 200, (name, answer.text)


# -- revocation (RFC 7009)

@pytest.mark.parametrize("secret", ["wrong", None])
def test_revocation_by_a_confidential_client_with_a_wrong_or_no_secret(flows: dict[str, Flow],
                                                                       secret: str | None) -> None:
    for name, flow in flows.items():
        tokens = tokens_of(flow)
        fields = {"client_id": CLIENT_ID, **({"client_secret": secret} if secret is not None else {})}
        answer = revoke(flow.issuer, tokens["refresh_token"], **fields)
        if name == "authgear":  # 200 whatever it is sent, and the token is revoked
            assert (answer.status_code, answer.content) == (200, b"")
            assert works(flow.issuer, tokens) == (401, 400)
        else:  # RFC 7009 §2.1: the client authenticates first; nothing is revoked
            assert_strict_client_error(answer, "invalid client secret" if secret else "client secret is required")
            assert works(flow.issuer, tokens) == (200, 200)


def test_revocation_without_any_client(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        tokens = tokens_of(flow)
        answer = revoke(flow.issuer, tokens["access_token"])
        if name == "authgear":
            assert answer.status_code == 200 and userinfo(flow.issuer, tokens["access_token"]).status_code == 401
        else:
            assert_strict_client_error(answer, "invalid client ID")
            assert userinfo(flow.issuer, tokens["access_token"]).status_code == 200


def test_strict_revocation_by_the_authenticated_client(flows: dict[str, Flow]) -> None:
    flow = flows["strict"]
    # client_secret_post and client_secret_basic; a refresh token revokes its grant, as in Authgear.
    tokens = tokens_of(flow)
    answer = revoke(flow.issuer, tokens["refresh_token"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert (answer.status_code, answer.content) == (200, b"")
    assert works(flow.issuer, tokens) == (401, 400)
    tokens = tokens_of(flow)
    answer = revoke(flow.issuer, tokens["access_token"], basic_auth(CLIENT_ID, CLIENT_SECRET))
    assert (answer.status_code, answer.content) == (200, b"")
    assert userinfo(flow.issuer, tokens["access_token"]).status_code == 401
    # A public client names itself; an unknown token is still 200 (RFC 7009 §2.2).
    spa = tokens_of(flow, SPA)
    assert revoke(flow.issuer, spa["refresh_token"], client_id=SPA).status_code == 200
    assert works(flow.issuer, spa, SPA) == (401, 400)
    assert revoke(flow.issuer, "no-such-token", client_id=SPA).status_code == 200


def test_a_token_of_another_client(flows: dict[str, Flow]) -> None:
    for name, flow in flows.items():
        tokens = tokens_of(flow)
        answer = revoke(flow.issuer, tokens["refresh_token"], client_id=SPA)
        if name == "authgear":  # any caller revokes any token
            assert answer.status_code == 200 and works(flow.issuer, tokens) == (401, 400)
        else:  # RFC 7009 §2.1: only the client's own tokens
            assert token_error(answer) == (400, "unauthorized_client", "the token was issued to another client")
            assert works(flow.issuer, tokens) == (200, 200)


# -- starting a profile: the command line and the pytest plugin

def banner_of(process: subprocess.Popen) -> list[str]:
    lines = []
    while not lines or not lines[-1].startswith("  profile "):
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line, lines
        lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.parametrize("args, name", [((), "authgear"), (("--profile", "strict"), "strict")])
def test_the_command_line_says_which_profile_runs(cli: list, args: tuple[str, ...], name: str) -> None:
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", "0", *args))
    lines = banner_of(process)
    issuer = lines[0].split()[3]
    assert lines[-1] == f"  profile {name}: {PROFILES[name].summary} (choose with --profile authgear|strict)"
    wait_for_discovery(process, int(issuer.rsplit(":", 1)[1]))
    assert requests.get(issuer + "/_mock/", timeout=5).json()["profile"] == name
    # The difference shows on the wire: a wrong client secret.
    answer = requests.post(issuer + "/oauth2/token", data={"grant_type": "authorization_code", "code": "x",
                                                           "client_id": CLIENT_ID, "client_secret": "wrong"})
    assert answer.status_code == (400 if name == "authgear" else 401)


@pytest.mark.parametrize("argv", [["--profile", "lax"], ["--profile", "STRICT"], ["--profile"]])
def test_an_unknown_profile_is_a_clear_command_line_error(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--profile" in err and ("choose from 'authgear', 'strict'" in err or "expected one argument" in err)


@pytest.mark.parametrize("mode", ["--room", "--hosted"])
def test_room_and_hosted_mode_serve_authgear_only(mode: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main([mode, "--profile", "strict"])
    assert exited.value.code == 2
    assert "--room and --hosted serve the authgear profile" in capsys.readouterr().err


def test_the_plugins_factory_takes_a_profile(authgear_mock_factory: Callable[..., AuthgearMock]) -> None:
    default, strict = authgear_mock_factory(), authgear_mock_factory(profile="strict")
    assert (default.profile, strict.profile) == ("authgear", "strict")
    for mock in (default, strict):
        verifier, challenge = pkce_pair()
        url = mock.discovery["authorization_endpoint"] + "?" + requests.compat.urlencode({
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": "openid",
            "code_challenge": challenge, "code_challenge_method": "S256"})
        landed = mock.login(url, email="alice@example.com", password="alice123")
        answer = requests.post(mock.discovery["token_endpoint"], data={
            "grant_type": "authorization_code", "code": landed.params["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier, "client_id": CLIENT_ID, "client_secret": "wrong"})
        assert answer.status_code == (401 if mock.profile == "strict" else 400), answer.text
    with pytest.raises(ValueError, match="unknown profile"):
        authgear_mock_factory(profile="lax")


def test_a_refresh_token_of_another_client(flows: dict[str, Flow]) -> None:
    """Authgear answers invalid_request "client ID mismatch"; RFC 6749 §5.2 says a grant issued
    to another client is invalid_grant."""
    for name, flow in flows.items():
        tokens = tokens_of(flow)  # mock-client's
        answer = refresh(flow.issuer, tokens["refresh_token"], SPA)  # sent by the public client
        expected = "invalid_request" if name == "authgear" else "invalid_grant"
        assert token_error(answer) == (400, expected, "client ID mismatch")
