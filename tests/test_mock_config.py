"""The config file (TOML or JSON) and the command line `python -m mock_idp`.

Bad configs are refused up front with ConfigError (from Python) or exit status 2 and a
one-line message (from the command line), never a traceback and never a server that fails later.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mock_idp import ConfigError, MockConfig, RunningServer, serve
from tests.flow import Flow, jwks, userinfo, verify_jwt

ROOT = Path(__file__).resolve().parents[1]

TOML = """
demo_data = true

[[clients]]
client_id = "toml-app"
client_secret = "toml-secret"
redirect_uris = ["http://localhost:5173/callback"]
post_logout_redirect_uris = ["http://localhost:5173/"]
refresh_token_rotation = true
access_token_lifetime = 600

[[users]]
email = "carol@example.com"
password = "carol123"
roles = ["editor"]
[users.claims]
given_name = "Carol"
birthdate = "1990-01-01"
[users.custom_attributes]
team = "blue"
"""

JSON_CONFIG = {
    "demo_data": False,
    "clients": [{"client_id": "json-app", "client_secret": "json-secret",
                 "redirect_uris": ["http://localhost:5173/callback"]}],
    "users": [{"email": "dan@example.com", "password": "dan123", "sub": "0f8fad5b-d9cb-469f-a165-70867728950e"}],
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def served() -> Iterator[list[RunningServer]]:
    """Servers a test starts with its own config; all stopped at the end."""
    running: list[RunningServer] = []
    yield running
    for server in running:
        server.stop()


def start(served: list[RunningServer], config: MockConfig) -> RunningServer:
    server = serve(port=0, config=config)
    served.append(server)
    return server


def login_tokens(server: RunningServer, client_id: str, secret: str, email: str, password: str) -> dict:
    with requests.Session() as browser:
        flow = Flow(server.url, browser)
        code = flow.login(email, password, client_id=client_id, redirect_uri="http://localhost:5173/callback")["code"]
        response = flow.exchange(code, client_id=client_id, client_secret=secret)
    assert response.status_code == 200, response.text
    return response.json()


def clients_of(server: RunningServer) -> set[str]:
    return {c["client_id"] for c in requests.get(server.url + "/_mock/clients").json()["clients"]}


def users_of(server: RunningServer) -> set[str]:
    return {u["email"] for u in requests.get(server.url + "/_mock/users").json()["users"]}


# -- the file

def test_toml_config_adds_clients_and_users_to_the_demo_data(tmp_path: Path, served: list) -> None:
    server = start(served, MockConfig.from_file(write(tmp_path, "mock.toml", TOML)))
    assert clients_of(server) == {"mock-client", "mock-spa", "toml-app"}
    assert users_of(server) == {"alice@example.com", "bob@example.com", "carol@example.com"}
    tokens = login_tokens(server, "toml-app", "toml-secret", "carol@example.com", "carol123")
    assert tokens["expires_in"] == 600
    claims = verify_jwt(server.url, tokens["id_token"], "toml-app", "JWT")
    assert claims["https://authgear.com/claims/user/roles"] == ["editor"]
    info = userinfo(server.url, tokens["access_token"]).json()
    assert info["given_name"] == "Carol" and info["birthdate"] == "1990-01-01"
    assert info["custom_attributes"] == {"team": "blue"}
    # refresh_token_rotation = true
    refreshed = requests.post(server.url + "/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "toml-app"}).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]


def test_json_config_with_demo_data_false(tmp_path: Path, served: list) -> None:
    server = start(served, MockConfig.from_file(write(tmp_path, "mock.json", json.dumps(JSON_CONFIG))))
    assert clients_of(server) == {"json-app"}
    assert users_of(server) == {"dan@example.com"}
    unknown = requests.get(server.url + "/oauth2/authorize", params={"client_id": "mock-client"}, allow_redirects=False)
    assert unknown.status_code == 400 and "unauthorized_client" in unknown.text
    tokens = login_tokens(server, "json-app", "json-secret", "dan@example.com", "dan123")
    assert userinfo(server.url, tokens["access_token"]).json()["sub"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
    # The login page gives no hint of demo users that are not there.
    with requests.Session() as browser:
        flow = Flow(server.url, browser)
        started = flow.authorize(client_id="json-app", redirect_uri="http://localhost:5173/callback")
        assert started.headers["location"].startswith(server.url + "/login?")
        page = browser.get(started.headers["location"]).text
    assert "alice@example.com" not in page


def test_a_config_client_replaces_the_demo_client_of_the_same_id(tmp_path: Path, served: list) -> None:
    config = {"clients": [{"client_id": "mock-client", "client_secret": "changed",
                           "redirect_uris": ["http://localhost:5173/callback"]}]}
    server = start(served, MockConfig.from_file(write(tmp_path, "mock.json", json.dumps(config))))
    login_tokens(server, "mock-client", "changed", "alice@example.com", "alice123")


def test_a_config_user_replaces_the_demo_user_of_the_same_email(tmp_path: Path) -> None:
    config = MockConfig.from_dict({"users": [{"email": "ALICE@example.com", "password": "other"}]})
    assert config.find_user("alice@example.com").password == "other"  # type: ignore[union-attr]
    assert len(config.users) == 2


ALICE_SUB = MockConfig.demo().users["alice@example.com"].sub


def test_a_config_user_may_not_take_a_demo_users_sub(tmp_path: Path) -> None:
    path = write(tmp_path, "mock.toml", f'[[users]]\nemail = "m@example.com"\npassword = "p"\nsub = "{ALICE_SUB}"')
    with pytest.raises(ConfigError, match=rf"^{path}: users\[0\]: sub '{ALICE_SUB}' is already the sub of "
                                          r"'alice@example.com'"):
        MockConfig.from_file(path)


def test_subs_are_checked_once_every_user_is_read(tmp_path: Path) -> None:
    """A user may take the sub of a demo user the file gives another sub, or of one without demo data."""
    config = MockConfig.from_dict({"users": [
        {"email": "carol@example.com", "password": "p", "sub": ALICE_SUB},
        {"email": "alice@example.com", "password": "p", "sub": "alice-2"},
        {"email": "bob@example.com", "password": "p", "sub": MockConfig.demo().users["bob@example.com"].sub},
    ]})
    assert config.user_by_sub(ALICE_SUB).email == "carol@example.com"  # type: ignore[union-attr]
    assert config.user_by_sub("alice-2").email == "alice@example.com"  # type: ignore[union-attr]
    alone = MockConfig.from_dict({"demo_data": False,
                                  "users": [{"email": "m@example.com", "password": "p", "sub": ALICE_SUB}]})
    assert [u.sub for u in alone.users.values()] == [ALICE_SUB]


def test_a_private_use_scheme_redirect_uri_is_taken_from_the_file(tmp_path: Path) -> None:
    """RFC 8252 §7.1: what a native app (Authgear's native SDKs) registers has no host."""
    config = MockConfig.from_file(write(tmp_path, "mock.toml", '[[clients]]\nclient_id = "native"\n'
                                        'redirect_uris = ["com.example.app:/oauth2redirect", "myapp://cb"]\n'
                                        'post_logout_redirect_uris = ["com.example.app:/bye"]'))
    assert config.clients["native"].redirect_uris == ["com.example.app:/oauth2redirect", "myapp://cb"]


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_signing_key_gives_the_same_jwks_every_start(tmp_path: Path, served: list) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "signing.pem").write_bytes(pem_of(key))
    # A relative path is read from the config file's folder.
    path = write(tmp_path, "mock.toml", 'signing_key = "keys/signing.pem"\n')
    first = start(served, MockConfig.from_file(path))
    second = start(served, MockConfig.from_file(path))
    assert jwks(first.url) == jwks(second.url)
    n = jwks(first.url)["keys"][0]["n"]
    expected = key.public_key().public_numbers().n
    assert int.from_bytes(__import__("base64").urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big") == expected
    # Tokens are signed with it: verify with the key we generated, not the JWKS.
    import jwt

    tokens = Flow(first.url, requests.Session()).tokens()
    claims = jwt.decode(tokens["id_token"], key.public_key(), algorithms=["RS256"], audience="mock-client")
    assert claims["iss"] == first.url


def test_without_a_signing_key_every_start_has_its_own_key(served: list) -> None:
    assert jwks(start(served, MockConfig.demo()).url) != jwks(start(served, MockConfig.demo()).url)


BAD_CONFIGS = [
    ("mock.toml", "clients = [", "cannot read"),
    ("mock.json", "{", "cannot read"),
    ("mock.json", "[]", "object"),
    ("mock.json", '"x"', "object"),
    ("mock.toml", 'colour = "blue"', "unknown config key"),
    ("mock.toml", "demo_data = \"no\"", "demo_data"),
    ("mock.toml", "clients = 5", "clients"),
    ("mock.toml", 'clients = "x"', "clients"),
    ("mock.json", '{"clients": {"client_id": "x"}}', "clients"),
    ("mock.toml", "users = 5", "users"),
    ("mock.json", '{"users": [5]}', "user"),
    ("mock.toml", '[[clients]]\nclient_id = "x"', "redirect_uris"),
    ("mock.toml", '[[clients]]\nredirect_uris = []', "client_id"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb"]\nsecret = "s"', "unknown client field"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb"]\naccess_token_lifetime = -5', "access_token_lifetime"),
    ("mock.toml", '[[users]]\nemail = "x@example.com"', "password"),
    ("mock.toml", '[[users]]\nemail = "x@example.com"\npassword = "p"\n[users.claims]\nbirthdate = 1990-01-01',
     "claims"),
    ("mock.toml", '[[users]]\nemail = "x@example.com"\npassword = "p"\n[users.custom_attributes]\nsince = 09:00:00',
     "custom_attributes"),
    ("mock.toml", 'signing_key = "missing.pem"', "signing_key"),
    ("mock.toml", "signing_key = 5", "signing_key"),
    ("mock.toml", 'signing_key = "not-a-key.pem"', "signing_key"),
    ("mock.toml", 'signing_key = "ec.pem"', "signing_key"),
    ("mock.toml", 'signing_key = "small.pem"', "signing_key"),
    # What the teaching API refuses, the file refuses too, naming which client or user and field.
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb#f"]',
     r"mock.toml: clients\[0\]: redirect_uris\[0\] must be an absolute URI without a fragment, with a host if "
     r"http\(s\) \(RFC 6749 section 3.1.2, RFC 8252 section 7.1\): 'http://localhost:3000/cb#f': it has a fragment"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = []',
     r"mock.toml: clients\[0\]: redirect_uris must hold at least one URI"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb", " JavaScript:alert(1)"]',
     r"clients\[0\]: redirect_uris\[1\] must be .*: a browser runs or reads a javascript: URI itself"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb"]\n'
     'post_logout_redirect_uris = ["data:text/html,bye"]',
     r"clients\[0\]: post_logout_redirect_uris\[0\] must be .*: a browser runs or reads a data: URI itself"),
    # Tokens name their user by sub alone: a second user with it would log in as the first.
    ("mock.toml", '[[users]]\nemail = "m@example.com"\npassword = "p"\nsub = "bfa12a2e-0000"\n'
     '[[users]]\nemail = "n@example.com"\npassword = "p"\nsub = "bfa12a2e-0000"',
     r"/mock.toml: users\[1\]: sub 'bfa12a2e-0000' is already the sub of 'm@example.com': each user needs "
     r"their own \(a token names its user by sub alone\)$"),
    ("mock.toml", '[[clients]]\nclient_id = "a"\nredirect_uris = ["http://a/cb"]\n[[clients]]\n'
     'client_id = "b"\nredirect_uris = ["http://b/cb"]\npost_logout_redirect_uris = ["/bye"]', r"clients\[1\]: post_logout_redirect_uris\[0\]"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb"]\nid_token_lifetime = 604800',
     r"clients\[0\]: id_token_lifetime must be a whole number of seconds from 1 to 86400"),
    ("mock.toml", '[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb"]\nrefresh_token_idle = 0', "refresh_token_idle"),
    ("mock.toml", '[[users]]\nemail = "x@example.com"\npassword = "p"\nupdated_at = 99999999999',
     r"users\[0\]: updated_at must be a whole number of seconds since 1970"),
    ("mock.toml", '[[users]]\nemail = "x@example.com"\npassword = "p"\nupdated_at = 1990-01-01', "updated_at"),
    ("mock.toml", '[[users]]\nemail = "x@example.com"\npassword = "p"\n[[users]]\nemail = "nobody"\npassword = "p"',
     r"users\[1\]: email must be an address"),
]


