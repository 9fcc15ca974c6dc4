"""The mock on a JupyterHub (or Binder): one per learner, beside Jupyter, through the hub.

On a hub the learner's kernel and the learner's browser are on different machines: the kernel
runs next to the single-user Jupyter server, the browser reaches that server only through the
hub, at `https://HUB/user/alice/`. So:

- **Where it runs.** jupyter-server-proxy starts `python -m mock_idp --hosted` on the first
  request to `<server>/mock/` (`server_proxy_config`, the `jupyter_serverproxy_servers` entry
  point `mock`) and keeps it running beside the Jupyter server: kernels come and go (restarts,
  culling), the mock, its key, clock, sessions and log stay. Every learner's server starts its
  own, on its own port.
- **Two views of one server.** The kernel talks to it directly, on loopback: the issuer is
  `http://127.0.0.1:PORT`, and discovery, the tokens' `iss` and every endpoint the notebook
  calls say so, as an Authgear project's do. The browser sees the same pages at
  `https://HUB/user/alice/mock/...`; jupyter-server-proxy strips that prefix before the request
  arrives (and says which it stripped in `X-Forwarded-Context`). `ThroughTheHub` puts it back
  for the browser, as a reverse proxy's `proxy_redirect` and `proxy_cookie_path` would: the
  `Location` of every redirect, each form's action, the cookies' `Path`. A redirect to a
  loopback port of this machine (the notebook's callback listener, `http://127.0.0.1:N/...`)
  becomes `https://HUB/user/alice/proxy/127.0.0.1:N/...`, the way the browser reaches that port,
  and only while a program of the learner's own is all that listens there (`port_is_ours`).
- **The learner's own.** On a machine shared by learners (The Littlest JupyterHub: every
  learner a Unix user), loopback is not private. `SameUser` refuses every connection that
  does not come from a process of the Unix user the mock runs as (read from /proc/net/tcp):
  another learner's kernel, or another learner's Jupyter server proxying for their browser,
  gets 403. Where that cannot be read (not Linux), a warning says so; on Zero to JupyterHub
  each learner is in a container of their own anyway.
- **How the kernel finds it.** `state_file(base_url)` (0600, in the learner's Jupyter runtime
  folder) names the issuer and the redirect URI registered for the kernel's callback listener;
  `kit/hosted.py` reads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import socket
import stat
import struct
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import BrowserView, NotForThisBrowser, browser_view
from .guard import HOST_HEADER

ENTRY = "mock"  # <server>/mock/: the name of the jupyter-server-proxy entry
HUB_REDIRECT_ORIGINS = ("http://localhost:3000",)  # the demo clients' app origin, made the kernel's listener
# The only cookies that reach the mock through the hub: its own. The hub's (its login, Jupyter's
# _xsrf) never do, so the mock's log cannot show them.
OWN_COOKIES = ("mock_idp_",)
LISTEN = "0A"  # a socket's state in /proc/net/tcp: listening
CONTEXT_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~%!$&'()*+,;=:@]+/)*[A-Za-z0-9\-._~%!$&'()*+,;=:@]+/?")


def server_proxy_config() -> dict[str, Any]:
    """The `mock` entry for jupyter-server-proxy: started on the first request to <server>/mock/.

    `absolute_url: False`: the proxy strips <server>/mock before the request reaches the mock,
    which puts it back wherever the browser needs it (ThroughTheHub)."""
    return {
        "command": [sys.executable, "-m", "mock_idp", "--hosted", "--port", "{port}", "--base-url", "{base_url}"],
        "timeout": 30,
        "absolute_url": False,
        "new_browser_tab": True,
        # Not in the launcher: the notebooks start it and print the links to use.
        "launcher_entry": {"enabled": False, "title": "Authgear mock"},
    }


def normalise_base_url(base_url: str) -> str:
    """The Jupyter server's base URL as a path that starts and ends with '/': '/user/alice/'."""
    base = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    if not CONTEXT_PATH.fullmatch(base) and base != "/":
        raise ValueError(f"not a URL path: {base_url!r}")
    return base


