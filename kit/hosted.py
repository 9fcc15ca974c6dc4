"""Is this kernel on a JupyterHub (or Binder)? Then the bundled mock is the learner's own.

A kernel on a hub runs beside the learner's Jupyter server, on a machine the learner's browser
reaches only through the hub. So the notebooks do not start the mock inside the kernel (a
restart or the hub's culling would take it away from every other notebook): the server's
jupyter-server-proxy runs it, at `<server>/mock/` (mock_idp/hosted.py), on the first request.
The kernel then talks to it directly on loopback (its issuer, `http://127.0.0.1:PORT`), and
shows the learner links that go through the hub: the mock's pages at
`https://HUB/user/alice/mock/...`, the notebook's callback listener at
`https://HUB/user/alice/proxy/127.0.0.1:N/...`.

The hub tells its servers (and so their kernels) where they are in environment variables:
JUPYTERHUB_SERVICE_PREFIX (/user/alice/), JUPYTERHUB_SERVICE_URL (where the server listens,
on this machine), JUPYTERHUB_API_TOKEN (the server's token: the kernel uses it once, to ask
the proxy to start the mock), and JUPYTERHUB_PUBLIC_URL when the hub's admin set its public
address (else the links are written from the hub's root: `/user/alice/mock/...`, which a click
in JupyterLab resolves). KIT_HOSTED=0 turns all this off (the laptop behaviour).
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.parse

import requests
from starlette.types import ASGIApp

from mock_idp.hosted import ENTRY, HostedMock, HubView, SameUser, normalise_base_url, port_is_ours

from .settings import SettingsError

START_TIMEOUT = 60  # seconds: the proxy waits for the mock to listen (up to 30 s) before it answers


@dataclasses.dataclass(frozen=True)
class HubServer:
    """The learner's Jupyter server on a hub, as its kernel sees it."""

    base_url: str  # /user/alice/
    service_url: str  # http://127.0.0.1:PORT/user/alice/: the server, from this machine
    api_token: str
    public_origin: str  # https://hub.example.org, or "" when the hub did not say

    def proxied(self, path: str) -> str:
        return self.service_url + path

    def for_browser(self, path: str) -> str:
        """A path under the hub as the learner's browser reaches it: with the hub's address when
        known, else from the hub's root (a link in JupyterLab resolves it against the page)."""
        return self.public_origin + path


class HostedMockError(SettingsError):
    """The learner's mock is not running, or could not be started through the hub; the message
    says what to do."""


def on_hub() -> HubServer | None:
    """The hub's server this kernel belongs to, or None on a laptop (or with KIT_HOSTED=0)."""
    if os.environ.get("KIT_HOSTED", "").strip() == "0":
        return None
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not prefix or not token:
        return None
    try:
        base_url = normalise_base_url(prefix)
    except ValueError:
        return None
    service = urllib.parse.urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
    if service.scheme not in ("http", "https") or not service.port:
        return None  # a hub too old to say where its server listens: the server's token goes nowhere else
    host = service.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):  # listening on every address: reach it on loopback
        host = "127.0.0.1"
    netloc = f"[{host}]" if ":" in host else host
    if service.port:
        netloc += f":{service.port}"
    service_url = f"{service.scheme}://{netloc}{base_url}"
    return HubServer(base_url=base_url, service_url=service_url, api_token=token, public_origin=public_origin())


def this_user_only(app: ASGIApp, shared: bool | None = None) -> ASGIApp:
    """`app` as a program of the learner's serves it on loopback: on a hub's machine, where loopback
    is every learner's, refusing other Unix users' connections (mock_idp.hosted.SameUser).
    `shared`: whether this is a hub, where the caller knows it already (default: on_hub())."""
    if shared is None:
        shared = on_hub() is not None
    return SameUser(app) if shared else app


