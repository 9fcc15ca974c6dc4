"""Who may use the teaching API (`/_mock/`): the one decision, made in one place.

The teaching API reads the exchange log (userinfo answers, `state`, `nonce`, shortened
tokens) and changes users, clients and the clock. On the learner's own laptop it is theirs;
from any other machine it is not. So, for every `/_mock/` request, in this order:

1. `Host` must name the issuer's host and port, else 403. This stops DNS rebinding: a page at
   http://evil.example:4000 whose name is switched to 127.0.0.1 reaches the mock from the
   learner's own browser, over loopback, but its `Host` still says evil.example. The loopback
   names localhost, 127.0.0.1 and [::1] stand for each other when the issuer's host is one of
   them (the kit reaches http://localhost:4000 as 127.0.0.1 and the other way round). A `Host`
   without a port means the default port of the issuer's scheme (RFC 9110 §7.2).
2. A client on loopback (127.0.0.0/8, ::1) goes on as before. Any other client needs
   `Authorization: Bearer <admin token>` (compared in constant time), else 401 with
   `WWW-Authenticate: Bearer realm="mock_idp teaching API"` (RFC 6750 §3). A request that came
   through a proxy (it carries `Forwarded`, `X-Forwarded-For` or `X-Real-IP`) counts as coming
   from elsewhere: behind a reverse proxy on the same machine every peer is 127.0.0.1.
3. A change (anything but GET and HEAD) is refused (403) when a browser marks it as sent by
   another site: a form on evil.example posting to localhost:4000 carries no token, but it
   does come from loopback.

The OAuth endpoints are not guarded: other machines use them as they would use Authgear.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import urllib.parse

from starlette.requests import Request
from starlette.responses import Response

from .context import Context, json_error, same_origin

REALM = "mock_idp teaching API"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6750 §2.1's b64token, so the token fits an Authorization header as it is.
ADMIN_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MIN_ADMIN_TOKEN = 16
# RFC 9110 §7.2: Host = uri-host [ ":" port ]; a reg-name or an IPv4 or bracketed IPv6 literal.
HOST_HEADER = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(?P<port>[0-9]{1,5}))?")


def new_admin_token() -> str:
    return secrets.token_urlsafe(32)


def check_admin_token(token: str) -> str:
    """An admin token someone chose (--admin-token): long enough not to be guessed, and
    characters a Bearer header carries as they are."""
    if not isinstance(token, str) or len(token) < MIN_ADMIN_TOKEN or not ADMIN_TOKEN.fullmatch(token):
        raise ValueError(f"the admin token must be at least {MIN_ADMIN_TOKEN} characters of A-Z a-z 0-9 - . _ ~ + / "
                         "(RFC 6750 b64token), e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token


def is_loopback_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1, as a dual-stack socket reports an IPv4 peer
    return ip.is_loopback


def is_loopback_host(host: str) -> bool:
    """A name or literal the mock can listen on that other machines cannot reach."""
    return host.strip("[]").lower() in LOOPBACK_NAMES or is_loopback_address(host.strip("[]"))


def host_and_port(host_header: str | None, scheme: str) -> tuple[str, int] | None:
    """The host (lower case, IPv6 without brackets) and port a Host header names, or None
    when it is missing or not of Host's shape (no user info, path or spaces)."""
    match = HOST_HEADER.fullmatch(host_header or "")
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else DEFAULT_PORTS.get(scheme)
    if port is None or not 0 < port < 65536:
        return None
    return match["host"].strip("[]").lower(), port


class TeachingGuard:
    """Decides, for one `/_mock/` request, whether it may go on: `refusal()` is None, or the
    response to send instead."""

    def __init__(self, ctx: Context, admin_token: str | None = None) -> None:
        self.ctx = ctx
        self.admin_token = new_admin_token() if admin_token is None else check_admin_token(admin_token)
        issuer = urllib.parse.urlsplit(ctx.issuer)
        self.scheme = issuer.scheme.lower()
        self.host = (issuer.hostname or "").lower()
        try:
            self.port = issuer.port or DEFAULT_PORTS.get(self.scheme)
        except ValueError:
            self.port = None  # an issuer without a usable port: no Host matches it

    def host_allowed(self, request: Request) -> bool:
        named = host_and_port(request.headers.get("host"), self.scheme)
        if named is None or self.port is None:
            return False
        host, port = named
        if port != self.port:
            return False
        return host == self.host or (host in LOOPBACK_NAMES and self.host in LOOPBACK_NAMES)

    @staticmethod
    def from_loopback(request: Request) -> bool:
        if any(name in request.headers for name in PROXY_HEADERS):
            return False
        return request.client is not None and is_loopback_address(request.client.host)

    def token_given(self, request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def token_ok(self, token: str) -> bool:
        # Header values arrive as latin-1 text; compare the bytes that were sent.
        return hmac.compare_digest(token.encode("latin-1", "replace"), self.admin_token.encode())

    def refusal(self, request: Request) -> Response | None:
        if not self.host_allowed(request):
            return json_error("access_denied", f"the teaching API answers only to Host {self.host_shown()} "
                              "(the issuer's host and port)", 403)
        if not self.from_loopback(request):
            token = self.token_given(request)
            if token is None:
                return json_error(
                    "unauthorized", "from another machine the teaching API needs the admin token: "
                    "Authorization: Bearer <token> (see where the mock was started)", 401,
                    headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
            if not self.token_ok(token):
                return json_error(
                    "invalid_token", "the admin token is wrong", 401,
                    headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", '
                                                 'error_description="the admin token is wrong"'})
        if request.method not in ("GET", "HEAD") and not same_origin(self.ctx, request):
            # The teaching API changes users, clients and the clock: never at another site's
            # request (a cross-site form POST to localhost:4000 would otherwise do it).
            return json_error("access_denied", "the teaching API does not take requests from other sites", 403)
        return None

    def host_shown(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS.get(self.scheme) else f"{host}:{self.port}"
