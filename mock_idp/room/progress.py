"""Where each learner of a room stands: the steps done, the errors hit, when last seen.

Read off the exchanges the learner's own mock logs (mock_idp/exchanges.py tells an observer of
each, whatever the log keeps), plus the discovery requests the room's router attributes to a
learner. A step counts once it succeeded; `authorize` also records whether the last
authorization request carried `state`, `nonce` and a PKCE challenge, which is what an instructor
wants to see at a glance. Times are real Unix time (not the learner's mock clock, which they
move on purpose).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

STEPS = ("discovery", "authorize", "login", "token", "userinfo", "refresh", "revocation", "logout")
DESCRIPTION_KEEP = 200  # characters of an error_description kept for the instructor's view
PENDING_KEPT = 20  # pending logins whose flags are kept (a learner has one or two at a time)


@dataclasses.dataclass
class LastError:
    at: float
    step: str
    error: str
    description: str

    def view(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Progress:
    """One learner's progress; updated from the request's thread, read by the dashboard."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.steps: dict[str, float | None] = {step: None for step in STEPS}
        self.authorize_had = {"state": False, "nonce": False, "pkce": False}
        self.asked = dict(self.authorize_had)  # the last authorization request's, until its login ends
        self.logged_in = False  # once a login ended with a code, authorize_had is that login's
        self.pending: dict[str, dict[str, bool]] = {}  # login_request id -> its authorization request's flags
        self.last_done: float | None = None  # the last step that succeeded (a first time or again)
        self.errors = 0
        self.last_error: LastError | None = None
        self.last_seen: float | None = None

    # -- what happened
    def seen(self) -> None:
        with self.lock:
            self.last_seen = time.time()

    def done(self, step: str) -> None:
        with self.lock:
            now = time.time()
            self.last_seen = self.last_done = now
            if self.steps[step] is None:
                self.steps[step] = now

    def failed(self, step: str, error: str, description: str) -> None:
        with self.lock:
            now = time.time()
            self.last_seen = now
            self.errors += 1
            self.last_error = LastError(now, step, error[:80], description[:DESCRIPTION_KEEP])

    def observe(self, request: Request, params: dict[str, str], response: Response) -> None:
        """One exchange of the learner's mock (ExchangeLog's observer)."""
        step, ok = classify(request.url.path, params, response)
        if step is None:
            self.seen()
            return
        if step == "authorize" and ok is not False:
            flags = {"state": bool(params.get("state")), "nonce": bool(params.get("nonce")),
                     "pkce": bool(params.get("code_challenge"))}
            with self.lock:
                # Counted once THIS request's login ends with a code: a request that only probes the
                # endpoint (notebook 01's preflight) does not say how the learner logs in.
                self.asked = flags
                pending = location_query(response).get("login_request")
                if pending:
                    self.pending[pending] = flags
                    while len(self.pending) > PENDING_KEPT:
                        self.pending.pop(next(iter(self.pending)))
        if "code" in location_query(response) and step in ("authorize", "login"):
            with self.lock:
                ended = self.pending.pop(params.get("login_request", ""), None) if step == "login" else None
                self.authorize_had = dict(ended or self.asked)
                self.logged_in = True
            if step == "authorize":  # prompt=none, or a login the browser already had: no page
                self.done("login")
        if ok:
            self.done(step)
        elif ok is False:
            error, description = error_of(response)
            self.failed(step, error, description)
        else:
            self.seen()

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "steps": dict(self.steps),
                # What the last login's authorization request carried; before any login, the last
                # request's (so a learner still at the login page shows what they sent).
                "authorize": dict(self.authorize_had if self.logged_in else self.asked),
                "errors": self.errors,
                "last_done": self.last_done,
                "last_error": self.last_error.view() if self.last_error else None,
                "last_seen": self.last_seen,
            }


def location_query(response: Response) -> dict[str, str]:
    location = response.headers.get("location", "")
    parts = urllib.parse.urlsplit(location)
    return dict(urllib.parse.parse_qsl(parts.query or parts.fragment))


def classify(path: str, params: dict[str, str], response: Response) -> tuple[str | None, bool | None]:
    """(step, outcome) of one exchange: True done, False an error, None neither (a page shown,
    a step on the way)."""
    status = response.status_code
    redirect = location_query(response) if 300 <= status < 400 else {}
    if path == "/oauth2/authorize":
        if status >= 400 or "error" in redirect:
            return "authorize", False
        return "authorize", True
    if path in ("/login", "/select_account"):
        if "code" in redirect:
            return "login", True
        if "error" in redirect and redirect.get("error") != "access_denied":
            return "login", False
        return ("login", False) if status >= 400 else ("login", None)
    if path == "/oauth2/token":
        step = "refresh" if params.get("grant_type") == "refresh_token" else "token"
        return step, status == 200
    if path == "/oauth2/userinfo":
        return "userinfo", status == 200
    if path == "/oauth2/revoke":
        return "revocation", bool(params.get("token"))  # Authgear answers 200 whatever it is sent
    if path in ("/oauth2/end_session", "/logout"):
        if status >= 400:
            return "logout", False
        location = response.headers.get("location", "")
        ended = 300 <= status < 400 and "/logout?" not in location  # not the "Log out?" page
        return "logout", True if ended else None
    return None, None


def error_of(response: Response) -> tuple[str, str]:
    """The error code and description of a failed exchange: its JSON body, its error page, or
    the error redirect's query."""
    redirect = location_query(response)
    if "error" in redirect:
        return redirect["error"], redirect.get("error_description", "")
    raw = getattr(response, "body", b"") or b""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            return str(body.get("error", f"HTTP {response.status_code}")), str(body.get("error_description", ""))
    if content_type.startswith("text/plain"):
        fields = dict(line.split(": ", 1) for line in raw.decode("utf-8", "replace").splitlines() if ": " in line)
        if "error" in fields:
            return fields["error"], fields.get("error_description", "")
    challenge = response.headers.get("www-authenticate", "")
    if "error=" in challenge:
        return challenge.split('error="', 1)[-1].split('"', 1)[0], ""
    return f"HTTP {response.status_code}", ""
