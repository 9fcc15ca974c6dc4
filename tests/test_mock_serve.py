"""Starting the mock: serve() from Python (one mock a port: the same one again, or a clear
error for another), and what `python -m mock_idp` prints, on loopback and beyond it.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mock_idp import MockConfig, RunningServer, serve
from mock_idp.__main__ import ADMIN_TOKEN_ENV, banner, main
from mock_idp.config import user_from_dict
from mock_idp.server import PROBE_TIMEOUT, ExposedMockWarning, MockConflict
from tests.test_mock_config import cli, run_cli, wait_for_discovery  # noqa: F401 (cli: a fixture)

CHOSEN = "instructor-chosen-token-1234"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> Iterator[int]:
    """A free port; whatever this process serves on it is stopped at the end."""
    chosen = free_port()
    yield chosen
    from mock_idp import server as server_module

    for (_, running_port), running in list(server_module._running.items()):
        if running_port == chosen:
            running.stop()


# -- serve(): one mock a port

def test_the_same_mock_again_is_the_running_one(port: int) -> None:
    first = serve(port=port)
    assert serve(port=port) is first
    assert serve(port=port, issuer=f"http://127.0.0.1:{port}/") is first
    assert serve(port=port, config=MockConfig.demo()) is first  # an equal config
    assert serve(port=port, admin_token=first.admin_token) is first
    assert requests.get(first.url + "/.well-known/openid-configuration").json()["issuer"] == first.url


def test_another_issuer_on_a_running_port_is_a_clear_error(port: int) -> None:
    running = serve(port=port)
    with pytest.raises(MockConflict) as raised:
        serve(host="localhost", port=port)
    message = str(raised.value)
    assert f"issuer http://127.0.0.1:{port} already runs on port {port}" in message
    assert f"not http://localhost:{port}" in message
    assert "idp.stop()" in message and "another port" in message
    with pytest.raises(MockConflict, match="https://idp.example.test"):
        serve(port=port, issuer="https://idp.example.test")
    assert isinstance(raised.value, RuntimeError)
    # Nothing changed: the running mock still answers with its own issuer.
    assert requests.get(running.url + "/.well-known/openid-configuration").json()["issuer"] == running.url


def test_another_config_or_admin_token_on_a_running_port_is_a_clear_error(port: int) -> None:
    running = serve(port=port)
    other = MockConfig.demo()
    other.users["carol@example.com"] = user_from_dict({"email": "carol@example.com", "password": "carol123"})
    with pytest.raises(MockConflict, match="another config"):
        serve(port=port, config=other)
    with pytest.raises(MockConflict, match="another admin token"):
        serve(port=port, admin_token=CHOSEN)
    # Changes made through the teaching API do not count: the config it started with does.
    requests.post(running.url + "/_mock/users", json={"email": "dave@example.com", "password": "dave123"})
    assert serve(port=port, config=MockConfig.demo()) is running


def test_a_stopped_mock_makes_way_and_reuse_false_replaces(port: int) -> None:
    serve(port=port).stop()
    other = serve(host="localhost", port=port)
    assert other.url == f"http://localhost:{port}"
    replaced = serve(host="localhost", port=port, issuer="https://idp.example.test", reuse=False)
    assert replaced is not other and replaced.url == "https://idp.example.test"
    doc = requests.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
    assert doc["issuer"] == "https://idp.example.test"


def test_serve_takes_the_admin_token(port: int) -> None:
    running = serve(port=port, admin_token=CHOSEN)
    assert running.admin_token == CHOSEN
    forwarded = {"X-Forwarded-For": "203.0.113.7"}  # counts as another machine
    assert requests.get(running.url + "/_mock/clock", headers=forwarded).status_code == 401
    answer = requests.get(running.url + "/_mock/clock", headers={**forwarded, "Authorization": f"Bearer {CHOSEN}"})
    assert answer.status_code == 200


def test_a_bad_admin_token_leaves_the_port_free(port: int) -> None:
    with pytest.raises(ValueError, match="admin token"):
        serve(port=port, admin_token="short")
    serve(port=port).stop()  # the socket was closed: the port is free again


# -- the banner

def test_the_loopback_banner_shows_the_demo_secrets() -> None:
    text = banner("http://localhost:4000", MockConfig.demo(), "localhost")
    assert text.splitlines()[0] == ("Mock Authgear at http://localhost:4000  "
                                    "(discovery: http://localhost:4000/.well-known/openid-configuration)")
    assert "client mock-client, secret mock-secret;" in text
    assert "user alice@example.com / alice123" in text and "user bob@example.com / bob123" in text
    assert "WARNING" not in text and "admin token" not in text


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "classroom.example"])
def test_beyond_loopback_the_banner_warns_and_shows_no_secret(host: str, tmp_path: Path) -> None:
    config = MockConfig.demo()
    text = banner("http://classroom.example:4000", config, host, tmp_path / "token.txt")
    assert f"WARNING: listening on {host}, so the mock is reachable from other machines" in text
    assert "teaching" in text
    for client in config.clients.values():
        assert f"client {client.client_id}" in text
        assert not client.client_secret or client.client_secret not in text
    for user in config.users.values():
        assert f"user {user.email}" in text and user.password not in text
    assert str(tmp_path / "token.txt") in text and "readable by you only" in text


def test_a_wildcard_issuer_is_pointed_out() -> None:
    text = banner("http://0.0.0.0:4000", MockConfig.demo(), "0.0.0.0", None)
    assert "is not an address other machines can use" in text and "--issuer" in text
    assert "--admin-token" in text  # None: the token was chosen, so the banner says where it came from


@pytest.fixture
def not_served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """main() up to serving: `run` records what it was given (and the token file as it was then)."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, sock: socket.socket) -> None:
        files = sorted(Path(tempfile.gettempdir()).glob(f"mock_idp-admin-token-{sock.getsockname()[1]}-*"))
        calls.append({"app": app, "address": sock.getsockname(), "files": [
            (f, stat.S_IMODE(f.stat().st_mode), f.read_text()) for f in files]})
        sock.close()

    monkeypatch.setattr("mock_idp.__main__.run", fake_run)
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    return calls


