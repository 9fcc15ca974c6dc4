"""What every endpoint shares: the issuer, the store, the key, the log, the profile, the page templates."""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any, Awaitable, Callable

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from .config import demo_users
from .exchanges import ExchangeLog
from .keys import SigningKey
from .params import BadParameters
from .profiles import AUTHGEAR, Profile
from .store import Store

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every value in every page is escaped
)
SESSION_COOKIE = "mock_idp_session"  # not "session": the walkthrough's cookie lives on localhost too
BROWSER_COOKIE = "mock_idp_browser"  # ties a pending login to the browser that started it
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclasses.dataclass
class BrowserView:
    """How the browser that sent this request addresses this server, when that is not the
    issuer: on a JupyterHub the browser reaches the mock through the hub, at
    https://HUB/user/alice/mock (mock_idp/hosted.py sets it per request). `origin` is the
    browser's scheme://host, `base` what stands for the issuer in the browser's URLs."""

    origin: str
    base: str

    def translate(self, url: str) -> str:
        """`url` as this browser reaches it (a mapping: nothing is checked)."""
        return url

    def send_to(self, url: str) -> str:
        """`url` as this browser reaches it, for sending the browser there (a redirect, a form's
        action): raises NotForThisBrowser where it must not go."""
        return self.translate(url)


class NotForThisBrowser(Exception):
    """The browser must not be sent to an address (on a hub: a loopback port that is not the
    learner's own, where another user's program would get the browser and its hub cookie)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def response(self) -> PlainTextResponse:
        return PlainTextResponse(self.message, status_code=409,
                                 headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


# The current request's browser view; None (the default) means the browser uses the issuer.
browser_view: contextvars.ContextVar[BrowserView | None] = contextvars.ContextVar("browser_view", default=None)


def for_browser(url: str) -> str:
    """`url` as the current request's browser is sent there (unchanged unless through a hub);
    raises NotForThisBrowser where it must not go (app.py answers 409)."""
    view = browser_view.get()
    return view.send_to(url) if view is not None else url


@dataclasses.dataclass
class Context:
    issuer: str
    store: Store
    key: SigningKey
    log: ExchangeLog
    profile: Profile = AUTHGEAR  # where it behaves as Authgear or as the RFCs (profiles.py)

    def endpoint(self, path: str) -> str:
        """One of this server's URLs, as the browser of the current request reaches it (the
        issuer's, except through a hub): for redirects and form actions."""
        view = browser_view.get()
        return (view.base if view is not None else self.issuer) + path

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def page(self, template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any) -> HTMLResponse:
        html = TEMPLATES.get_template(template).render(**values)
        return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})

    def demo_hint(self) -> list[tuple[str, str]]:
        """The built-in demo users still present with their demo password, for the login page's hint."""
        hint = []
        for demo in demo_users():
            user = self.store.config.find_user(demo.email)
            if user is not None and user.password == demo.password:
                hint.append((demo.email, demo.password))
        return hint


def same_origin(ctx: Context, request: Request) -> bool:
    """False for a request a browser marks as coming from another site (a form on evil.example)."""
    origin = request.headers.get("origin")
    view = browser_view.get()
    own = view.origin if view is not None else ctx.issuer
    return (origin is None or origin == own) and request.headers.get("sec-fetch-site") != "cross-site"


# RFC 6749 §4.1.2.1 and §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E, so no `"`
# and no `\\` (it may sit inside a quoted WWW-Authenticate value), no control characters.
UNSAFE_IN_DESCRIPTION = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def safe_description(text: str) -> str:
    """An error_description within the RFC's characters: anything else (a quote, a backslash,
    a newline or non-ASCII text an attacker put into a parameter) becomes "?"."""
    return UNSAFE_IN_DESCRIPTION.sub("?", text)


def error_page(error: str, description: str, status: int = 400) -> PlainTextResponse:
    """Authgear's error page for errors that must not redirect (unknown client, bad redirect_uri)."""
    return PlainTextResponse(
        f"error: {error}\nerror_description: {safe_description(description)}\n",
        status_code=status,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


def json_error(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> JSONResponse:
    """RFC 6749 §5.2 error body."""
    return JSONResponse(
        {"error": error, "error_description": safe_description(description)},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def json_ok(body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, headers=headers)


Handler = Callable[[Context, Request], Awaitable[tuple[dict[str, str], Response]]]


def logged(ctx: Context, handler: Handler, on_bad_parameters: Callable[[str], Response]) -> Callable[[Request], Awaitable[Response]]:
    """Wraps a protocol endpoint: records the exchange for the teaching log; unreadable input
    gets the endpoint's own error shape instead of a 500."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            params, response = await handler(ctx, request)
        except BadParameters as exc:
            params, response = {}, on_bad_parameters(str(exc))
        ctx.log.record(request, params, response)
        return response

    return endpoint


def pretty_json(body: Any) -> str:
    return json.dumps(body, indent=2, sort_keys=True)
