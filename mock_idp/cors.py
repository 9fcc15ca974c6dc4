"""CORS as Authgear answers it, so a single-page app on another origin can call the mock.

Authgear's CORSMiddleware (authgear-server, pkg/lib/infra/middleware/cors.go) sits on its OAuth
endpoints. What it does, and what this module does the same way:

- An `Origin` is allowed when it is the server's own origin or the origin of a redirect URI of
  any OAuth client. The clients are read on every request (here: `ctx.store.config.clients`,
  which the teaching API changes at runtime), so registering a redirect URI is all an app on a
  new origin needs: Authgear's "How to fix CORS error" page says the same.
- For an allowed origin: `Access-Control-Allow-Origin: <that origin>` (never `*`: the SDK
  sends its token requests with credentials), `Access-Control-Allow-Credentials: true`,
  `Access-Control-Max-Age: 900`, and the preflight's `Access-Control-Request-Method` and
  `-Headers` echoed as `Access-Control-Allow-Methods` and `-Headers`.
- `Vary: Origin` on every response, allowed or not.
- Every `OPTIONS` request is answered 200 with an empty body, whatever the path; it never reaches
  an endpoint (a preflight is not an OAuth request, so it is not in the exchange log either).
- Any other origin gets no CORS header at all: the browser then keeps the answer from the page.

Where the mock differs: only `/oauth2/*` and `/.well-known/*` get the allow headers (Authgear's
middleware wraps its OAuth routes; the mock's other paths are its login page and its teaching
API, `/_mock/*`, which must never be readable from another site). Discovery and the JWKS keep
their own `Access-Control-Allow-Origin: *` for origins that are not allowed; an allowed origin
gets its own origin and credentials instead, as from every other OAuth endpoint.

A response that never reaches this middleware, Starlette's answer to an unhandled exception (a
bug the tests look for), has no `Vary` header.
"""

from __future__ import annotations

import urllib.parse

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import Context

OAUTH_PATHS = ("/oauth2/", "/.well-known/")
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOW_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-max-age",
                 "access-control-allow-methods", "access-control-allow-headers")


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL as a browser writes it in `Origin` (lower case, no
    default port), or None when the URL has no host (a custom scheme such as `myapp:/cb`)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not scheme or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class AuthgearCORS:
    """Pure ASGI middleware around the mock's app (`ctx`: the mock's clients, read per request)."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    def redirect_uris(self) -> list[str]:
        store = self.ctx.store
        with store.lock:  # the teaching API may be adding a client right now
            return [uri for client in store.config.clients.values() for uri in client.redirect_uris]

    def allowed(self, scope: Scope, origin: str) -> bool:
        wanted = origin_of(origin)
        if wanted is None or wanted != origin.strip().lower():
            return False  # "null", a path, garbage: never allowed
        host = Headers(scope=scope).get("host")
        if host and wanted == origin_of(f"{scope.get('scheme', 'http')}://{host}"):
            return True
        return any(origin_of(uri) == wanted for uri in self.redirect_uris())

    def cors_headers(self, scope: Scope) -> list[tuple[str, str]]:
        """The allow headers for this request: none unless it is an OAuth path and its origin is allowed."""
        if not scope["path"].startswith(OAUTH_PATHS):
            return []
        request = Headers(scope=scope)
        origin = request.get("origin")
        if not origin or not self.allowed(scope, origin):
            return []
        headers = [("access-control-allow-origin", origin), ("access-control-allow-credentials", "true"),
                   ("access-control-max-age", "900")]
        method = request.get("access-control-request-method")
        if method:
            headers.append(("access-control-allow-methods", method))
        asked = request.get("access-control-request-headers")
        if asked:
            headers.append(("access-control-allow-headers", asked))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allow = self.cors_headers(scope)

        if scope["method"] == "OPTIONS":
            headers = MutableHeaders(raw=[(b"content-length", b"0")])
            finish(headers, allow)
            await send({"type": "http.response.start", "status": 200, "headers": headers.raw})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                finish(MutableHeaders(scope=message), allow)
            await send(message)

        await self.app(scope, receive, send_with_cors)


def finish(headers: MutableHeaders, allow: list[tuple[str, str]]) -> None:
    """`Vary: Origin` always; the allow headers, when given, replace any the endpoint set
    (discovery's `*`)."""
    vary = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    if not any(v.lower() == "origin" for v in vary):
        headers["vary"] = ", ".join([*vary, "Origin"])
    if allow:
        for name in ALLOW_HEADERS:
            del headers[name]
        for name, value in allow:
            headers[name] = value
