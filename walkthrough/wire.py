"""Outgoing HTTP: every call the app makes goes through here, with a timeout, and is
recorded as a step. A refused connection or a timeout becomes ProviderUnreachable (a clear
page), never a hanging request or a crash.

requests' timeout bounds each wait for the next bytes, not the whole exchange: a server that
sends one byte every few seconds would hold a page (and the session's lock) for ever. So the
whole exchange also has a deadline (TOTAL_FACTOR × the timeout), the answer is read up to
MAX_ANSWER bytes, and JSON nested deeper than the pages can show is read as text.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Mapping
from typing import Any

import anyio
import requests
import urllib3

from .errors import ProviderUnreachable
from .steps import Step, StepLog, too_deep

DEFAULT_TIMEOUT = 10.0  # seconds, connect and read: nothing hangs in front of a room
TOTAL_FACTOR = 2  # the whole exchange, headers to last byte, gets at most twice the timeout
MAX_ANSWER = 1024 * 1024  # bytes: discovery, JWKS, tokens and userinfo are a few kilobytes


class AnswerTooLarge(requests.RequestException):
    pass


class TooSlow(requests.Timeout):
    pass


@dataclasses.dataclass
class Received:
    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    encoding: str | None


@dataclasses.dataclass
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    json: Any  # the parsed body when it is JSON, else None
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> tuple[str, str]:
        """An OAuth error answer's `error` and `error_description` (RFC 6749 §5.2)."""
        body = self.json if isinstance(self.json, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {self.status}"
        description = body.get("error_description") if isinstance(body.get("error_description"), str) else ""
        return error, description


class Wire:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    @property
    def total(self) -> float:
        return self.timeout * TOTAL_FACTOR

    def _send(self, method: str, url: str, headers: dict[str, str], form: dict[str, str] | None,
              deadline: float) -> Received:
        # A fresh connection each time and no redirects followed: what the app sends and
        # gets is exactly what the step shows.
        with requests.request(method, url, headers=headers, data=form, timeout=(self.timeout, self.timeout),
                              allow_redirects=False, stream=True) as response:
            content = bytearray()
            try:
                while chunk := response.raw.read1(64 * 1024, decode_content=True):  # what has arrived so far
                    content += chunk
                    if len(content) > MAX_ANSWER:
                        raise AnswerTooLarge()
                    if time.monotonic() > deadline:
                        raise TooSlow()
            except urllib3.exceptions.ReadTimeoutError:
                raise requests.ReadTimeout() from None
            except urllib3.exceptions.HTTPError as exc:  # cut short, bad chunking or compression
                raise requests.ConnectionError(str(exc)) from None
            return Received(response.status_code, response.reason or "", response.headers, bytes(content),
                            response.encoding)

    async def call(self, log: StepLog, step: Step, method: str, url: str, *,
                   headers: dict[str, str] | None = None, form: dict[str, str] | None = None) -> Answer:
        headers = dict(headers or {})
        if form is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        headers.setdefault("Accept", "application/json")
        step.set_request(method, url, headers, form)
        log.add(step)
        send = functools.partial(self._send, method, url, headers, form, time.monotonic() + self.total)
        try:
            # abandon_on_cancel: at the deadline the page goes on; the thread ends on its own.
            with anyio.fail_after(self.total):
                response = await anyio.to_thread.run_sync(send, abandon_on_cancel=True)
        except (requests.Timeout, TimeoutError) as exc:
            whole = isinstance(exc, (TooSlow, TimeoutError))
            limit = self.total if whole else self.timeout
            step.ok = False
            step.note = f"No {'complete ' if whole else ''}answer within {limit:g} seconds: the app gave up."
            raise ProviderUnreachable(
                f"{method} {step.url} got no {'complete ' if whole else ''}answer within {limit:g} seconds, "
                "so the app stopped waiting.",
                title="Authgear did not answer in time", status_code=504,
                hint="Every call the app makes has a timeout: a slow server never leaves your browser hanging.",
            ) from None
        except AnswerTooLarge:
            step.ok = False
            step.note = f"The answer was longer than {MAX_ANSWER // 1024} KiB: the app stopped reading."
            raise ProviderUnreachable(
                f"{method} {step.url} sent an answer longer than {MAX_ANSWER // 1024} KiB, so the app stopped "
                "reading it.", title="Authgear's answer was too large") from None
        except requests.RequestException as exc:
            step.ok = False
            step.note = f"No answer: {type(exc).__name__}."
            raise ProviderUnreachable(
                f"{method} {step.url} failed before any answer came back ({type(exc).__name__}).",
                hint="Is the authorization server running? With the bundled mock: python -m mock_idp.",
            ) from None
        text = decode(response.content, response.encoding)
        body: Any = None
        if "json" in response.headers.get("Content-Type", ""):
            try:
                body = json.loads(response.content)
            except (ValueError, RecursionError):  # RecursionError: nested a thousand levels deep
                body = None
            if too_deep(body):
                step.note = "The JSON is nested too deeply to read: the app takes it as text."
                body = None
        step.set_response(response.status, response.reason, response.headers, body if body is not None else text)
        return Answer(response.status, response.headers, body, text)


def decode(content: bytes, encoding: str | None) -> str:
    try:
        return content.decode(encoding or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", "replace")
