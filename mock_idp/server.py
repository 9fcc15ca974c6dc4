"""Serving the mock from Python: in a background thread, on a given or free port.

Follows shared/teaching-notes.md, "A web server inside a kernel": the socket is bound in
the calling thread (so a busy port fails loudly, here), uvicorn runs with its logging off
in a daemon thread, and running servers are kept in a registry so re-running a notebook
cell returns the one already running instead of failing on a busy port.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from .app import create_app
from .config import MockConfig
from .context import Context

_running: dict[tuple[str, int], "RunningServer"] = {}
_registry_lock = threading.Lock()


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


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket, bound here so that a busy port raises OSError in the caller."""
    bind_host = "127.0.0.1" if host == "localhost" else host
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP. With Nagle on, uvicorn's body write waits for the ACK of its header
    # write, which the client delays: every keep-alive request took 40+ ms instead of 1.
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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


def serve_app(app: ASGIApp, sock: socket.socket, url: str, timeout: float = 10.0) -> RunningServer:
    """Serves any ASGI app on a bound socket in a daemon thread; returns once it accepts connections.
    (The walkthrough, the notebooks' callback listener and their protected API use it too.)"""
    port = sock.getsockname()[1]
    # A browser's idle keep-alive connection must not hold up stop(): 2 s of grace at most.
    config = uvicorn.Config(app, log_config=None, log_level="critical", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
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


def serve(host: str = "127.0.0.1", port: int = 0, issuer: str | None = None,
          config: MockConfig | None = None, reuse: bool = True) -> RunningServer:
    """Starts the mock in a background thread and returns it once it answers.

    port=0 picks a free port. The issuer is the origin it is reached at (`http://host:port`)
    unless `issuer` says otherwise. With a fixed port and reuse=True, a mock this process
    already runs there is returned as it is (re-running a notebook cell is safe).
    """
    with _registry_lock:
        existing = _running.get((host, port)) if port else None
    if existing is not None:
        if reuse and existing.thread.is_alive():
            return existing
        existing.stop()
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    url = (issuer or origin(host, actual_port)).rstrip("/")
    running = serve_app(create_app(url, config), sock, url)
    with _registry_lock:
        _running[(host, actual_port)] = running
    return running
