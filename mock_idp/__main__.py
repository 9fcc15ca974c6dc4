"""python -m mock_idp [--host H] [--port P] [--issuer URL] [--config FILE]"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from .app import create_app
from .config import ConfigError, MockConfig
from .server import bind, origin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_idp", description="A mock Authgear authorization server.")
    parser.add_argument("--host", default="localhost", help="address to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=4000, help="port (default: 4000)")
    parser.add_argument("--issuer", help="issuer URL if not http://HOST:PORT (behind a proxy)")
    parser.add_argument("--config", help="a TOML or JSON file of clients and users (see README)")
    args = parser.parse_args(argv)
    try:
        config = MockConfig.from_file(args.config) if args.config else MockConfig.demo()
    except ConfigError as exc:
        print(f"mock_idp: {exc}", file=sys.stderr)
        return 2
    try:
        # Bound before anything is printed: a busy port is one clear line, not a banner then an
        # error; and --port 0 gives the issuer the port actually chosen.
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"mock_idp: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        issuer = (args.issuer or origin(args.host, sock.getsockname()[1])).rstrip("/")
        app = create_app(issuer, config)
    except (ConfigError, ValueError) as exc:
        sock.close()
        print(f"mock_idp: {exc}", file=sys.stderr)
        return 2
    print(f"Mock Authgear at {issuer}  (discovery: {issuer}/.well-known/openid-configuration)")
    for client in config.clients.values():
        secret = f", secret {client.client_secret}" if client.client_secret else " (public)"
        print(f"  client {client.client_id}{secret}; redirect URIs {', '.join(client.redirect_uris)}")
    for user in config.users.values():
        print(f"  user {user.email} / {user.password}")
    sys.stdout.flush()
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
