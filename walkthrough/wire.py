"""Outgoing HTTP: every call the app makes goes through here, with a timeout, and is
recorded as a step. A refused connection or a timeout becomes ProviderUnreachable (a clear
page), never a hanging request or a crash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import requests
from starlette.concurrency import run_in_threadpool

from .errors import ProviderUnreachable
from .steps import Step, StepLog

DEFAULT_TIMEOUT = 10.0  # seconds, connect and read: nothing hangs in front of a room


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

    def _send(self, method: str, url: str, headers: dict[str, str], form: dict[str, str] | None) -> requests.Response:
        # A fresh connection each time and no redirects followed: what the app sends and
        # gets is exactly what the step shows.
        return requests.request(method, url, headers=headers, data=form, timeout=(self.timeout, self.timeout),
                                allow_redirects=False)

    async def call(self, log: StepLog, step: Step, method: str, url: str, *,
                   headers: dict[str, str] | None = None, form: dict[str, str] | None = None) -> Answer:
        headers = dict(headers or {})
        if form is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        headers.setdefault("Accept", "application/json")
        step.set_request(method, url, headers, form)
        log.add(step)
        try:
            response = await run_in_threadpool(self._send, method, url, headers, form)
        except requests.Timeout:
            step.ok = False
            step.note = f"No answer within {self.timeout:g} seconds: the app gave up."
            raise ProviderUnreachable(
                f"{method} {step.url} got no answer within {self.timeout:g} seconds, so the app stopped waiting.",
                title="Authgear did not answer in time", status_code=504,
                hint="Every call the app makes has a timeout: a slow server never leaves your browser hanging.",
            ) from None
        except requests.RequestException as exc:
            step.ok = False
            step.note = f"No answer: {type(exc).__name__}."
            raise ProviderUnreachable(
                f"{method} {step.url} failed before any answer came back ({type(exc).__name__}).",
                hint="Is the authorization server running? With the bundled mock: python -m mock_idp.",
            ) from None
        try:
            body: Any = response.json() if "json" in response.headers.get("Content-Type", "") else None
        except ValueError:
            body = None
        step.set_response(response.status_code, response.reason or "", response.headers,
                          body if body is not None else response.text)
        return Answer(response.status_code, response.headers, body, response.text)
