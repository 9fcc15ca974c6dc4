"""The step log: every exchange this session's login made, as it went over the wire.

Each step is one HTTP exchange (method, URL, the headers that matter, the form body,
status, the JSON answer) or one local check (the ID token's), with its secrets shortened
so a learner can recognise a value without the page leaking it. Each step links to the
notebook that performs it by hand.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from mock_idp.exchanges import shorten

# kind → (notebook file, what the notebook teaches)
NOTEBOOKS: dict[str, tuple[str, str]] = {
    "setup": ("01-setup.ipynb", "Setup: the client, its secret and its redirect URI"),
    "discovery": ("02-discovery.ipynb", "Discovery: where the endpoints and keys are"),
    "authorize": ("03-authorization-request.ipynb", "The authorization request: state, nonce, PKCE"),
    "callback": ("03-authorization-request.ipynb", "The authorization request: state, nonce, PKCE"),
    "token": ("04-code-exchange.ipynb", "Exchanging the code for tokens"),
    "jwks": ("05-id-token.ipynb", "Validating the ID token"),
    "id_token": ("05-id-token.ipynb", "Validating the ID token"),
    "userinfo": ("06-userinfo-and-access-token.ipynb", "UserInfo and the access token"),
    "refresh": ("07-refresh.ipynb", "Refreshing the access token"),
    "revoke": ("08-logout-and-revocation.ipynb", "Logout and revocation"),
    "logout": ("08-logout-and-revocation.ipynb", "Logout and revocation"),
    "api": ("09-calling-an-api.ipynb", "Calling an API with the access token"),
}

# Values shown only by their start, as the notebooks show them (kit/notebook.py).
SECRET_NAMES = frozenset({
    "client_secret", "code", "code_verifier", "refresh_token", "access_token", "id_token",
    "token", "id_token_hint", "password",
})
SHOWN_REQUEST_HEADERS = ("Authorization", "Content-Type")
SHOWN_RESPONSE_HEADERS = ("Location", "Content-Type", "Cache-Control", "WWW-Authenticate")
BODY_LIMIT = 4000  # characters of a non-JSON answer worth showing


MAX_JSON_DEPTH = 32  # levels of nesting in a JSON answer or token the app reads; deeper is refused


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON nests deeper than `limit` (checked without recursion: the pages and the step
    log walk JSON recursively, and a thousand levels would overflow Python's stack)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def short(value: str, keep: int = 8) -> str:
    """The first characters of a secret, enough to recognise it: 'eyJhbGci…'; never a short
    secret whole (the same rule as the mock's exchange log and the notebooks)."""
    return shorten(value, keep)


def shorten_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: short(v) if k in SECRET_NAMES and isinstance(v, str) else shorten_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten_fields(v) for v in value]
    return value


def shorten_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(
        f"{urllib.parse.quote(k, safe='')}={short(v) if k in SECRET_NAMES else urllib.parse.quote(v, safe=' :/')}"
        for k, v in pairs
    )
    return urllib.parse.urlunsplit(parts._replace(query=query))


def shorten_header(name: str, value: str) -> str:
    if name.lower() == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {short(credentials)}"
    if name.lower() == "location":
        return shorten_url(value)
    return value


def pretty(value: Any) -> str:
    return json.dumps(shorten_fields(value), indent=2, ensure_ascii=False)


@dataclasses.dataclass
class Check:
    """One local check, e.g. of the ID token: what was checked, and whether it passed."""

    name: str
    passed: bool
    detail: str = ""


@dataclasses.dataclass
class Step:
    kind: str  # a key of NOTEBOOKS
    title: str
    actor: str = "app"  # "app": the app's own HTTP call; "browser": a redirect; "local": a check
    why: str = ""
    method: str = ""
    url: str = ""
    request_headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    form: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    query: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    response_body: str = ""
    checks: list[Check] = dataclasses.field(default_factory=list)
    ok: bool = True
    note: str = ""
    at: float = dataclasses.field(default_factory=time.time)
    number: int = 0

    @property
    def notebook(self) -> str:
        return NOTEBOOKS[self.kind][0]

    @property
    def notebook_title(self) -> str:
        return NOTEBOOKS[self.kind][1]

    def set_request(self, method: str, url: str, headers: dict[str, str] | None = None,
                    form: dict[str, str] | None = None) -> None:
        self.method = method
        parts = urllib.parse.urlsplit(url)
        self.url = urllib.parse.urlunsplit(parts._replace(query=""))
        self.query = [(k, short(v) if k in SECRET_NAMES else v)
                      for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
        self.request_headers = [(n, shorten_header(n, v)) for n, v in (headers or {}).items()
                                if n in SHOWN_REQUEST_HEADERS]
        self.form = [(k, short(v) if k in SECRET_NAMES else v) for k, v in (form or {}).items()]

    def set_response(self, status: int, reason: str, headers: Mapping[str, str], body: Any) -> None:
        self.status = status
        self.reason = reason
        self.response_headers = [(n, shorten_header(n, headers[n])) for n in SHOWN_RESPONSE_HEADERS if n in headers]
        if isinstance(body, (dict, list)):
            self.response_body = pretty(body)
        elif body:
            text = str(body)
            self.response_body = text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "\n…"
        self.ok = 200 <= status < 400

    def request_text(self) -> str:
        """The request as it went over the wire (secrets shortened), one parameter a line."""
        if not self.method:
            return ""
        lines = [f"{self.method} {self.url}"]
        lines += [("  ?" if i == 0 else "  &") + f"{k}={v}" for i, (k, v) in enumerate(self.query)]
        lines += [f"{name}: {value}" for name, value in self.request_headers]
        if self.form:
            lines.append("")
            lines.append("&\n".join(f"{k}={v}" for k, v in self.form))
        return "\n".join(lines)

    def response_text(self) -> str:
        if self.status is None:
            return ""
        lines = [f"HTTP {self.status} {self.reason}".rstrip()]
        lines += [f"{name}: {value}" for name, value in self.response_headers]
        if self.response_body:
            lines += ["", self.response_body]
        return "\n".join(lines)

    def curl(self) -> str:
        """The same request as a curl command a learner can paste (secrets shortened)."""
        if self.actor != "app" or not self.method:
            return ""
        url = self.url
        if self.query:
            url += "?" + "&".join(f"{k}={v}" for k, v in self.query)
        parts = ["curl -i"]
        if self.method != "GET" and not self.form:
            parts.append(f"-X {self.method}")
        parts.append(f"'{url}'")
        for name, value in self.request_headers:
            if name != "Content-Type" or not self.form:
                parts.append(f"-H '{name}: {value}'")
        for key, value in self.form:
            parts.append(f"--data-urlencode '{key}={value}'")
        return " \\\n  ".join(parts)


class StepLog:
    """The steps of one session, oldest first; only the latest `limit` are kept."""

    def __init__(self, limit: int = 40) -> None:
        self.limit = limit
        self.entries: list[Step] = []
        self.counter = itertools.count(1)

    def add(self, step: Step) -> Step:
        step.number = next(self.counter)
        self.entries.append(step)
        del self.entries[:-self.limit]
        return step

    @property
    def dropped(self) -> int:
        return (self.entries[0].number - 1) if self.entries else 0

    def has(self, kind: str) -> bool:
        return any(step.kind == kind for step in self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