def bad_config(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / "not-a-key.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    (tmp_path / "ec.pem").write_bytes(pem_of(ec.generate_private_key(ec.SECP256R1())))
    (tmp_path / "small.pem").write_bytes(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    return write(tmp_path, name, text)


@pytest.mark.parametrize(("name", "text", "message"), BAD_CONFIGS)
def test_bad_config_is_a_config_error(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = bad_config(tmp_path, name, text)
    with pytest.raises(ConfigError, match=message):
        MockConfig.from_file(path)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        MockConfig.from_file(tmp_path / "nope.toml")
    with pytest.raises(ConfigError):
        MockConfig.from_file(tmp_path)  # a folder


def test_from_dict_rejects_what_a_file_would(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        MockConfig.from_dict({"clients": [{"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "client_secret": 5}]})
    with pytest.raises(ConfigError):
        MockConfig.from_dict(None)


def test_claims_nested_too_deep_are_refused_before_anything_is_stored() -> None:
    deep: dict = {}
    for _ in range(600):
        deep = {"a": deep}
    with pytest.raises(ConfigError, match="nests deeper"):
        MockConfig.from_dict({"users": [{"email": "d@example.com", "password": "p", "custom_attributes": deep}]})


def test_claims_nested_too_deep_at_the_teaching_api_are_400_and_not_stored(idp: RunningServer) -> None:
    deep: dict = {}
    for _ in range(600):
        deep = {"a": deep}
    answer = requests.post(idp.url + "/_mock/users",
                           json={"email": "d@example.com", "password": "p", "custom_attributes": deep})
    assert answer.status_code == 400 and "nests deeper" in answer.json()["error_description"]
    users = requests.get(idp.url + "/_mock/users")
    assert users.status_code == 200
    assert "d@example.com" not in [u["email"] for u in users.json()["users"]]


# -- the command line

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "mock_idp", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def cli() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; each stopped (by its own handle) at the end."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def wait_for_discovery(process: subprocess.Popen, port: int) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            response = requests.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=1)
            return response.json()
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("the mock did not answer discovery")


def test_cli_serves_with_the_origin_as_issuer_and_the_config(tmp_path: Path, cli: list) -> None:
    port = free_port()
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", str(port), "--config",
                                  str(write(tmp_path, "mock.toml", TOML))))
    doc = wait_for_discovery(process, port)
    issuer = f"http://127.0.0.1:{port}"
    assert doc["issuer"] == issuer
    assert doc["token_endpoint"] == issuer + "/oauth2/token"
    clients = {c["client_id"] for c in requests.get(issuer + "/_mock/clients").json()["clients"]}
    assert "toml-app" in clients
    with requests.Session() as browser:
        tokens = Flow(issuer, browser).tokens(email="carol@example.com", password="carol123")
    assert verify_jwt(issuer, tokens["id_token"], "mock-client", "JWT")["iss"] == issuer


def test_cli_issuer_override(cli: list) -> None:
    port = free_port()
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", str(port), "--issuer", "https://idp.example.test/"))
    doc = wait_for_discovery(process, port)
    assert doc["issuer"] == "https://idp.example.test"
    assert doc["jwks_uri"] == "https://idp.example.test/oauth2/jwks"


def test_cli_bad_config_exits_2_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    # One real process (the others below call the same main() in this process: quicker).
    path = bad_config(tmp_path, "mock.toml", "clients = 5")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mock_idp", "--host", "127.0.0.1", "--port", str(free_port()),
                           "--config", str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("mock_idp: ") and "clients" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


@pytest.mark.parametrize(("name", "text"), [
    ("mock.toml", "clients = ["),
    ("mock.toml", 'signing_key = "not-a-key.pem"'),
    ("mock.toml", 'signing_key = "small.pem"'),
    ("mock.json", '{"users": [{"email": "x@example.com"}]}'),
    ("mock.json", '{"clients": [{"client_id": "x", "redirect_uris": ["http://localhost:3000/cb"], "client_secret": 5}]}'),
])
def test_cli_main_bad_config_returns_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     name: str, text: str) -> None:
    from mock_idp.__main__ import main

    path = bad_config(tmp_path, name, text)
    assert main(["--host", "127.0.0.1", "--port", str(free_port()), "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("mock_idp: ") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("text", "field"), [
    ('[[clients]]\nclient_id = "x"\nredirect_uris = ["http://localhost:3000/cb#\\n\\u001b[31mred"]',
     "clients[0]: redirect_uris[0]"),
    ('[[users]]\nemail = "line\\nbreak@example.com"\npassword = "p"', "users[0]: email"),
    ('"colour\\nof the sky" = "blue"', "unknown config key(s): 'colour<U+000A>of the sky'"),
])
def test_cli_main_names_the_field_on_one_line_with_what_was_sent_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture, text: str, field: str) -> None:
    from mock_idp.__main__ import main

    path = write(tmp_path, "mock.toml", text)
    assert main(["--host", "127.0.0.1", "--port", str(free_port()), "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"mock_idp: {path}: ")
    assert field in err and len(err.strip().splitlines()) == 1 and "\x1b" not in err


def test_cli_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mock_idp.__main__ import main

    assert main(["--port", str(free_port()), "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_cli_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "mock_idp", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert done.stderr.startswith("mock_idp: cannot listen on 127.0.0.1:") and "Traceback" not in done.stderr
    assert "Mock Authgear at" not in done.stdout  # no banner for a server that never ran


def test_cli_port_0_gives_the_chosen_port_as_issuer(cli: list) -> None:
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", "0"))
    banner = process.stdout.readline()  # type: ignore[union-attr]
    assert banner.startswith("Mock Authgear at http://127.0.0.1:"), banner
    issuer = banner.split()[3]
    port = int(issuer.rsplit(":", 1)[1])
    assert port != 0
    assert wait_for_discovery(process, port)["issuer"] == issuer
