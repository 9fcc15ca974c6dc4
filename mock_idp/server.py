"""Serving the mock from Python: in a background thread, on a given or free port.

Built to run inside a Jupyter kernel: the socket is bound in
the calling thread (so a busy port fails loudly, here), uvicorn runs with its logging off
in a daemon thread, and running servers are kept in a registry so re-running a notebook
cell returns the one already running instead of failing on a busy port.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from .app import create_app
from .config import MockConfig
from .context import Context
from .guard import is_loopback_host
from .profiles import DEFAULT, profile_named

_running: dict[tuple[str, int], "RunningServer"] = {}
_registry_lock = threading.Lock()


PROBE_TIMEOUT = 2.0  # seconds to ask what answers on a busy port
PROBE_LIMIT = 64 * 1024  # bytes of its discovery document read at most
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # every address: no one machine's


class MockConflict(RuntimeError):
    """serve() was asked for a port where a mock that differs already runs: one this process
    started, or one in another process (its discovery document names its issuer)."""


class ExposedMockWarning(UserWarning):
    """serve() listens where other machines can reach the mock (0.0.0.0, a LAN address)."""


class RunningServer:
    """A server running in this process: `url`, `app`, `ctx` (store, log), `stop()`."""

    def __init__(self, app: ASGIApp, url: str, sock: socket.socket, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.app = app
        self.url = url
        self.sock = sock
        self.server = server
        self.thread = thread

    @property
    def ctx(self) -> Context:
        return self.app.state.ctx

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def admin_token(self) -> str:
        """What other machines send to use the teaching API (`Authorization: Bearer ...`)."""
        return self.app.state.guard.admin_token

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()
        with _registry_lock:
            for key, running in list(_running.items()):
                if running is self:
                    del _running[key]

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningServer {self.url}>"


def bind_address(host: str) -> str:
    return "127.0.0.1" if host == "localhost" else host


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket, bound here so that a busy port raises OSError in the caller."""
    bind_host = bind_address(host)
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP. With Nagle on, uvicorn's body write waits for the ACK of its header
    # write, which the client delays: every keep-alive request took 40+ ms instead of 1.
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: SO_REUSEADDR there lets a second server take a busy port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:  # POSIX: rebind at once after a restart (TIME_WAIT), never onto a port someone listens on
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bind_host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def port_in_use(port: int) -> bool:
    """True if something on this machine accepts connections on `port` (IPv4 or IPv6 loopback)."""
    for host in ("127.0.0.1", "::1"):
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            continue
    return False


def origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_app(app: ASGIApp, sock: socket.socket, url: str, timeout: float = 10.0,
              proxy_headers: bool = True) -> RunningServer:
    """Serves any ASGI app on a bound socket in a daemon thread; returns once it accepts connections.
    (The walkthrough, the notebooks' callback listener and their protected API use it too.)
    `proxy_headers=False`: the request's client is the TCP peer, never what X-Forwarded-For says."""
    port = sock.getsockname()[1]
    # A browser's idle keep-alive connection must not hold up stop(): 2 s of grace at most.
    config = uvicorn.Config(app, log_config=None, log_level="critical", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2, proxy_headers=proxy_headers)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn:{port}")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the server on port {port} did not start")
        time.sleep(0.005)
    return RunningServer(app, url, sock, server, thread)


def conflict(existing: RunningServer, host: str, issuer: str | None, config: MockConfig | None,
             admin_token: str | None, profile: str = DEFAULT) -> str | None:
    """How the mock this process runs on a port differs from the one asked for, or None."""
    port = existing.port
    where = f"a mock with issuer {existing.url} already runs on port {port} in this process"
    fix = "stop it first (idp.stop(), or restart the kernel) or use another port"
    if issuer is not None and issuer != existing.url:
        return f"{where}, not {issuer}: {fix}"
    listening = existing.sock.getsockname()[0]
    if bind_address(host) != listening:
        return f"{where}, listening on {listening}, not {host}: {fix}"
    if config is not None and config != existing.ctx.store.initial_config:
        return f"{where}, started with another config: {fix}"
    if admin_token is not None and admin_token != existing.admin_token:
        return f"{where}, with another admin token: {fix}"
    if profile != existing.ctx.profile.name:
        return f"{where}, with the {existing.ctx.profile.name} profile, not {profile}: {fix}"
    return None


def probe(url: str) -> Any:
    """The JSON at `url` (error statuses included), or None when nothing answers it as JSON."""
    # No proxy: the question is about this machine's port, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        try:
            with opener.open(url, timeout=PROBE_TIMEOUT) as answer:
                return json.loads(answer.read(PROBE_LIMIT))
        except urllib.error.HTTPError as refused:  # the teaching API's 403 is JSON too
            with refused:
                return json.loads(refused.read(PROBE_LIMIT))
    except (OSError, ValueError, http.client.HTTPException):  # URLError is an OSError
        return None


