"""Serving the app: in the foreground (`python -m walkthrough`) or in a background thread
(tests, notebooks), on a socket bound first so that a busy port fails loudly, at once.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    bind_host = "127.0.0.1" if host == "localhost" else host
    sock = socket.socket(socket.AF_INET6 if ":" in bind_host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bind_host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(app: ASGIApp, quiet: bool = True) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
                            log_level="critical" if quiet else "info", access_log=not quiet,
                            lifespan="off", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


class Running:
    """An app served from a background thread: `port`, `stop()`."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket) -> None:
        self.server = server
        self.thread = thread
        self.sock = sock

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


def serve_in_thread(app: ASGIApp, sock: socket.socket, timeout: float = 10.0) -> Running:
    server = uvicorn_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"walkthrough:{sock.getsockname()[1]}")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the walkthrough did not start")
        time.sleep(0.005)
    return Running(server, thread, sock)