def test_main_beyond_loopback_writes_the_token_to_a_private_file(not_served: list, capsys: pytest.CaptureFixture) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0", "--issuer", "http://classroom.example:4000"]) == 0
    out, err = capsys.readouterr()
    [call] = not_served
    token = call["app"].state.guard.admin_token
    [(path, mode, content)] = call["files"]
    assert mode == 0o600 and content.strip() == token
    assert token not in out and token not in err
    assert "WARNING: listening on 0.0.0.0" in out and str(path) in out
    assert "mock-secret" not in out and "alice123" not in out and "alice@example.com" in out
    assert not path.exists()  # removed when the server stops


def test_main_beyond_loopback_with_a_chosen_token(not_served: list, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_TOKEN_ENV, CHOSEN)
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 0
    out, _ = capsys.readouterr()
    [call] = not_served
    assert call["app"].state.guard.admin_token == CHOSEN and call["files"] == []
    assert CHOSEN not in out and "given with --admin-token" in out
    # The flag wins over the environment.
    assert main(["--host", "0.0.0.0", "--port", "0", "--admin-token", CHOSEN[::-1]]) == 0
    assert not_served[1]["app"].state.guard.admin_token == CHOSEN[::-1]


def test_main_on_loopback_prints_as_before_and_writes_no_file(not_served: list, capsys: pytest.CaptureFixture) -> None:
    assert main(["--host", "127.0.0.1", "--port", "0"]) == 0
    out, _ = capsys.readouterr()
    [call] = not_served
    assert call["files"] == [] and call["address"][0] == "127.0.0.1"
    assert "secret mock-secret" in out and "alice123" in out and "WARNING" not in out


