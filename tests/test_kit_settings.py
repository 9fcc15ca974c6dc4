"""Which provider the kit uses: the tutorial's four variables, from .env or the environment."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.settings import MOCK_ENDPOINT, SettingsError, ensure_mock, load_settings, mock_answers
from tests.test_mock_config import cli, free_port, run_cli, wait_for_discovery  # noqa: F401 (cli: a fixture)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_ENDPOINT", "AUTHGEAR_REDIRECT_URL", "KIT_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_no_env_file_means_the_bundled_mock(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.env")
    assert settings.is_mock
    assert (settings.endpoint, settings.client_id, settings.client_secret) == (MOCK_ENDPOINT, "mock-client", "mock-secret")
    assert settings.redirect_url == "http://localhost:3000/auth-redirect"


def test_a_filled_in_env_names_the_project(tmp_path: Path) -> None:
    path = write_env(tmp_path, "AUTHGEAR_CLIENT_ID=3f9a1c2b4d5e6f70\nAUTHGEAR_CLIENT_SECRET=s3cret\n"
                               "AUTHGEAR_ENDPOINT=https://demo.authgear.cloud/\nAUTHGEAR_REDIRECT_URL=http://localhost:3000/auth-redirect\n")
    settings = load_settings(path)
    assert not settings.is_mock
    assert settings.endpoint == "https://demo.authgear.cloud"  # the issuer has no trailing slash
    assert (settings.client_id, settings.client_secret) == ("3f9a1c2b4d5e6f70", "s3cret")


def test_the_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_env(tmp_path, "AUTHGEAR_CLIENT_ID=from-file\nAUTHGEAR_CLIENT_SECRET=x\nAUTHGEAR_ENDPOINT=https://a.authgear.cloud\n")
    monkeypatch.setenv("AUTHGEAR_CLIENT_ID", "from-env")
    assert load_settings(path).client_id == "from-env"


def test_kit_env_file_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_env(tmp_path, "AUTHGEAR_CLIENT_ID=x\nAUTHGEAR_CLIENT_SECRET=y\nAUTHGEAR_ENDPOINT=http://127.0.0.1:4011\n")
    monkeypatch.setenv("KIT_ENV_FILE", str(path))
    assert load_settings().endpoint == "http://127.0.0.1:4011"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (Path(__file__).parent.parent.joinpath(".env.example").read_text(), "placeholder"),
        ("AUTHGEAR_CLIENT_ID=abc\nAUTHGEAR_CLIENT_SECRET=def\n", "AUTHGEAR_ENDPOINT is not"),
        ("AUTHGEAR_ENDPOINT=demo.authgear.cloud\nAUTHGEAR_CLIENT_ID=a\nAUTHGEAR_CLIENT_SECRET=b\n", "https://"),
        ("AUTHGEAR_ENDPOINT=https://demo.authgear.cloud\n", "AUTHGEAR_CLIENT_ID, AUTHGEAR_CLIENT_SECRET missing"),
    ],
)
def test_a_half_filled_env_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(write_env(tmp_path, text))


def test_mock_answers_only_for_a_mock_with_that_issuer(idp) -> None:
    assert mock_answers(idp.url)
    assert not mock_answers(idp.url.replace("127.0.0.1", "localhost"))  # another issuer
    assert not mock_answers("http://127.0.0.1:9")  # nothing there


# -- ensure_mock: use the mock at the endpoint, start one, or say what holds the port

def test_ensure_mock_uses_the_mock_already_there(idp) -> None:
    assert ensure_mock(idp.url) is None


def test_ensure_mock_starts_one_on_a_free_port() -> None:
    port = free_port()
    started = ensure_mock(f"http://localhost:{port}")
    try:
        assert started is not None and started.url == f"http://localhost:{port}"
        assert mock_answers(f"http://localhost:{port}")
        assert ensure_mock(f"http://localhost:{port}") is None
    finally:
        started.stop()


def test_a_mock_with_another_issuer_in_this_process_is_named(idp) -> None:
    expected = idp.url.replace("127.0.0.1", "localhost")
    with pytest.raises(RuntimeError) as raised:
        ensure_mock(expected)
    message = str(raised.value)
    assert message.startswith(f"A mock already runs on port {idp.port}, but its issuer is {idp.url}, not {expected}")
    assert "idp.stop()" in message and f"python -m mock_idp --host localhost --port {idp.port}" in message
    assert "not the mock" not in message


def test_a_mock_with_another_issuer_in_another_process_is_named(cli: list) -> None:
    port = free_port()
    cli.append(process := run_cli("--host", "127.0.0.1", "--port", str(port)))
    wait_for_discovery(process, port)
    with pytest.raises(RuntimeError) as raised:
        ensure_mock(f"http://localhost:{port}")
    assert str(raised.value).startswith(
        f"A mock already runs on port {port}, but its issuer is http://127.0.0.1:{port}, not http://localhost:{port}")


class Answers(http.server.BaseHTTPRequestHandler):
    """Another program on the port: with `discovery`, another authorization server."""

    discovery: dict | None = None

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = json.dumps(self.discovery).encode() if self.discovery and "well-known" in self.path else b"nope"
        self.send_response(200 if body != b"nope" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_program() -> Iterator[tuple[int, type[Answers]]]:
    handler = type("Handler", (Answers,), {})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield httpd.server_address[1], handler
        httpd.shutdown()
        thread.join(timeout=5)


def test_a_program_that_is_not_a_mock_is_said_to_be_one(other_program: tuple[int, type[Answers]]) -> None:
    port, _ = other_program
    with pytest.raises(RuntimeError, match=f"Port {port} is taken by something that is not the mock"):
        ensure_mock(f"http://localhost:{port}")


def test_another_authorization_server_is_not_called_a_mock(other_program: tuple[int, type[Answers]]) -> None:
    port, handler = other_program
    handler.discovery = {"issuer": "https://login.example.org"}
    with pytest.raises(RuntimeError) as raised:
        ensure_mock(f"http://localhost:{port}")
    message = str(raised.value)
    assert message.startswith(f"Port {port} is taken by another authorization server "
                              "(its issuer is https://login.example.org), not the mock")
    assert "A mock already runs" not in message
