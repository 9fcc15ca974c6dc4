"""python -m walkthrough [--port 3000] [--mock-port 4000] [--host 127.0.0.1] [--tutorial]

With no AUTHGEAR_ENDPOINT (no .env) it uses the bundled mock: the one already running at
http://localhost:MOCK_PORT (`make lab`), or one it starts in this process.
--tutorial runs the tutorial's app as written instead (walkthrough/tutorial.py): deliberately
vulnerable, for the security lab, on loopback only.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import urllib.parse

import requests

from kit import hosted
from kit.settings import DEFAULT_REDIRECT_URL, Settings, SettingsError, ensure_mock, load_settings

from .app import create_app, session_secret_from_env
from .server import bind, uvicorn_server
from .tutorial import WARNING, NotAgainstARealProject, is_loopback
from .tutorial import create_app as create_tutorial_app


def _demo_client(settings: Settings) -> dict:
    """The mock's demo client (or a room learner's own), as the teaching API lists it."""
    clients = requests.get(settings.endpoint + "/_mock/clients", auth=settings.teaching_auth, timeout=5).json()["clients"]
    client = next(c for c in clients if c["client_id"] == settings.client_id)
    client["client_secret"] = settings.client_secret  # the list shows it shortened
    return client


def _save_client(settings: Settings, client: dict) -> None:
    requests.post(settings.endpoint + "/_mock/clients", json=client, auth=settings.teaching_auth,
                  timeout=5).raise_for_status()


def register_with_mock(settings: Settings, port: int, post_logout_paths: tuple[str, ...] = ("/",)) -> tuple[set[str], set[str]]:
    """With the mock and a port other than 3000: add this port's redirect and post-logout
    URIs to the demo client (through the mock's teaching API), as you would in the portal.
    The post-logout URIs are the origin plus each of `post_logout_paths` (the tutorial's app
    sends the origin alone, "http://localhost:3000": pass ("", "/")). Returns the redirect and
    post-logout URIs that were not registered before, for `unregister_from_mock`."""
    origin = f"http://localhost:{port}"
    client = _demo_client(settings)
    redirects = {origin + "/auth-redirect"} - set(client["redirect_uris"])
    post_logouts = {origin + path for path in post_logout_paths} - set(client["post_logout_redirect_uris"])
    client["redirect_uris"] = sorted(set(client["redirect_uris"]) | redirects)
    client["post_logout_redirect_uris"] = sorted(set(client["post_logout_redirect_uris"]) | post_logouts)
    _save_client(settings, client)
    return redirects, post_logouts


def unregister_from_mock(settings: Settings, redirects: set[str], post_logouts: set[str]) -> None:
    """Removes what `register_with_mock` added, once the app on that port has stopped: a port
    freed is a port anything may take next, and the mock should not send codes there."""
    client = _demo_client(settings)
    client["redirect_uris"] = [uri for uri in client["redirect_uris"] if uri not in redirects]
    client["post_logout_redirect_uris"] = [uri for uri in client["post_logout_redirect_uris"] if uri not in post_logouts]
    _save_client(settings, client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m walkthrough", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000, help="port of the app (default 3000)")
    parser.add_argument("--mock-port", type=int, default=4000, help="port of the bundled mock (default 4000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--tutorial", action="store_true",
                        help="run the tutorial's app as written: deliberately vulnerable, for the security lab, "
                             "loopback only")
    args = parser.parse_args(argv)
    if args.tutorial and not is_loopback(args.host):
        print(f"walkthrough: --tutorial runs a deliberately vulnerable app: it listens on this computer only "
              f"(127.0.0.1, localhost or ::1), never on {args.host}.", file=sys.stderr)
        return 2
    post_logout_paths = ("", "/") if args.tutorial else ("/",)

    # On a shared hub machine loopback is every learner's: the app refuses other Unix users'
    # connections there, as the lab's apps do (asked now: KIT_HOSTED=0 below hides the hub).
    shared_machine = hosted.on_hub() is not None
    # The walkthrough is an app on this machine, with the mock on --mock-port: not the notebooks'
    # own mock beside a JupyterHub server (kit/hosted.py), even when started from a hub's terminal.
    os.environ["KIT_HOSTED"] = "0"
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"walkthrough: {exc}", file=sys.stderr)
        return 2
    if settings.room:
        print(f"Using the room's mock at {settings.endpoint}, with your client {settings.client_id}")
        if args.port != 3000 and settings.redirect_url == DEFAULT_REDIRECT_URL:
            settings = dataclasses.replace(settings, redirect_url=f"http://localhost:{args.port}/auth-redirect")
            register_with_mock(settings, args.port, post_logout_paths)
    elif settings.is_mock:
        settings = dataclasses.replace(settings, endpoint=f"http://localhost:{args.mock_port}")
        try:
            started = ensure_mock(settings.endpoint)
        except RuntimeError as exc:
            print(f"walkthrough: {exc}", file=sys.stderr)
            return 1
        print(("Started the bundled mock" if started else "Using the mock already running") + f" at {settings.endpoint}")
        if args.port != 3000 and settings.redirect_url == DEFAULT_REDIRECT_URL:
            settings = dataclasses.replace(settings, redirect_url=f"http://localhost:{args.port}/auth-redirect")
            register_with_mock(settings, args.port, post_logout_paths)
    else:
        redirect_port = urllib.parse.urlsplit(settings.redirect_url).port
        if redirect_port not in (None, args.port):
            print(f"walkthrough: note: AUTHGEAR_REDIRECT_URL ({settings.redirect_url}) is not on port {args.port}.",
                  file=sys.stderr)

    if args.tutorial:
        try:
            app = create_tutorial_app(settings)
        except NotAgainstARealProject as exc:
            print(f"walkthrough: {exc}", file=sys.stderr)
            return 2
        print(WARNING, file=sys.stderr)
    else:
        if not os.environ.get("WALKTHROUGH_SESSION_SECRET"):
            print("Session secret: random for this run (set WALKTHROUGH_SESSION_SECRET to keep sessions across "
                  "restarts)")
        # The app calls its own API at the address it listens on, whatever the browser's URL.
        api_host = "127.0.0.1" if args.host in ("0.0.0.0", "localhost") else args.host
        api_host = f"[{api_host}]" if ":" in api_host else api_host
        app = create_app(settings, session_secret=session_secret_from_env(),
                         api_url=f"http://{api_host}:{args.port}/api/profile")
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"walkthrough: cannot listen on {args.host}:{args.port} ({exc.strerror}). "
              f"Is it already running? Try --port.", file=sys.stderr)
        return 1
    print(f"Provider: {settings.describe()}")
    print(f"Redirect URI: {settings.redirect_url}")
    name = "The tutorial's app (deliberately vulnerable)" if args.tutorial else "Walkthrough"
    print(f"{name} at http://localhost:{args.port}  (Ctrl+C to stop)")
    sys.stdout.flush()
    uvicorn_server(hosted.this_user_only(app, shared_machine), quiet=False).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