def public_origin() -> str:
    """https://hub.example.org when the hub said where it is (its public_url, or its public host
    when it gives each learner a subdomain), else ""."""
    for name in ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_HOST"):
        parts = urllib.parse.urlsplit(os.environ.get(name, "").strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return ""


_KNOWN: dict[str, HostedMock] = {}  # base_url -> the mock last seen answering


def _loopback() -> requests.Session:
    """For requests to this machine: never through an HTTP proxy from the environment (the
    server's token must not travel anywhere else); the hub's internal TLS certificates, if any."""
    session = requests.Session()
    session.trust_env = False
    ca = os.environ.get("JUPYTERHUB_SSL_CLIENT_CA")
    if ca:
        session.verify = ca
    cert, key = os.environ.get("JUPYTERHUB_SSL_CERTFILE"), os.environ.get("JUPYTERHUB_SSL_KEYFILE")
    if cert and key:
        session.cert = (cert, key)
    return session


def _ours(mock: HostedMock) -> bool:
    """Whether only this user's programs listen on the mock's port. A mock killed before it could
    remove its state file leaves its port to whoever binds it next: on a shared machine, another
    user's program could answer there with the same issuer and collect the notebook's secrets."""
    port = urllib.parse.urlsplit(mock.issuer).port
    return port is not None and port_is_ours(port)


def _answers(mock: HostedMock) -> bool:
    if not _ours(mock):
        return False
    try:
        with _loopback() as session:
            body = session.get(mock.issuer + "/.well-known/openid-configuration", timeout=3).json()
    except (requests.RequestException, ValueError):
        return False
    return isinstance(body, dict) and body.get("issuer") == mock.issuer


def running_mock(server: HubServer) -> HostedMock:
    """The learner's mock, if it runs (no request when this kernel saw it already); else
    HostedMockError: connect() starts it."""
    current = HostedMock.read(server.base_url)
    # Seen already: only who listens is checked again (a /proc read, no request).
    if current is not None and (_ours(current) if _KNOWN.get(server.base_url) == current else _answers(current)):
        _KNOWN[server.base_url] = current
        return current
    raise HostedMockError("Your mock is not running: run the notebook's first cell (connect()), which starts it.")


def hosted_mock(server: HubServer) -> HostedMock:
    """The learner's mock: the one the state file names if it answers, else started now through
    the server's jupyter-server-proxy (one request to <server>/mock/)."""
    current = HostedMock.read(server.base_url)
    if current is not None and _answers(current):
        _KNOWN[server.base_url] = current
        return current
    print(f"Starting your mock at {server.base_url}{ENTRY}/ …", flush=True)
    url = server.proxied(ENTRY + "/.well-known/openid-configuration")
    deadline = time.monotonic() + START_TIMEOUT
    with _loopback() as session:
        while True:
            try:
                answer = session.get(url, headers={"Authorization": f"token {server.api_token}"},
                                     timeout=START_TIMEOUT)
            except requests.RequestException as exc:
                raise HostedMockError(
                    f"Your Jupyter server did not answer at {server.service_url} ({type(exc).__name__}), so the "
                    "kit cannot start your mock there. Restart your server (File → Hub Control Panel → Stop My "
                    "Server, then Start) and run this cell again.") from exc
            # A mock that died is started again by the proxy at once: a request in between gets a 5xx.
            if answer.status_code < 500 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    if answer.status_code != 200:
        hint = {
            404: "jupyter-server-proxy is probably not installed where your Jupyter server runs: ask the hub's "
                 "admin to install the kit there (see the kit's README, 'On a JupyterHub').",
            403: "the kernel's token (JUPYTERHUB_API_TOKEN) may not use your server: restart the server.",
            401: "the kernel's token (JUPYTERHUB_API_TOKEN) may not use your server: restart the server.",
        }.get(answer.status_code,
              f"the server answered HTTP {answer.status_code}. To see why, open a terminal (File → New → "
              f"Terminal) and run: python -m mock_idp --hosted --port 0 --base-url {server.base_url}")
        raise HostedMockError(f"Your mock did not start at {server.base_url}{ENTRY}/: {hint}")
    started = HostedMock.read(server.base_url)
    if started is None or not _answers(started):
        raise HostedMockError(f"Your mock started at {server.base_url}{ENTRY}/ but does not answer on this "
                              "machine: restart your server and run this cell again.")
    _KNOWN[server.base_url] = started
    return started


def browser_url(url: str, mock: HostedMock, server: HubServer) -> str:
    """`url` (one the kernel uses: the mock's, or a loopback port of this machine) as the
    learner's browser reaches it through the hub; any other URL unchanged. The same mapping the
    mock applies to its own redirects (mock_idp.hosted.HubView)."""
    return HubView(mock.issuer, server.public_origin, mock.browser_path, server.base_url).translate(url)


def for_browser(url: str, settings) -> str:
    """`url` as the learner's browser reaches it: through the hub for the learner's own mock
    and for the notebook's callback listener; unchanged on a laptop or for a real project."""
    server = on_hub()
    if server is None or not settings.is_mock or settings.room:  # a room is reached at its own address
        return url
    mock = running_mock(server)
    return browser_url(url, mock, server) if mock.issuer == settings.endpoint else url
