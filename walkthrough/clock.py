"""The app's idea of "now", used for every token time (expiry, `exp`, `iat`).

Against a real Authgear project that is simply the system clock. Against the bundled mock
the app follows the mock's clock: a learner who moves it on (POST /_mock/clock, to make
tokens expire without waiting half an hour) moves time on for the app too, as real time
would. Otherwise the mock would issue tokens "from the future" and the app, checking `iat`
and `exp` with its own clock, would rightly reject them.
"""

from __future__ import annotations

import datetime
import time

import requests


def clock_time(timestamp: float) -> str:
    """A time of day for people, e.g. '14:03:07 UTC'; never raises, whatever the number
    (a provider may send an expires_in of 1e300)."""
    try:
        return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return "(a time out of range)"


class Clock:
    """The system clock."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def sync(self) -> None:
        """Called before each request that looks at token times; nothing to do here."""

    def describe(self) -> str:
        return "the system clock"


class MockClock(Clock):
    """The system clock plus the bundled mock's offset, read from GET /_mock/clock."""

    def __init__(self, endpoint: str, timeout: float = 2.0, auth: tuple[str, str] | None = None) -> None:
        self.url = endpoint.rstrip("/") + "/_mock/clock"
        self.timeout = timeout
        self.auth = auth  # in a room: the learner's client credentials (their own clock)

    def sync(self) -> None:
        try:
            answer = requests.get(self.url, auth=self.auth, timeout=self.timeout)
            offset = answer.json().get("offset") if answer.ok else None
        except (requests.RequestException, ValueError, AttributeError, RecursionError):
            return  # the mock is down: keep the last offset; the protocol calls will report it
        if isinstance(offset, (int, float)) and not isinstance(offset, bool):
            self.offset = float(offset)

    def describe(self) -> str:
        if not self.offset:
            return "the mock's clock (same as the system clock)"
        sign = "+" if self.offset > 0 else "−"
        return f"the mock's clock ({sign}{abs(int(self.offset))} s from the system clock)"
