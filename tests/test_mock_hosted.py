"""The mock on a JupyterHub (mock_idp/hosted.py, kit/hosted.py), short of a hub.

- The mock as jupyter-server-proxy runs it (`python -m mock_idp --hosted`), over real HTTP on
  loopback: the kernel's view (the issuer, on loopback) and the browser's view (the requests
  jupyter-server-proxy brings, with the prefix it stripped in X-Forwarded-Context).
- The learner's own: a process of another Unix user is refused, for real (a child process
  that drops to `nobody`; the suite runs as root, as CI does).
- Through a real Jupyter server with jupyter-server-proxy at the base URL a hub gives
  (/user/alice/): the kit starts the mock through the proxy, prints links that go through the
  server, and catches the callback there. tests/test_hosted_hub.py does the same on a real
  JupyterHub with Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from mock_idp.browser import Browser
from mock_idp.hosted import HostedMock, HubView, server_proxy_config, state_file
from tests.flow import CLIENT_ID, CLIENT_SECRET, pkce_pair

BASE_URL = "/user/alice/"
HUB = {"Host": "hub.example.org", "X-Forwarded-Proto": "https", "X-Forwarded-Context": "/user/alice/mock",
       "X-Forwarded-For": "203.0.113.7", "Cookie": "jupyterhub-user-alice=HUBSECRET; _xsrf=2|abc"}
NOBODY = 65534


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float = 20.0, what: str = "the server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def hosted_mock(runtime: Path, base_url: str = BASE_URL) -> Iterator[tuple[HostedMock, subprocess.Popen]]:
    """`python -m mock_idp --hosted`, as jupyter-server-proxy starts it; yields what it wrote."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    process = subprocess.Popen([sys.executable, "-m", "mock_idp", "--hosted", "--port", str(free_port()),
                                "--base-url", base_url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        path = state_file_in(runtime, base_url)
        wait_for(lambda: (m := HostedMock.read_from(path)) is not None and m.pid == process.pid and answers(m.issuer),
                 what="the hosted mock")
        yield HostedMock.read_from(path), process
    finally:
        stop(process)


def state_file_in(runtime: Path, base_url: str) -> Path:
    old = os.environ.get("JUPYTER_RUNTIME_DIR")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
    try:
        return state_file(base_url)
    finally:
        if old is None:
            del os.environ["JUPYTER_RUNTIME_DIR"]
        else:
            os.environ["JUPYTER_RUNTIME_DIR"] = old


def answers(issuer: str) -> bool:
    try:
        return requests.get(issuer + "/.well-known/openid-configuration", timeout=2).json()["issuer"] == issuer
    except (requests.RequestException, ValueError, KeyError):
        return False


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[HostedMock]:
    with hosted_mock(tmp_path) as (running, _):
        yield running


