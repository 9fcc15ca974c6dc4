"""The teaching log: every protocol exchange the server saw, secrets shortened.

It stays small whatever the requests carried: at most LOG_CAP entries, each forgotten
LOG_LIFETIME after it was recorded, and each entry bounded in the bytes it takes in the
answer of `GET /_mock/exchanges` (JSON, UTF-8, as Starlette writes it): a string whose JSON
takes more than CLIP bytes is cut with a marker saying how long it was, and one entry spends
at most ENTRY_BUDGET bytes on its values and their punctuation. Bytes, not characters: a
control character is written `\u0001` (6 bytes) and an emoji takes 4, so a budget of
characters let 1,000 entries of `%01` parameters reach 23 MB. Now 1,000 entries stay under
about 3.5 MB whatever the characters.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response

from .expiring import ExpiringMap

# Values a learner may see the start of, never the whole.
SECRET_NAMES = frozenset({
    "client_secret", "code", "code_verifier", "refresh_token", "access_token", "id_token",
    "token", "id_token_hint",
})
SECRET_IN_QUERY = re.compile(r"([?&#](?:%s)=)([^&#]*)" % "|".join(sorted(SECRET_NAMES)))
HIDDEN_NAMES = frozenset({"password"})
SHOWN_REQUEST_HEADERS = ("authorization", "content-type", "cookie", "origin")
SHOWN_RESPONSE_HEADERS = ("location", "content-type", "cache-control", "www-authenticate", "set-cookie")

LOG_CAP = 1000  # entries; a notebook reads a few dozen, a whole walkthrough a few hundred
LOG_LIFETIME = 24 * 3600  # seconds of the log's clock: a day's lesson, or a day of advance_clock
CLIP = 300  # bytes of JSON one string keeps: a long redirect URL still shows whole
ENTRY_BUDGET = 3000  # bytes of JSON one entry's values take, all its fields together
# How json.dumps(ensure_ascii=False) writes an ASCII character that is not itself.
SHORT_ESCAPES = {'"': 2, "\\": 2, "\b": 2, "\f": 2, "\n": 2, "\r": 2, "\t": 2}


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


def char_size(char: str) -> int:
    """Bytes one character takes inside a JSON string of the answer: `\\u0001` for a control
    character, its UTF-8 bytes otherwise (Starlette's JSONResponse: ensure_ascii=False, UTF-8)."""
    code = ord(char)
    if code < 0x80:
        return SHORT_ESCAPES.get(char, 6 if code < 0x20 else 1)
    return 2 if code < 0x800 else 3 if code < 0x10000 else 4


def json_size(value: Any) -> int:
    """Bytes `value` takes in the answer, quotes included."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
               .encode("utf-8", "surrogatepass"))


def clip(text: str, keep: int = CLIP) -> str:
    """`text` if its JSON takes at most `keep` bytes (quotes not counted); else the longest start
    of it that does, and a marker with the full length in characters."""
    if json_size(text) - 2 <= keep:
        return text
    size = 0
    end = 0
    for end, char in enumerate(text):
        size += char_size(char)
        if size > keep:
            break
    return f"{text[:end]}… ({len(text)} characters)"


def bounded(value: Any, budget: list[int]) -> Any:
    """`value` with every string clipped, spending `budget[0]` bytes of JSON (strings, quotes,
    commas and colons): once it is spent, strings keep 32 bytes and their marker, and the items
    left in a dict or list are counted, not kept."""
    if isinstance(value, str):
        kept = clip(value, min(CLIP, max(32, budget[0])))
        budget[0] -= json_size(kept)
        return kept
    if isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        separator = 2 if isinstance(value, dict) else 1  # "name":value, or value,
        budget[0] -= 2  # the brackets
        shown: list[tuple[Any, Any]] = []
        for index, (name, item) in enumerate(items):
            if budget[0] <= 0:
                shown.append(("…", f"{len(items) - index} more not shown"))
                break
            budget[0] -= separator
            shown.append((bounded(name, budget) if isinstance(value, dict) else name, bounded(item, budget)))
        return dict(shown) if isinstance(value, dict) else [item for _, item in shown]
    budget[0] -= json_size(value)
    return value


class ExchangeLog:
    def __init__(self, limit: int = LOG_CAP, clock: Callable[[], float] = time.time,
                 lifetime: float = LOG_LIFETIME,
                 observer: Callable[[Request, dict[str, str], Response], None] | None = None) -> None:
        """`clock`: the mock's (Store.now) so that advancing it ages the log too; the real
        clock by default. Each entry's "time" is always the real time it was recorded.
        `observer`: also told of every exchange, whatever the log keeps (a room's progress view)."""
        self.entries: ExpiringMap[dict[str, Any]] = ExpiringMap(clock, limit)
        self.observer = observer
        self.lifetime = lifetime
        self.counter = itertools.count(1)

    def record(self, request: Request, params: dict[str, str], response: Response) -> None:
        if self.observer is not None:
            self.observer(request, params, response)
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
        budget = [ENTRY_BUDGET]
        # Spent in this order, so the exchange's outline (path, headers, status, answer) is
        # kept whole and only a flood of parameters is cut short.
        path = bounded(request.url.path, budget)
        request_headers = bounded({
            name: redact_header(name, request.headers[name])
            for name in SHOWN_REQUEST_HEADERS
            if name in request.headers
        }, budget)
        response_headers = bounded({
            name: redact_header(name, response.headers[name])
            for name in SHOWN_RESPONSE_HEADERS
            if name in response.headers
        }, budget)
        response_body = bounded(body, budget)
        entry = {
            "time": time.time(),
            "method": request.method,
            "path": path,
            "params": bounded(redact(params), budget),
            "request_headers": request_headers,
            "status": response.status_code,
            "response_headers": response_headers,
            "response_body": response_body,
        }
        with self.entries.lock:
            entry["seq"] = seq = next(self.counter)
            self.entries.put(str(seq), entry, self.entries.clock() + self.lifetime)

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries.values() if e["seq"] > seq]

    def clear(self) -> None:
        self.entries.clear()
