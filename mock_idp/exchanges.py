"""The teaching log: every protocol exchange the server saw, secrets shortened."""

from __future__ import annotations

import collections
import itertools
import json
import threading
import time
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

# Values a learner may see the start of, never the whole.
SECRET_NAMES = frozenset({
    "client_secret", "code", "code_verifier", "refresh_token", "access_token", "id_token",
    "token", "id_token_hint",
})
SECRET_IN_QUERY = re.compile(r"([?&#](?:%s)=)([^&#]*)" % "|".join(sorted(SECRET_NAMES)))
HIDDEN_NAMES = frozenset({"password"})
SHOWN_REQUEST_HEADERS = ("authorization", "content-type", "cookie", "origin")
SHOWN_RESPONSE_HEADERS = ("location", "content-type", "cache-control", "www-authenticate", "set-cookie")


def shorten(value: str, keep: int = 8) -> str:
    """The first `keep` characters and "…", never the whole value: of a short one (a
    client secret a learner chose, say) at least 3 characters or half stay hidden."""
    if not value:
        return value
    return f"{value[:min(keep, max(len(value) // 2, len(value) - 3))]}…"


def redact(params: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in params.items():
        if name in HIDDEN_NAMES:
            shown[name] = "••••••"
        elif name in SECRET_NAMES and isinstance(value, str):
            shown[name] = shorten(value)
        else:
            shown[name] = value
    return shown


def redact_header(name: str, value: str) -> str:
    if name == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {shorten(credentials)}"
    if name == "location":
        # A code in a redirect is shortened like any other secret; the rest stays as sent.
        return SECRET_IN_QUERY.sub(lambda m: m.group(1) + shorten(m.group(2)), value)
    if name in ("cookie", "set-cookie"):
        cookie_name, _, rest = value.partition("=")
        return f"{cookie_name}={shorten(rest, 6)}"
    return value


class ExchangeLog:
    def __init__(self, limit: int = 1000) -> None:
        self.lock = threading.Lock()
        self.entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=limit)
        self.counter = itertools.count(1)

    def record(self, request: Request, params: dict[str, str], response: Response) -> None:
        body: Any = None
        content_type = response.headers.get("content-type", "")
        raw = getattr(response, "body", b"")
        if content_type.startswith("application/json") and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                body = redact(body)
        elif content_type.startswith("text/plain") and raw:
            body = raw.decode("utf-8", "replace")
        entry = {
            "time": time.time(),
            "method": request.method,
            "path": request.url.path,
            "params": redact(params),
            "request_headers": {
                name: redact_header(name, request.headers[name])
                for name in SHOWN_REQUEST_HEADERS
                if name in request.headers
            },
            "status": response.status_code,
            "response_headers": {
                name: redact_header(name, response.headers[name])
                for name in SHOWN_RESPONSE_HEADERS
                if name in response.headers
            },
            "response_body": body,
        }
        with self.lock:
            entry["seq"] = next(self.counter)
            self.entries.append(entry)

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.entries if e["seq"] > seq]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