@contextlib.contextmanager
def listening(port: int) -> Iterator[socket.socket]:
    """A socket of ours listening on loopback `port`, as the notebook's login cell does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        yield sock


def authorization_url(mock: HostedMock, state: str = "s-123") -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    query = urllib.parse.urlencode({
        "client_id": CLIENT_ID, "redirect_uri": mock.redirect_url, "response_type": "code",
        "scope": "openid offline_access", "state": state, "nonce": "n-456",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{mock.issuer}/oauth2/authorize?{query}", verifier


def test_the_proxy_entry_is_installed_and_starts_the_mock_as_the_hosted_one() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="jupyter_serverproxy_servers") if e.name == "mock"]
    config = entry.load()()
    assert config == server_proxy_config()
    assert config["command"][1:] == ["-m", "mock_idp", "--hosted", "--port", "{port}", "--base-url", "{base_url}"]
    assert config["absolute_url"] is False  # the proxy strips <server>/mock: the mock puts it back


def test_the_state_file_is_private_and_names_the_kernels_view(mock: HostedMock, tmp_path: Path) -> None:
    path = state_file_in(tmp_path, BASE_URL)
    assert path.stat().st_mode & 0o777 == 0o600
    assert mock.issuer.startswith("http://127.0.0.1:") and mock.base_url == BASE_URL
    assert mock.redirect_url == f"http://127.0.0.1:{mock.callback_port}/auth-redirect"
    metadata = requests.get(mock.issuer + "/.well-known/openid-configuration", timeout=5).json()
    # The kernel's view is an Authgear project's: one issuer, every endpoint under it.
    assert metadata["issuer"] == mock.issuer
    assert all(metadata[name].startswith(mock.issuer + "/") for name in
               ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"))
    clients = requests.get(mock.issuer + "/_mock/clients", timeout=5).json()
    demo = next(c for c in clients["clients"] if c["client_id"] == CLIENT_ID)
    assert mock.redirect_url in demo["redirect_uris"]  # the kernel's listener, registered for this learner
    assert f"http://127.0.0.1:{mock.callback_port}" in demo["post_logout_redirect_uris"]


def test_the_browser_logs_in_through_the_hub_and_the_kernel_redeems_the_code(mock: HostedMock) -> None:
    url, verifier = authorization_url(mock)
    first = requests.get(url, headers=HUB, allow_redirects=False, timeout=5)
    assert first.status_code == 303
    login_page = first.headers["location"]
    assert login_page.startswith("https://hub.example.org/user/alice/mock/login?login_request=")
    cookie = first.headers["set-cookie"]
    assert "Path=/user/alice/mock/" in cookie and "Secure" in cookie  # not sent to the rest of the hub

    # What the proxy sends on: the same path without the prefix, the same headers, the browser's
    # cookies for the hub (the hub's own and the mock's).
    login_request = urllib.parse.urlsplit(login_page)
    hub_cookies = {**dict(c.split("=", 1) for c in HUB["Cookie"].split("; ")),
                   "mock_idp_browser": cookie.split(";")[0].split("=", 1)[1]}
    headers = {**HUB, "Cookie": "; ".join(f"{k}={v}" for k, v in hub_cookies.items())}
    page = requests.get(f"{mock.issuer}/login?{login_request.query}", headers=headers, timeout=5)
    assert 'action="https://hub.example.org/user/alice/mock/login"' in page.text
    form = dict(urllib.parse.parse_qsl(login_request.query))
    with listening(mock.callback_port):  # the notebook's login cell, waiting
        posted = requests.post(f"{mock.issuer}/login", allow_redirects=False, timeout=5,
                               headers={**headers, "Origin": "https://hub.example.org"},
                               data={**form, "email": "alice@example.com", "password": "alice123", "action": "login"})
    assert posted.status_code == 303, posted.text
    landed = posted.headers["location"]
    # The kernel's listener on this machine, as the browser reaches it: through jupyter-server-proxy.
    assert landed.startswith(f"https://hub.example.org/user/alice/proxy/127.0.0.1:{mock.callback_port}/auth-redirect?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landed).query))
    assert query["state"] == "s-123"

    tokens = requests.post(mock.issuer + "/oauth2/token", timeout=5, data={
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": mock.redirect_url,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code_verifier": verifier}).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["iss"] == mock.issuer and claims["nonce"] == "n-456"

    # The hub's cookie never reached the mock, so its log cannot show it.
    log = json.dumps(requests.get(mock.issuer + "/_mock/exchanges", timeout=5).json())
    assert "jupyterhub-user-alice" not in log and "HUBSECRET" not in log and "_xsrf" not in log


def test_an_error_redirect_goes_through_the_hub_too(mock: HostedMock) -> None:
    url, _ = authorization_url(mock)
    with listening(mock.callback_port):
        answer = requests.get(url.replace("scope=openid", "scope=email"), headers=HUB, allow_redirects=False,
                              timeout=5)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(
        f"https://hub.example.org/user/alice/proxy/127.0.0.1:{mock.callback_port}/auth-redirect?error=invalid_scope")


@pytest.mark.parametrize("header, value", [
    ("X-Forwarded-Context", "/user/bob/mock"),  # not under this server
    ("X-Forwarded-Context", "/user/alice/mock/../../bob"),
    ("X-Forwarded-Context", "not a path"),
    ("X-Forwarded-Proto", "javascript"),
    ("Host", "hub.example.org/evil"),
])
def test_proxy_headers_that_make_no_sense_get_400(mock: HostedMock, header: str, value: str) -> None:
    url, _ = authorization_url(mock)
    answer = requests.get(url, headers={**HUB, header: value}, allow_redirects=False, timeout=5)
    assert answer.status_code == 400 and answer.text.startswith("Bad Request")


def test_the_teaching_api_does_not_answer_the_browser_through_the_hub(mock: HostedMock) -> None:
    answer = requests.post(mock.issuer + "/_mock/reset", headers=HUB, timeout=5)
    assert answer.status_code in (401, 403)
    assert requests.post(mock.issuer + "/_mock/reset", timeout=5).status_code == 200  # the kernel's own


def status_as_nobody(url: str) -> str:
    """The status line (and body) a process of another user gets for GET `url`: a forked child
    drops to `nobody` and speaks HTTP over a socket (no exec: the venv's python may not be
    readable by nobody)."""
    parts = urllib.parse.urlsplit(url)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        try:
            os.close(read_end)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
                sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            os.write(write_end, answer)
        except BaseException as exc:  # noqa: BLE001 - whatever happens, tell the parent
            os.write(write_end, f"child failed: {exc!r}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode("latin-1")
    os.waitpid(child, 0)
    return answer


def test_another_user_of_the_machine_cannot_reach_the_mock(mock: HostedMock) -> None:
    assert os.geteuid() == 0, "this test drops a child process to another user: run the suite as root (CI does)"
    answer = status_as_nobody(mock.issuer + "/.well-known/openid-configuration")
    assert answer.startswith("HTTP/1.1 403"), answer
    assert "another user" in answer
    assert requests.get(mock.issuer + "/.well-known/openid-configuration", timeout=5).status_code == 200


@contextlib.contextmanager
def nobody_listening(host: str, port: int, body: str = "") -> Iterator[None]:
    """A process of another Unix user (`nobody`) listening on `host`:`port`; with `body`, it
    answers every request with that JSON, as a mock would."""
    script = f"""
