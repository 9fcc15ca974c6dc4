"""python -m mock_idp [--host H] [--port P] [--issuer URL] [--config FILE] [--admin-token TOKEN]
                     [--profile {authgear,strict}]

On a JupyterHub jupyter-server-proxy runs `python -m mock_idp --hosted --port P --base-url /user/NAME/`
(mock_idp/hosted.py)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import urllib.parse
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from . import hosted
from .app import create_app
from .config import ConfigError, MockConfig
from .guard import check_admin_token, is_loopback_host, new_admin_token
from .hosted import normalise_base_url
from .profiles import DEFAULT, PROFILES, Profile
from .server import bind, origin

ADMIN_TOKEN_ENV = "MOCK_IDP_ADMIN_TOKEN"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})  # every address: no one machine's


def write_private(token: str, port: int) -> Path:
    """The admin token in a new file only this user may read (0600), for a shared screen."""
    fd, name = tempfile.mkstemp(prefix=f"mock_idp-admin-token-{port}-", suffix=".txt")  # mode 0600, O_EXCL
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return Path(name)


def banner(issuer: str, config: MockConfig, host: str, token_file: Path | None = None,
           profile: Profile = PROFILES[DEFAULT]) -> str:
    """What the command line prints once it listens.

    On loopback (the learner's own laptop) the demo secrets and passwords are shown: they are
    in the README anyway. Listening where other machines reach it (--host 0.0.0.0, a LAN
    address) the screen may be a projector: a warning, ids and emails only, and where the
    admin token is (`token_file`) instead of the token itself (None: it was given with
    --admin-token or MOCK_IDP_ADMIN_TOKEN).
    """
    lines = [f"Mock Authgear at {issuer}  (discovery: {issuer}/.well-known/openid-configuration)"]
    exposed = not is_loopback_host(host)
    if exposed:
        lines += [
            f"WARNING: listening on {host}, so the mock is reachable from other machines. It is for teaching",
            "  only: its users, passwords and signing key are demo data, not a real authorization server.",
            "  Client secrets and passwords are not shown here; they are in your config file (or the README).",
        ]
        issuer_host = urllib.parse.urlsplit(issuer).hostname or ""
        if issuer_host in WILDCARD_HOSTS:
            lines.append(f"  The issuer {issuer} is not an address other machines can use: start it with "
                         "--issuer http://<this machine's name or address>:<port>.")
    for client in config.clients.values():
        if exposed:
            kind = " (confidential)" if client.client_secret else " (public)"
        else:
            kind = f", secret {client.client_secret}" if client.client_secret else " (public)"
        lines.append(f"  client {client.client_id}{kind}; redirect URIs {', '.join(client.redirect_uris)}")
    for user in config.users.values():
        lines.append(f"  user {user.email}" if exposed else f"  user {user.email} / {user.password}")
    lines.append(f"  profile {profile.name}: {profile.summary} (choose with --profile {'|'.join(PROFILES)})")
    if exposed:
        where = (f"is in {token_file} (readable by you only: cat {token_file})" if token_file
                 else f"is the one given with --admin-token or {ADMIN_TOKEN_ENV}")
        lines += [
            "  The teaching API (/_mock/) answers other machines only with Authorization: Bearer <admin token>;",
            f"  the admin token {where}.",
        ]
    return "\n".join(lines)


def run(app: ASGIApp, sock: socket.socket) -> None:
    """Serves until Ctrl-C (the tests replace it to check what comes before)."""
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    except KeyboardInterrupt:  # a second Ctrl-C while a browser still holds a connection open: no traceback
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_idp", description="A mock Authgear authorization server.")
    parser.add_argument("--host", default="localhost",
                        help="address to listen on (default: localhost; 0.0.0.0 lets other machines in)")
    parser.add_argument("--port", type=int, default=4000, help="port (default: 4000)")
    parser.add_argument("--issuer", help="issuer URL if not http://HOST:PORT (behind a proxy)")
    parser.add_argument("--config", help="a TOML or JSON file of clients and users (see README)")
    parser.add_argument("--admin-token", default=os.environ.get(ADMIN_TOKEN_ENV) or None,
                        help="what other machines send to use the teaching API (Authorization: Bearer ...); "
                             f"default: ${ADMIN_TOKEN_ENV}, else a random one")
    parser.add_argument("--hosted", action="store_true",
                        help="the learner's own mock beside a Jupyter server, reached through a JupyterHub at "
                             "<base-url>mock/ (jupyter-server-proxy starts it so; see README)")
    parser.add_argument("--base-url", default=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"),
                        help="with --hosted: the Jupyter server's base URL (default: $JUPYTERHUB_SERVICE_PREFIX, else /)")
    parser.add_argument("--room", action="store_true",
                        help="one mock for a whole room: learners join at /join and each gets their own client, "
                             "user and mock; the instructor watches at /_room (default --host 0.0.0.0; see README)")
    parser.add_argument("--max-learners", type=int, default=250, help="with --room: how many may join (default 250)")
    parser.add_argument("--profile", choices=list(PROFILES), default=DEFAULT,
                        help=f"{DEFAULT} (the default): Authgear's behaviour, quirks included; strict: the RFCs' "
                             "where Authgear is looser (PKCE for every client, refresh-token rotation with reuse "
                             "detection, ...; see README)")
    args = parser.parse_args(argv)
    if args.profile != DEFAULT and (args.room or args.hosted):
        parser.error(f"--profile {args.profile} is for a mock of your own: --room and --hosted serve "
                     f"the {DEFAULT} profile")
    if args.room:
        return run_room(parser, args, argv or sys.argv[1:])
    try:
        config = MockConfig.from_file(args.config) if args.config else MockConfig.demo()
        admin_token = check_admin_token(args.admin_token) if args.admin_token is not None else None
        if args.hosted:
            normalise_base_url(args.base_url)
    except (ConfigError, ValueError) as exc:
        print(f"mock_idp: {one_line(str(exc))}", file=sys.stderr)
        return 2
    if args.hosted:
        try:
            return hosted.main(args.port, args.base_url, config, admin_token)
        except OSError as exc:
            print(f"mock_idp: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    try:
        # Bound before anything is printed: a busy port is one clear line, not a banner then an
        # error; and --port 0 gives the issuer the port actually chosen.
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"mock_idp: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    token_file = None
    try:
        issuer = (args.issuer or origin(args.host, port)).rstrip("/")
        if admin_token is None:
            admin_token = new_admin_token()
            if not is_loopback_host(args.host):
                token_file = write_private(admin_token, port)
        app = create_app(issuer, config, admin_token=admin_token, profile=args.profile)
    except (ConfigError, ValueError, OSError) as exc:
        sock.close()
        print(f"mock_idp: {one_line(str(exc))}", file=sys.stderr)
        return 2
    print(banner(issuer, config, args.host, token_file, PROFILES[args.profile]))
    sys.stdout.flush()
    try:
        run(app, sock)
    finally:
        if token_file is not None:
            token_file.unlink(missing_ok=True)  # the token dies with the server
    return 0


def run_room(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    from . import room

    host = args.host if any(a == "--host" or a.startswith("--host=") for a in argv) else "0.0.0.0"
    if args.max_learners < 1:
        print("mock_idp: --max-learners must be at least 1", file=sys.stderr)
        return 2
    try:
        return room.main(host, args.port, args.issuer.rstrip("/") if args.issuer else None, args.max_learners)
    except OSError as exc:
        print(f"mock_idp: cannot listen on {host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def one_line(message: str) -> str:
    return " ".join(message.split("\n"))


if __name__ == "__main__":
    sys.exit(main())