def state_file(base_url: str) -> Path:
    """Where the mock of the Jupyter server at `base_url` says where it is: in this user's
    Jupyter runtime folder (private to them), one per server (a learner's named servers each
    have their own mock)."""
    from jupyter_core.paths import jupyter_runtime_dir

    tag = hashlib.sha256(normalise_base_url(base_url).encode()).hexdigest()[:12]
    return Path(jupyter_runtime_dir()) / f"authgear-kit-mock-{tag}.json"


@dataclasses.dataclass(frozen=True)
class HostedMock:
    """What the kernel needs to know about the learner's mock (the state file's content)."""

    issuer: str  # http://127.0.0.1:PORT: the kernel's address of the mock, and the tokens' iss
    redirect_url: str  # http://127.0.0.1:N/auth-redirect: the kernel's listener, registered for mock-client
    base_url: str  # the Jupyter server's base URL, /user/alice/
    pid: int

    @property
    def browser_path(self) -> str:
        """Where the browser finds the mock on the hub: /user/alice/mock."""
        return self.base_url + ENTRY

    @property
    def callback_port(self) -> int:
        return urllib.parse.urlsplit(self.redirect_url).port or 80

    def write(self) -> Path:
        return self.write_to(state_file(self.base_url))

    def write_to(self, path: Path) -> Path:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(dataclasses.asdict(self), file)
        os.replace(temporary, path)  # a reader never sees half a file
        return path

    @classmethod
    def read(cls, base_url: str) -> HostedMock | None:
        return cls.read_from(state_file(base_url))

    @classmethod
    def read_from(cls, path: Path) -> HostedMock | None:
        """What the file says, if it is this user's own private file (a file someone else put
        there, or one others may write, is not believed)."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        with os.fdopen(fd) as file:
            try:
                status = os.fstat(file.fileno())
                if (not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid()
                        or status.st_mode & 0o077):
                    return None
                data = json.loads(file.read())
                return cls(**{field.name: data[field.name] for field in dataclasses.fields(cls)})
            except (OSError, ValueError, KeyError, TypeError):
                return None


def hosted_config(config: Any, redirect_origin: str) -> Any:
    """The demo clients, with the app's origin (http://localhost:3000) replaced by the kernel's
    listener on this machine: on a hub the notebook's callback comes back there, and every
    learner's listener has a port of its own."""
    def moved(uris: list[str]) -> list[str]:
        out: list[str] = []
        for uri in uris:
            for old in HUB_REDIRECT_ORIGINS:
                if uri == old or uri.startswith(old + "/"):
                    uri = redirect_origin + uri[len(old):]
            # No other port of this machine: on a shared hub any learner may listen there.
            if is_loopback_uri(uri) and not (uri == redirect_origin or uri.startswith(redirect_origin + "/")):
                continue
            if uri not in out:
                out.append(uri)
        return out

    for client in config.clients.values():
        client.redirect_uris = moved(client.redirect_uris)
        client.post_logout_redirect_uris = moved(client.post_logout_redirect_uris)
    return config


def is_loopback_uri(uri: str) -> bool:
    return urllib.parse.urlsplit(uri).hostname in ("localhost", "127.0.0.1", "::1")


def free_port(preferred: int | None = None) -> int:
    """A loopback port free now: `preferred` if it is (the listener keeps its port when the mock
    restarts, so the redirect URI a kernel already holds stays registered), else any."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


# --- Whose connection is it? ---------------------------------------------------------------

def _proc_address6(host: str, port: int) -> str | None:
    """An IPv6 address (or an IPv4 one, as ::ffff:a.b.c.d) as /proc/net/tcp6 writes it."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    packed = (ipaddress.IPv6Address("::ffff:" + str(ip)) if ip.version == 4 else ip).packed
    return "".join("%08X" % word for word in struct.unpack("<4I", packed)) + ":%04X" % port


def peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The Unix user owning the other end of a loopback TCP connection (Linux), or None when it
    cannot be told. The other end is the socket whose local address is our client's and whose
    remote address is ours."""
    for table, spell in TCP_TABLES:
        local, remote = spell(*client), spell(*server)
        if local is None or remote is None:
            continue
        for fields in tcp_sockets(table):
            if fields[1] == local and fields[2] == remote:
                return int(fields[7])
    return None


def tcp_sockets(table: str) -> Iterator[list[str]]:
    """The rows of a /proc/net/tcp{,6} table, split: [1] local address, [2] remote, [3] state,
    [7] uid. Nothing where the table cannot be read (not Linux)."""
    try:
        with open(table) as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if len(fields) > 7:
                    yield fields
    except OSError:
        return


def _proc_address4(host: str, port: int) -> str | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 6:
        if ip.ipv4_mapped is None:
            return None
        ip = ip.ipv4_mapped
    return "%08X:%04X" % (struct.unpack("<I", ip.packed)[0], port)


# Each table of TCP sockets, with how it writes an address.
TCP_TABLES = (("/proc/net/tcp", _proc_address4), ("/proc/net/tcp6", _proc_address6))


def can_tell_users() -> bool:
    return os.path.exists("/proc/net/tcp")


def listener_uids(port: int) -> set[int]:
    """The Unix users of the sockets listening on port `port`, on any address, IPv4 or IPv6
    (Linux); empty if none listens."""
    wanted = "%04X" % port
    return {int(fields[7]) for table, _ in TCP_TABLES for fields in tcp_sockets(table)
            if fields[3] == LISTEN and fields[1].rsplit(":", 1)[-1] == wanted}


def port_is_ours(port: int) -> bool:
    """Whether everything that listens on port `port` is this user's (the notebook's listener),
    so the browser may be sent there with its hub cookie: one socket of another user's on any
    address of that port (::1 beside our 127.0.0.1, say) and it is not. True where it cannot be
    told."""
    return not can_tell_users() or listener_uids(port) == {os.geteuid()}


class SameUser:
    """Refuses (403) a connection from a process of another Unix user of this machine."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.uid = os.geteuid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and can_tell_users() and not self.ours(scope):
            if scope["type"] == "websocket":  # none is served; refused before the app sees it
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse(
                {"error": "access_denied", "error_description": "this mock belongs to another user of this machine"},
                status_code=403, headers={"Cache-Control": "no-store"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def ours(self, scope: Scope) -> bool:
        """Whether the connection's other end is a process of this user. Not when the server
        could not say who the peer is (uvicorn gives no `client` when the peer already went)."""
        client, server = scope.get("client"), scope.get("server")
        if not client or not server:
            return False
        return peer_uid(tuple(client), tuple(server)) == self.uid  # None: a connection the system does not show


# --- The browser's view, through the hub ---------------------------------------------------

def first_value(value: str | None) -> str | None:
    """The first of a comma-separated list (each proxy on the way appends its own)."""
    return value.split(",", 1)[0].strip() if value else None


class HubView(BrowserView):
    """The addresses one browser request uses: `origin` (https://HUB), `base` (the mock's
    pages: https://HUB/user/alice/mock) and `ports` (a loopback port N: https://HUB/user/alice/proxy/127.0.0.1:N)."""

    def __init__(self, issuer: str, origin: str, context_path: str, base_url: str) -> None:
        super().__init__(origin=origin, base=origin + context_path.rstrip("/"))
        self.issuer = issuer
        self.cookie_path = context_path.rstrip("/") + "/"
        self.ports = origin + base_url + "proxy/"

    @staticmethod
    def loopback_port(url: str) -> int | None:
        """The port, if `url` is http on this machine's loopback (the notebook's listener)."""
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return None
        return port if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and port else None

    def translate(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        rest = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
        if not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//"):
            return self.base + url  # one of the mock's own paths
        if f"{parts.scheme}://{parts.netloc}" == self.issuer:
            return self.base + rest
        if self.origin and f"{parts.scheme}://{parts.netloc}".lower() == self.origin:
            return url  # already the browser's address (the mock's pages are written so)
        port = self.loopback_port(url)
        if port is not None:
            # A loopback port of this machine, through jupyter-server-proxy: to 127.0.0.1 by name
            # (its /proxy/N/ goes to "localhost", which may be ::1, where another user may listen).
            return f"{self.ports}127.0.0.1:{port}{rest}"
        return url

    def send_to(self, url: str) -> str:
        port = self.loopback_port(url)
        if port is not None and not port_is_ours(port):
            raise NotForThisBrowser(
                f"Not sent on: the login would go back to port {port} of your server, and nothing of yours listens "
                "there now. Run the notebook's login cell again (it listens while it waits), then use its new link.\n")
        return self.translate(url)


def browser_origin(headers: Headers, scope: Scope) -> str | None:
    """The scheme and host the learner's browser used, or None if the headers make no sense.

    The host is the request's `Host` (the hub's proxies keep it). The scheme, in order: the
    hub's public address (JUPYTERHUB_PUBLIC_URL, the admin's setting) when it names that host;
    X-Forwarded-Proto (the hub's proxy adds it); the scheme of the page the browser came from
    (Origin or Referer) when it names that host, for a hub whose TLS ends at a load balancer that
    adds no header; else http."""
    host = (headers.get("host") or "").lower()
    if not HOST_HEADER.fullmatch(host):
        return None
    public = urllib.parse.urlsplit(os.environ.get("JUPYTERHUB_PUBLIC_URL", ""))
    if public.scheme in ("http", "https") and public.netloc.lower() == host:
        return f"{public.scheme}://{host}"
    forwarded = first_value(headers.get("x-forwarded-proto"))
    if forwarded is not None:
        forwarded = forwarded.lower()
        return f"{forwarded}://{host}" if forwarded in ("http", "https") else None
    for name in ("origin", "referer"):
        came_from = urllib.parse.urlsplit(headers.get(name) or "")
        if came_from.scheme in ("http", "https") and came_from.netloc.lower() == host:
            return f"{came_from.scheme}://{host}"
    return f"http://{host}"


class ThroughTheHub:
    """For requests jupyter-server-proxy brought from the learner's browser (they carry
    `X-Forwarded-Context`): sets the request's browser view (ctx.endpoint and form actions use
    it), drops the hub's own cookies and headers before the mock sees them, and puts the prefix
    back into `Location` and the cookies' `Path` on the way out.

    A redirect to a loopback port (the notebook's listener) is sent only when that port is held
    by this user: jupyter-server-proxy would hand the browser, with its hub cookie, to whoever
    listens there, and on a shared machine that could be another learner's program."""

    def __init__(self, app: ASGIApp, issuer: str, base_url: str) -> None:
        self.app = app
        self.issuer = issuer
        self.base_url = normalise_base_url(base_url)

    def view(self, scope: Scope) -> HubView | None | str:
        """The browser view for this request; None if it did not come through the proxy; a
        reason (str) if its headers do not make sense."""
        headers = Headers(scope=scope)
        context = headers.get("x-forwarded-context")
        if context is None:
            return None
        if (not CONTEXT_PATH.fullmatch(context) or not context.startswith(self.base_url)
                or any(segment in (".", "..") for segment in context.split("/"))):
            return "the proxy's X-Forwarded-Context is not a path under this server"
        origin = browser_origin(headers, scope)
        if origin is None:
            return "the request's Host or X-Forwarded-Proto is not one a browser sends"
        return HubView(self.issuer, origin, context, self.base_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        view = self.view(scope)
        if isinstance(view, str):
            await PlainTextResponse(f"Bad Request: {view}", status_code=400)(scope, receive, send)
            return
        if view is None:
            await self.app(scope, receive, send)
            return
        scope = {**scope, "headers": own_headers(scope)}
        secure = view.origin.startswith("https://")
        refused = False

        async def send_for_browser(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the original answer's body: replaced
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "location" in headers:
                    try:
                        headers["location"] = view.send_to(headers["location"])
                    except NotForThisBrowser as refusal:
                        refused = True
                        await refusal.response()(scope, receive, send)
                        return
                cookies = [for_browser_cookie(value, view.cookie_path, secure)
                           for name, value in headers.raw if name.lower() == b"set-cookie"]
                if cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        headers.append("set-cookie", cookie)
            await send(message)

        token = browser_view.set(view)
        try:
            await self.app(scope, receive, send_for_browser)
        finally:
            browser_view.reset(token)


def own_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The request's headers without the hub's: only the mock's own cookies, no Authorization
    (the hub's token; the browser's pages on the mock never send one)."""
    kept = []
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered == b"authorization":
            continue
        if lowered == b"cookie":
            pairs = [pair.strip() for pair in value.decode("latin-1").split(";")]
            mine = [pair for pair in pairs if pair.startswith(OWN_COOKIES)]
            if not mine:
                continue
            value = "; ".join(mine).encode("latin-1")
        kept.append((name, value))
    return kept


def for_browser_cookie(value: bytes, path: str, secure: bool) -> str:
    """A Set-Cookie with `Path=/` made the mock's path on the hub (the browser would otherwise
    send the mock's cookie to every server on the hub), and Secure when the hub is https."""
    parts = [part.strip() for part in value.decode("latin-1").split(";")]
    out = [parts[0]]
    for attribute in parts[1:]:
        name = attribute.split("=", 1)[0].strip().lower()
        if name == "path":
            attribute = f"Path={path}"
        elif name == "secure":
            continue
        out.append(attribute)
    if not any(part.split("=", 1)[0].strip().lower() == "path" for part in parts[1:]):
        out.append(f"Path={path}")
    if secure:
        out.append("Secure")
    return "; ".join(out)


def hosted_app(app: ASGIApp, issuer: str, base_url: str) -> ASGIApp:
    """The mock's app as it runs on a hub: the learner's own, and the browser's view of it."""
    return SameUser(ThroughTheHub(app, issuer, base_url))


def banner(mock: HostedMock, path: Path) -> str:
    lines = [
        f"Mock Authgear for the Jupyter server at {mock.base_url}: issuer {mock.issuer} (the kernel's address);",
        f"  the browser's: <hub>{mock.browser_path}/ ; the notebooks' callback: {mock.redirect_url}",
        f"  (the browser's: <hub>{mock.base_url}proxy/127.0.0.1:{mock.callback_port}/...). Where it is written: {path}",
    ]
    if not can_tell_users():
        lines.append("  WARNING: this system does not tell which user a connection comes from (no /proc/net/tcp): "
                     "other users of this machine can reach this mock.")
    return "\n".join(lines)


def main(port: int, base_url: str, config: Any, admin_token: str | None = None) -> int:
    """`python -m mock_idp --hosted --port P --base-url /user/alice/`, as jupyter-server-proxy runs it."""
    import uvicorn

    from .app import create_app
    from .server import bind

    base = normalise_base_url(base_url)
    sock = bind("127.0.0.1", port)
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    previous = HostedMock.read(base)
    callback = free_port(previous.callback_port if previous else None)
    mock = HostedMock(issuer=issuer, redirect_url=f"http://127.0.0.1:{callback}/auth-redirect", base_url=base,
                      pid=os.getpid())
    app = create_app(issuer, hosted_config(config, f"http://127.0.0.1:{callback}"), admin_token=admin_token)
    path = mock.write()
    print(banner(mock, path), flush=True)
    try:
        # proxy_headers off: the peer must be the real one (SameUser), not X-Forwarded-For's.
        uvicorn.Server(uvicorn.Config(hosted_app(app, issuer, base), log_level="warning", access_log=False,
                                      proxy_headers=False)).run(sockets=[sock])
    finally:
        if (HostedMock.read(base) or mock).pid == os.getpid():
            path.unlink(missing_ok=True)
    return 0