import os, socket, time
os.setgid({NOBODY}); os.setuid({NOBODY})
family = socket.AF_INET6 if ":" in {host!r} else socket.AF_INET
s = socket.socket(family); s.bind(({host!r}, {port})); s.listen(8)
print("listening", flush=True)
body = {body!r}.encode()
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body) + body)
    c.close()
"""
    squatter = subprocess.Popen(["/usr/bin/env", "-i", "/bin/sh", "-c", "exec \"$0\" -c \"$1\"",
                                 "/usr/bin/python3", script], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "listening"
        yield
    finally:
        squatter.kill()
        squatter.wait(5)


def test_the_browser_is_not_sent_to_a_port_another_user_holds(mock: HostedMock) -> None:
    """jupyter-server-proxy would hand the learner's browser, hub cookie and all, to whoever
    listens on the callback port: on a shared machine, when the notebook is not listening,
    that could be another learner's program. A redirect and a form_post page (whose form the
    browser posts at once, even for prompt=none with nobody logged in) alike."""
    assert os.geteuid() == 0, "this test drops a child process to another user: run the suite as root (CI does)"
    url, _ = authorization_url(mock)
    redirect = url.replace("scope=openid", "scope=email")  # an error redirect, at once
    form_post = url + "&prompt=none&response_mode=form_post"  # login_required, as a self-posting form

    def refused(answer: requests.Response) -> bool:
        return (answer.status_code == 409 and "location" not in answer.headers
                and "nothing of yours listens" in answer.text and "<form" not in answer.text)

    with nobody_listening("127.0.0.1", mock.callback_port):
        for attempt in (redirect, form_post):
            assert refused(requests.get(attempt, headers=HUB, allow_redirects=False, timeout=5))
    # Ours on 127.0.0.1 and another user's on ::1 (where "localhost" may lead): not sent there either.
    with listening(mock.callback_port), nobody_listening("::1", mock.callback_port):
        for attempt in (redirect, form_post):
            assert refused(requests.get(attempt, headers=HUB, allow_redirects=False, timeout=5))
    # Nobody at all on the port (the login cell not waiting): not sent there either.
    for attempt in (redirect, form_post):
        assert refused(requests.get(attempt, headers=HUB, allow_redirects=False, timeout=5))
    # Only ours: sent on, to 127.0.0.1 by name.
    with listening(mock.callback_port):
        page = requests.get(form_post, headers=HUB, allow_redirects=False, timeout=5)
    assert page.status_code == 200
    assert f'action="https://hub.example.org/user/alice/proxy/127.0.0.1:{mock.callback_port}/auth-redirect"' in page.text


def test_the_kernel_does_not_trust_a_mock_port_another_user_holds(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A mock killed before it removed its state file leaves its port to whoever binds it next:
    another user's program answering discovery with the same issuer is not the learner's mock."""
    assert os.geteuid() == 0, "this test drops a child process to another user: run the suite as root (CI does)"
    from kit import hosted

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    HostedMock(issuer, "http://127.0.0.1:1/auth-redirect", BASE_URL, 1).write_to(state_file(BASE_URL))
    server = hosted.HubServer(BASE_URL, "http://127.0.0.1:1/user/alice/", "t", "")
    with nobody_listening("127.0.0.1", port, body=json.dumps({"issuer": issuer})):
        assert answers(issuer)  # it does answer as the mock would
        with pytest.raises(hosted.HostedMockError):
            hosted.running_mock(server)
        # Nor when this kernel had used the mock on that port before it died: asked again each time.
        monkeypatch.setitem(hosted._KNOWN, BASE_URL, HostedMock.read(BASE_URL))
        with pytest.raises(hosted.HostedMockError):
            hosted.running_mock(server)