@pytest.mark.parametrize("token", ["short", "has spaces in it, sixteen+", "x" * 15])
def test_main_bad_admin_token_exits_2_with_one_line(not_served: list, capsys: pytest.CaptureFixture, token: str) -> None:
    assert main(["--host", "127.0.0.1", "--port", "0", "--admin-token", token]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not_served == []
    assert err.startswith("mock_idp: the admin token must be") and len(err.strip().splitlines()) == 1


def test_a_real_start_on_loopback_takes_the_token_from_the_environment(cli: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_TOKEN_ENV, CHOSEN)
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", "0"))
    printed = [process.stdout.readline() for _ in range(5)]  # type: ignore[union-attr]
    assert printed[0].startswith("Mock Authgear at http://127.0.0.1:"), printed
    assert "secret mock-secret" in printed[1] and "alice123" in printed[3]  # loopback: as before
    assert CHOSEN not in "".join(printed)
    issuer = printed[0].split()[3]
    wait_for_discovery(process, int(issuer.rsplit(":", 1)[1]))
    assert requests.get(issuer + "/_mock/clock", timeout=5).status_code == 200
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    assert requests.get(issuer + "/_mock/clock", headers=proxied, timeout=5).status_code == 401
    allowed = requests.get(issuer + "/_mock/clock", headers={**proxied, "Authorization": f"Bearer {CHOSEN}"}, timeout=5)
    assert allowed.status_code == 200


# -- serve() beyond loopback: the CLI's warning, no secret

def test_serve_beyond_loopback_warns_without_a_secret(capsys: pytest.CaptureFixture) -> None:
    with pytest.warns(ExposedMockWarning) as warned:
        running = serve(host="0.0.0.0", port=0)
    try:
        [warning] = warned.list
        message = str(warning.message)
        assert warning.filename == __file__  # points at the caller's serve(), not at the mock
        assert "listening on 0.0.0.0, so the mock is reachable from other machines" in message
        assert "for teaching only" in message and "idp.admin_token" in message
        assert "Authorization: Bearer <admin token>" in message
        assert f"The issuer {running.url} is not an address other machines can use" in message
        out, err = capsys.readouterr()
        for secret in (running.admin_token, "mock-secret", "alice123", "bob123"):
            assert secret not in message and secret not in out and secret not in err
    finally:
        running.stop()


def test_serve_beyond_loopback_with_an_issuer_does_not_point_at_it() -> None:
    with pytest.warns(ExposedMockWarning, match="reachable from other machines") as warned:
        running = serve(host="0.0.0.0", port=0, issuer="http://classroom.example:4000")
    running.stop()
    assert "is not an address other machines can use" not in str(warned.list[0].message)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2"])
def test_serve_on_loopback_does_not_warn(host: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        serve(host=host, port=0).stop()


# -- serve() on a port another process holds

def test_a_mock_in_another_process_is_a_mock_conflict_naming_both_issuers(cli: list) -> None:
    port = free_port()
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", str(port)))
    wait_for_discovery(process, port)
    with pytest.raises(MockConflict) as raised:
        serve(host="localhost", port=port)
    message = str(raised.value)
    assert f"a mock with issuer http://127.0.0.1:{port} already runs on port {port}" in message
    assert "another process" in message and f"not http://localhost:{port}" in message
    assert isinstance(raised.value.__cause__, OSError)
    with pytest.raises(MockConflict, match="https://idp.example.test"):
        serve(port=port, issuer="https://idp.example.test")
    # The same issuer, but not this process's: it cannot be handed back, so say to use it as it is.
    with pytest.raises(MockConflict, match="it is the issuer asked for"):
        serve(port=port)


def test_a_mock_under_another_issuer_in_another_process_is_recognised(cli: list) -> None:
    """Its teaching API refuses a Host that is not its issuer's: that refusal still says mock."""
    port = free_port()
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", str(port), "--issuer", "https://idp.example.test"))
    wait_for_discovery(process, port)
    with pytest.raises(MockConflict, match=f"issuer https://idp.example.test already runs on port {port}"):
        serve(port=port)


class NotAMock(http.server.BaseHTTPRequestHandler):
    """Another program on the port: with `discovery`, another authorization server."""

    discovery: dict | None = None

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        found = self.discovery is not None and "well-known" in self.path
        body = json.dumps(self.discovery).encode() if found else b"not here"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json" if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("discovery", [None, {"issuer": "https://login.example.org"}])
def test_something_else_on_the_port_is_still_an_os_error(discovery: dict | None) -> None:
    handler = type("Handler", (NotAMock,), {"discovery": discovery})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            with pytest.raises(OSError) as raised:
                serve(port=httpd.server_address[1])
            assert not isinstance(raised.value, MockConflict)
        finally:
            httpd.shutdown()
            thread.join(timeout=5)


def test_a_silent_program_on_the_port_is_an_os_error_within_the_probe_timeout() -> None:
    with socket.socket() as holder:  # listens, never answers
        holder.bind(("127.0.0.1", 0))
        holder.listen(8)
        began = time.monotonic()
        with pytest.raises(OSError):
            serve(port=holder.getsockname()[1])
    assert time.monotonic() - began < PROBE_TIMEOUT * 2 + 2
