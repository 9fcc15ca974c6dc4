"""Sessions kept on the server. The browser's cookie (`walkthrough_session`, signed by
Starlette's SessionMiddleware, HttpOnly, SameSite=Lax) holds only a random id; the tokens,
the pending logins' state, nonce and PKCE verifier, and the step log stay here.

The tutorial's express-session also keeps data on the server; what changes here is the
secret (never a constant), the cookie's own name (cookies on localhost are shared by every
port) and SameSite. The id is replaced after each login (session fixation, OWASP).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from typing import Any

from starlette.requests import Request

from .steps import StepLog

COOKIE_NAME = "walkthrough_session"
IDLE_LIFETIME = 12 * 3600  # seconds without a request before a session is forgotten
MAX_SESSIONS = 2000
PENDING_LIFETIME = 15 * 60  # seconds a started login may take
MAX_PENDING = 5  # logins started in other tabs still work; an endless stream does not grow memory


@dataclasses.dataclass
class PendingLogin:
    """One started login: the three values that tie the callback to it (RFC 6749 §10.12,
    OIDC Core §3.1.2.1 nonce, RFC 7636 PKCE). Never sent to the browser except as the
    authorization request's `state`, `nonce` and `code_challenge`."""

    state: str
    nonce: str
    code_verifier: str
    started_at: float = dataclasses.field(default_factory=time.time)

    @classmethod
    def new(cls) -> "PendingLogin":
        # RFC 7636 §4.1: 43-128 characters; 64 random bytes give 86.
        return cls(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                   code_verifier=secrets.token_urlsafe(64))

    @property
    def expired(self) -> bool:
        return time.time() - self.started_at > PENDING_LIFETIME


@dataclasses.dataclass
class Tokens:
    access_token: str
    id_token: str
    id_claims: dict[str, Any]
    expires_at: float  # by the app's clock: when the answer came + expires_in
    refresh_token: str | None
    obtained_at: float
    refreshes: int = 0
    rotations: int = 0  # how many times a refresh brought a new refresh token


@dataclasses.dataclass
class SessionData:
    id: str
    csrf_token: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(24))
    pending: dict[str, PendingLogin] = dataclasses.field(default_factory=dict)  # by state
    tokens: Tokens | None = None
    userinfo: dict[str, Any] | None = None
    api_result: dict[str, Any] | None = None
    logout_state: str | None = None
    relogin_at: float = 0.0  # when the app last sent the browser to log in again by itself
    notices: list[str] = dataclasses.field(default_factory=list)
    shown_until: int = 0  # the last step number a page has shown: later ones are new
    steps: StepLog = dataclasses.field(default_factory=StepLog)
    last_seen: float = dataclasses.field(default_factory=time.time)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock, repr=False)

    def add_pending(self, login: PendingLogin) -> None:
        for state, old in list(self.pending.items()):
            if old.expired:
                del self.pending[state]
        self.pending[login.state] = login
        while len(self.pending) > MAX_PENDING:
            del self.pending[next(iter(self.pending))]

    def take_pending(self, state: str) -> PendingLogin | None:
        """Single use: a state value is good for one callback only."""
        return self.pending.pop(state, None)

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def take_notices(self) -> list[str]:
        notices, self.notices = self.notices, []
        return notices

    def log_out(self) -> None:
        self.tokens = None
        self.userinfo = None
        self.api_result = None
        self.pending.clear()


class SessionStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionData] = {}

    def _expire(self, now: float) -> None:
        for sid, data in list(self._sessions.items()):
            if now - data.last_seen > IDLE_LIFETIME:
                del self._sessions[sid]
        while len(self._sessions) > MAX_SESSIONS:
            # Sessions nobody logged in to go first, the least recently seen of them: a flood of
            # cookie-less requests (each one a new session) must not log anyone out.
            oldest = min(self._sessions.values(), key=lambda d: (d.tokens is not None, d.last_seen))
            del self._sessions[oldest.id]

    def get(self, sid: Any) -> SessionData | None:
        with self._lock:
            data = self._sessions.get(sid) if isinstance(sid, str) else None
            if data is not None:
                data.last_seen = time.time()
            return data

    def create(self) -> SessionData:
        with self._lock:
            self._expire(time.time())
            data = SessionData(id=secrets.token_urlsafe(32))
            self._sessions[data.id] = data
            return data

    def renew_id(self, data: SessionData) -> None:
        """Same data, a new id: the id a browser had before logging in is worthless after."""
        with self._lock:
            self._sessions.pop(data.id, None)
            data.id = secrets.token_urlsafe(32)
            data.csrf_token = secrets.token_urlsafe(24)
            self._sessions[data.id] = data

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)


def current(request: Request) -> SessionData:
    """This browser's session, created on first use. The signed cookie carries only its id."""
    store: SessionStore = request.app.state.sessions
    data = store.get(request.session.get("id"))
    if data is None:
        data = store.create()
        request.session["id"] = data.id
    return data


def renew(request: Request, data: SessionData) -> None:
    request.app.state.sessions.renew_id(data)
    request.session["id"] = data.id