def test_absolute_links_with_the_hubs_public_address_and_https_behind_a_load_balancer(
        mock: HostedMock, monkeypatch: pytest.MonkeyPatch) -> None:
    # A TLS load balancer that adds no X-Forwarded-Proto: the page the browser came from says https.
    url, _ = authorization_url(mock)
    headers = {k: v for k, v in HUB.items() if k != "X-Forwarded-Proto"}
    answer = requests.get(url, headers={**headers, "Referer": "https://hub.example.org/user/alice/lab"},
                          allow_redirects=False, timeout=5)
    assert answer.headers["location"].startswith("https://hub.example.org/user/alice/mock/login?")
    # X-Forwarded-Host is not believed: the Host the browser sent is.
    forged = requests.get(url, headers={**HUB, "X-Forwarded-Host": "evil.example"}, allow_redirects=False, timeout=5)
    assert forged.headers["location"].startswith("https://hub.example.org/")
    # The kit's links: with the hub's public address, whole URLs.
    from kit import hosted

    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
    server = hosted.HubServer("/user/alice/", "http://127.0.0.1:1/user/alice/", "t", hosted.public_origin())
    assert hosted.browser_url(url, mock, server).startswith("https://hub.example.org/user/alice/mock/oauth2/authorize?")


def test_a_restarted_mock_keeps_the_callback_port(tmp_path: Path) -> None:
    with hosted_mock(tmp_path) as (first, _):
        pass
    assert not state_file_in(tmp_path, BASE_URL).exists()  # it leaves nothing behind
    # A new start (the proxy restarts a mock that died) keeps the redirect URI a kernel holds.
    HostedMock(first.issuer, first.redirect_url, first.base_url, 1).write_to(state_file_in(tmp_path, BASE_URL))
    with hosted_mock(tmp_path) as (second, _):
        assert second.redirect_url == first.redirect_url


