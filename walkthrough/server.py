"""Serving the app: in the foreground (`python -m walkthrough`) or in a background thread
(tests), on a socket bound first so that a busy port fails loudly, at once.

Binding and the background thread are the kit's one implementation, in mock_idp.server.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from mock_idp.server import RunningServer as Running
from mock_idp.server import bind, origin, serve_app

__all__ = ["Running", "bind", "serve_in_thread", "uvicorn_server"]


def uvicorn_server(app: ASGIApp, quiet: bool = True) -> uvicorn.Server:
    """A server for the foreground: with quiet=False it logs each request, for the terminal."""
    config = uvicorn.Config(app, log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
                            log_level="critical" if quiet else "info", access_log=not quiet,
                            lifespan="off", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve_in_thread(app: ASGIApp, sock: socket.socket, timeout: float = 10.0) -> Running:
    host, port = sock.getsockname()[:2]
    return serve_app(app, sock, origin(host, port), timeout)