def mock_answering(host: str, port: int) -> str | None:
    """The issuer of the mock that answers on loopback at `port`, or None: nothing answers, or
    what answers is not a mock. A mock's discovery document names its issuer, and its teaching
    API answers `/_mock/` with its index, or (a Host other than its issuer's) with a refusal
    that names the teaching API; another OpenID provider does neither."""
    base = origin("::1" if bind_address(host).strip("[]") == "::1" else "127.0.0.1", port)
    document = probe(base + "/.well-known/openid-configuration")
    issuer = document.get("issuer") if isinstance(document, dict) else None
    if not isinstance(issuer, str) or not issuer:
        return None
    index = probe(base + "/_mock/")
    if not isinstance(index, dict):
        return None
    if "endpoints" in index or "teaching API" in str(index.get("error_description")):
        return issuer
    return None


def shown(text: str, keep: int = 100) -> str:
    """Someone else's text, safe to put in a message: short and printable, else its repr."""
    return text if len(text) <= keep and text.isprintable() else repr(text[:keep])


def busy_port(exc: OSError, host: str, port: int, wanted: str) -> Exception:
    """What to raise when `port` cannot be bound: MockConflict if a mock answers there (one
    this process did not start with serve()), else the OSError itself (anything else holds
    the port: a program that is not HTTP, another authorization server)."""
    if not port or exc.errno != errno.EADDRINUSE:
        return exc
    theirs = mock_answering(host, port)
    if theirs is None:
        return exc
    fix = ("stop it (Ctrl-C where `python -m mock_idp` runs; idp.stop() or a kernel restart where a notebook "
           "started it) or use another port")
    where = f"a mock with issuer {shown(theirs)} already runs on port {port}, started by another process"
    if theirs.rstrip("/") == wanted:
        return MockConflict(f"{where}: it is the issuer asked for ({wanted}), so use it as it is instead of "
                            f"calling serve(), or {fix}")
    return MockConflict(f"{where}, not {wanted} (tokens name their issuer): {fix}")


def warn_exposed(host: str, url: str) -> None:
    """serve() beyond loopback: what the CLI's banner says, without the admin token."""
    message = (f"mock_idp.serve(): listening on {host or 'every address'}, so the mock is reachable from other "
               "machines. It is for teaching only: its users, passwords and signing key are demo data, not a real "
               "authorization server. Other machines use the teaching API (/_mock/) only with "
               "Authorization: Bearer <admin token>; the token is idp.admin_token (not shown here).")
    if (urllib.parse.urlsplit(url).hostname or "") in WILDCARD_HOSTS:
        message += (f" The issuer {url} is not an address other machines can use: pass "
                    "issuer='http://<this machine's name or address>:<port>'.")
    warnings.warn(message, ExposedMockWarning, stacklevel=3)


def serve(host: str = "127.0.0.1", port: int = 0, issuer: str | None = None,
          config: MockConfig | None = None, reuse: bool = True, admin_token: str | None = None,
          profile: str = DEFAULT) -> RunningServer:
    """Starts the mock in a background thread and returns it once it answers.

    port=0 picks a free port. The issuer is the origin it is reached at (`http://host:port`)
    unless `issuer` says otherwise. With a fixed port and reuse=True, a mock this process
    already runs there is returned as it is (re-running a notebook cell is safe), if it is
    the one asked for: the same issuer, and no config or an equal one. One that differs raises
    MockConflict instead of handing back a mock that is not the one asked for.
    `admin_token` (default: a random one, `.admin_token`) is what other machines send to use
    the teaching API. `profile`: "authgear" (the default: Authgear's behaviour, quirks
    included) or "strict" (the RFCs' where Authgear is looser; see mock_idp/profiles.py); a
    mock already running there with the other profile is a MockConflict, an unknown one a
    ValueError.

    A port held by another process raises MockConflict if a mock answers there (asked with a
    2 s timeout; both issuers are in the message), else the OSError of the bind.
    A host beyond loopback (0.0.0.0, a LAN address) warns (ExposedMockWarning) that other
    machines can reach the mock, as `python -m mock_idp` does.
    """
    profile = profile_named(profile).name  # an unknown one fails here, before anything starts
    wanted = (issuer or origin(host, port)).rstrip("/") if port else None
    with _registry_lock:
        existing = next((r for (_, p), r in _running.items() if port and p == port), None)
    if existing is not None:
        if reuse and existing.thread.is_alive():
            problem = conflict(existing, host, wanted, config, admin_token, profile)
            if problem is not None:
                raise MockConflict(problem)
            return existing
        existing.stop()
    try:
        sock = bind(host, port)
    except OSError as exc:
        problem = busy_port(exc, host, port, wanted or "")
        if problem is exc:
            raise
        raise problem from exc
    actual_port = sock.getsockname()[1]
    url = (issuer or origin(host, actual_port)).rstrip("/")
    try:
        app = create_app(url, config, admin_token=admin_token, profile=profile)
    except BaseException:
        sock.close()
        raise
    running = serve_app(app, sock, url)
    with _registry_lock:
        _running[(host, actual_port)] = running
    if not is_loopback_host(host):
        warn_exposed(host, url)
    return running