def test_a_connection_whose_peer_is_unknown_is_refused() -> None:
    """uvicorn gives no `client` when the peer went before it could ask: not let through."""
    from starlette.responses import PlainTextResponse

    from mock_idp.hosted import SameUser

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    app = SameUser(PlainTextResponse("the app"))
    for client in (None, ("127.0.0.1", 1)):  # unknown; and a peer /proc/net/tcp does not show
        sent.clear()
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
                 "client": client, "server": ("127.0.0.1", 2)}
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 403, client
    sent.clear()
    asyncio.run(app({"type": "websocket", "path": "/", "headers": [], "client": None, "server": ("127.0.0.1", 2)},
                    receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_the_kits_links_are_the_mocks_mapping() -> None:
    view = HubView("http://127.0.0.1:5555", "", "/user/alice/mock", "/user/alice/")
    assert view.translate("http://127.0.0.1:5555/oauth2/authorize?x=1") == "/user/alice/mock/oauth2/authorize?x=1"
    assert view.translate("http://127.0.0.1:6666/auth-redirect?code=c") == "/user/alice/proxy/127.0.0.1:6666/auth-redirect?code=c"
    assert view.translate("http://localhost:6666/") == "/user/alice/proxy/127.0.0.1:6666/"
    assert view.translate("https://app.example.com/cb") == "https://app.example.com/cb"  # not this machine's
    assert view.translate("//evil.example/x") == "//evil.example/x"


# --- Through a real Jupyter server and its jupyter-server-proxy ----------------------------------

@pytest.fixture
def jupyter_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real Jupyter server at the base URL a hub would give (/user/alice/), with the kit's
    proxy entry; the environment a hub gives its kernels, in this process."""
    port, token = free_port(), "test-token-" + os.urandom(8).hex()
    runtime = tmp_path / "runtime"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTERHUB_SERVICE_PREFIX": BASE_URL}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.base_url={BASE_URL}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp_path}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server_url = f"http://127.0.0.1:{port}{BASE_URL}"

    def up() -> bool:
        try:
            return requests.get(server_url + "api/status", headers={"Authorization": f"token {token}"},
                                timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(up, 60, "the Jupyter server")
        for name, value in {"JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTERHUB_SERVICE_PREFIX": BASE_URL,
                            "JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_SERVICE_URL": server_url,
                            "KIT_ENV_FILE": "/dev/null"}.items():
            monkeypatch.setenv(name, value)
        for name in ("KIT_AUTOLOGIN", "KIT_PASTE_BACK", "KIT_HOSTED", "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_HOST",
                     "AUTHGEAR_ENDPOINT", "AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_REDIRECT_URL"):
            monkeypatch.delenv(name, raising=False)
        yield server_url
    finally:
        mock = HostedMock.read(BASE_URL) if "JUPYTER_RUNTIME_DIR" in os.environ else None
        stop(process)  # jupyter-server-proxy stops the mock it started
        if mock is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(mock.pid, signal.SIGTERM)


def test_the_kit_starts_the_mock_through_the_server_and_catches_the_callback(
        jupyter_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from kit import hosted
    from kit.notebook import connect, discover, login_in_browser

    settings = connect()  # no mock yet: the kit asks the proxy to start it
    mock = HostedMock.read(BASE_URL)
    assert mock is not None and settings.endpoint == mock.issuer and settings.redirect_url == mock.redirect_url
    said = capsys.readouterr().out
    assert f"your browser reaches it at {BASE_URL}mock/" in said
    metadata = discover(settings)
    assert metadata["issuer"] == settings.endpoint

    url, verifier = authorization_url(mock, state="through-the-server")
    login = login_in_browser(settings, url)
    link = next(line for line in capsys.readouterr().out.splitlines() if "/oauth2/authorize?" in line)
    assert link == hosted.for_browser(url, settings) and link.startswith(f"{BASE_URL}mock/oauth2/authorize?")

    # The browser: every request through the Jupyter server (its token standing in for the hub's cookie).
    origin = jupyter_server[: -len(BASE_URL)]
    session = requests.Session()
    session.headers["Authorization"] = "token " + os.environ["JUPYTERHUB_API_TOKEN"]
    back = f"{origin}{BASE_URL}proxy/127.0.0.1:{mock.callback_port}/auth-redirect"
    landed = Browser(session).login(origin + link, until=back, email="alice@example.com", password="alice123")
    got_it = session.get(landed.url, timeout=10)  # the last hop: the kernel's listener, through the proxy
    assert got_it.status_code == 200 and "Got it" in got_it.text
    caught = login.callback(timeout=10)
    assert caught.startswith(settings.redirect_url + "?")  # the registered redirect URI, with the answer
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(caught).query))["code"]
    tokens = requests.post(metadata["token_endpoint"], timeout=5, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": settings.redirect_url,
        "client_id": settings.client_id, "client_secret": settings.client_secret, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text


def test_a_mock_that_died_is_started_again_by_the_next_connect(jupyter_server: str) -> None:
    from kit.notebook import connect

    first = connect()
    mock = HostedMock.read(BASE_URL)
    os.kill(mock.pid, signal.SIGKILL)  # as if it crashed: jupyter-server-proxy starts it again
    again = connect()
    assert answers(again.endpoint)
    assert HostedMock.read(BASE_URL).pid != mock.pid
    assert again.redirect_url == first.redirect_url  # the listener's port, registered, kept


def test_form_post_goes_through_the_hub_too(mock: HostedMock) -> None:
    """response_mode=form_post: the page's form posts to the listener as the browser reaches it."""
    url, _ = authorization_url(mock)
    browser = requests.Session()
    first = browser.get(url + "&response_mode=form_post", headers=HUB, allow_redirects=False, timeout=5)
    login_request = urllib.parse.urlsplit(first.headers["location"]).query
    cookie = first.headers["set-cookie"].split(";")[0]
    headers = {**HUB, "Cookie": HUB["Cookie"] + "; " + cookie, "Origin": "https://hub.example.org"}
    form = dict(urllib.parse.parse_qsl(login_request))
    with listening(mock.callback_port):
        page = requests.post(f"{mock.issuer}/login", allow_redirects=False, timeout=5, headers=headers,
                             data={**form, "email": "alice@example.com", "password": "alice123", "action": "login"})
    assert page.status_code == 200, page.text
    assert f'action="https://hub.example.org/user/alice/proxy/127.0.0.1:{mock.callback_port}/auth-redirect"' in page.text


def test_a_named_server_has_a_mock_of_its_own(tmp_path: Path) -> None:
    """JupyterHub's named servers (/user/alice/second/): each server its own mock and state file."""
    with hosted_mock(tmp_path, "/user/alice/") as (first, _), hosted_mock(tmp_path, "/user/alice/second/") as (second, _):
        assert first.issuer != second.issuer and first.base_url != second.base_url
        assert state_file_in(tmp_path, "/user/alice/") != state_file_in(tmp_path, "/user/alice/second/")
        url, _ = authorization_url(second)
        answer = requests.get(url, headers={**HUB, "X-Forwarded-Context": "/user/alice/second/mock"},
                              allow_redirects=False, timeout=5)
        assert answer.headers["location"].startswith("https://hub.example.org/user/alice/second/mock/login?")
        # The first server's prefix is not under the second one's base URL: refused.
        wrong = requests.get(url, headers=HUB, allow_redirects=False, timeout=5)
        assert wrong.status_code == 400


def test_the_labs_vulnerable_apps_refuse_other_users_on_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a shared hub machine another learner's program must not reach the deliberately
    vulnerable tutorial app that notebook 10 runs in a kernel."""
    assert os.geteuid() == 0, "this test drops a child process to another user: run the suite as root (CI does)"
    from kit import lab
    from kit.settings import Settings
    from mock_idp import serve

    for name, value in {"JUPYTERHUB_SERVICE_PREFIX": BASE_URL, "JUPYTERHUB_API_TOKEN": "t",
                        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:9{BASE_URL}"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KIT_HOSTED", raising=False)
    with serve(host="127.0.0.1", port=0) as idp:
        apps = lab.start(Settings(idp.url, CLIENT_ID, CLIENT_SECRET, "http://localhost:3000/auth-redirect", is_mock=True))
        try:
            assert lab.welcome(lab.log_in(lab.browser(), apps.tutorial, "alice@example.com", "alice123"))
            port = apps.tutorial.rsplit(":", 1)[1]
            answer = status_as_nobody(f"http://127.0.0.1:{port}/")
            assert answer.startswith("HTTP/1.1 403"), answer and "another user" in answer
        finally:
            apps.stop()
