"""Everything the mock remembers, in memory: IdP sessions, pending logins, codes, grants, the clock.

One lock guards it all: the server runs its handlers on one event loop, but notebooks and
tests may also call the Python API (advance the clock, reset) from another thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import string
import threading
import time
import uuid
from typing import Any

from .config import CODE_LIFETIME, LOGIN_REQUEST_LIFETIME, SESSION_LIFETIME, Client, MockConfig, User

ALPHANUMERIC = string.ascii_letters + string.digits


def random_alphanumeric(length: int) -> str:
    """Uniform over the 62 characters, from one read of the OS's randomness per call
    (secrets.choice per character costs a system call each: a token exchange makes two)."""
    chars: list[str] = []
    while len(chars) < length:
        # Bytes of 248 and up are dropped: 248 = 4 * 62, so byte % 62 stays uniform.
        chars += [ALPHANUMERIC[b % 62] for b in secrets.token_bytes(length + 8) if b < 248]
    return "".join(chars[:length])


def digest(value: str) -> str:
    """Codes and refresh-token secrets are stored hashed, as Authgear stores them."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclasses.dataclass
class IdpSession:
    id: str
    user_sub: str
    auth_time: int
    amr: list[str]
    expires_at: int


@dataclasses.dataclass
class LoginRequest:
    """An authorization request waiting for the user to log in on the login page."""

    id: str
    client_id: str
    params: dict[str, str]
    redirect_uri: str  # resolved: the one the answer goes to
    expires_at: int
    browser: str  # the browser it was started in (its mock_idp_browser cookie)


@dataclasses.dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None
    user_sub: str
    session_id: str
    auth_time: int
    amr: list[str]
    expires_at: int


@dataclasses.dataclass
class Grant:
    """What one code exchange created: its refresh token (if offline_access) and access tokens."""

    id: str
    client_id: str
    user_sub: str
    session_id: str
    scopes: list[str]
    auth_time: int
    amr: list[str]
    created_at: int
    last_used_at: int
    refresh_secret_hash: str | None = None
    revoked: bool = False


class Store:
    def __init__(self, config: MockConfig) -> None:
        self.lock = threading.RLock()
        self.initial_config = config.copy()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = self.initial_config.copy()
            self.clock_offset = 0
            self.sessions: dict[str, IdpSession] = {}
            self.login_requests: dict[str, LoginRequest] = {}
            self.codes: dict[str, AuthorizationCode] = {}  # by digest(code)
            self.grants: dict[str, Grant] = {}
            self.access_tokens: dict[str, str] = {}  # jti -> grant id
            self.revoked_access_tokens: set[str] = set()

    # -- the clock: learners advance it to make codes and tokens expire on demand
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def advance_clock(self, seconds: int) -> int:
        with self.lock:
            self.clock_offset += int(seconds)
            return self.clock_offset

    def set_clock_offset(self, seconds: int) -> int:
        with self.lock:
            self.clock_offset = int(seconds)
            return self.clock_offset

    # -- clients and users
    def client(self, client_id: str | None) -> Client | None:
        return self.config.clients.get(client_id) if client_id else None

    def user(self, sub: str) -> User | None:
        return self.config.user_by_sub(sub)

    def check_password(self, email: str, password: str) -> User | None:
        user = self.config.find_user(email)
        expected = user.password if user else "-" * 12
        # Compare even for an unknown email, so timing does not tell which emails exist.
        same = hmac.compare_digest(digest(password), digest(expected))
        return user if user and same else None

    # -- IdP sessions (the browser cookie)
    def create_session(self, user: User, amr: list[str]) -> IdpSession:
        with self.lock:
            now = self.now()
            session = IdpSession(str(uuid.uuid4()), user.sub, now, amr, now + SESSION_LIFETIME)
            self.sessions[session.id] = session
            return session

    def live_session(self, session_id: str | None) -> IdpSession | None:
        session = self.sessions.get(session_id) if session_id else None
        if session is None or session.expires_at <= self.now() or self.user(session.user_sub) is None:
            return None
        return session

    def end_session(self, session_id: str) -> bool:
        """Ends the IdP session and every grant (refresh token, access tokens) issued from it."""
        with self.lock:
            ended = self.sessions.pop(session_id, None) is not None
            for grant in self.grants.values():
                if grant.session_id == session_id:
                    grant.revoked = True
            return ended

    # -- pending logins
    def create_login_request(self, client_id: str, params: dict[str, str], redirect_uri: str,
                             browser: str) -> LoginRequest:
        with self.lock:
            request = LoginRequest(
                secrets.token_urlsafe(24), client_id, params, redirect_uri, self.now() + LOGIN_REQUEST_LIFETIME, browser
            )
            self.login_requests[request.id] = request
            return request

    def login_request(self, request_id: str | None) -> LoginRequest | None:
        request = self.login_requests.get(request_id) if request_id else None
        if request is None or request.expires_at <= self.now():
            return None
        return request

    def finish_login_request(self, request_id: str) -> None:
        with self.lock:
            self.login_requests.pop(request_id, None)

    # -- authorization codes: single use, 5 minutes, stored hashed
    def issue_code(self, **fields: Any) -> str:
        with self.lock:
            code = random_alphanumeric(32)
            self.codes[digest(code)] = AuthorizationCode(expires_at=self.now() + CODE_LIFETIME, **fields)
            return code

    def find_code(self, code: str) -> AuthorizationCode | None:
        found = self.codes.get(digest(code))
        if found is None or found.expires_at <= self.now():
            return None
        return found

    def consume_code(self, code: str) -> bool:
        """Deletes the code; False if another exchange consumed it first."""
        with self.lock:
            return self.codes.pop(digest(code), None) is not None

    # -- grants and refresh tokens `<grant-uuid>.<32 alphanumerics>`
    def create_grant(self, code: AuthorizationCode, offline: bool) -> tuple[Grant, str | None]:
        with self.lock:
            now = self.now()
            grant = Grant(
                id=str(uuid.uuid4()),
                client_id=code.client_id,
                user_sub=code.user_sub,
                session_id=code.session_id,
                scopes=code.scopes,
                auth_time=code.auth_time,
                amr=code.amr,
                created_at=now,
                last_used_at=now,
            )
            self.grants[grant.id] = grant
            refresh_token = self.rotate_refresh_token(grant) if offline else None
            return grant, refresh_token

    def rotate_refresh_token(self, grant: Grant) -> str:
        with self.lock:
            secret = random_alphanumeric(32)
            grant.refresh_secret_hash = digest(secret)
            return f"{grant.id}.{secret}"

    def grant_for_refresh_token(self, token: str) -> Grant | None:
        grant_id, _, secret = token.partition(".")
        grant = self.grants.get(grant_id)
        if grant is None or grant.revoked or grant.refresh_secret_hash is None:
            return None
        if not hmac.compare_digest(grant.refresh_secret_hash, digest(secret)):
            return None
        client = self.client(grant.client_id)
        now = self.now()
        if client is None or self.user(grant.user_sub) is None:
            return None
        if now >= grant.created_at + client.refresh_token_lifetime or now >= grant.last_used_at + client.refresh_token_idle:
            return None
        return grant

    def revoke_grant(self, grant: Grant) -> None:
        with self.lock:
            grant.revoked = True

    def live_grant(self, grant_id: str | None) -> Grant | None:
        """A grant whose access tokens still work: not revoked, its IdP session not ended."""
        grant = self.grants.get(grant_id) if grant_id else None
        if grant is None or grant.revoked:
            return None
        if grant.session_id not in self.sessions:
            return None
        return grant

    # -- access tokens: JWTs, but the server still checks its store (as Authgear does)
    def remember_access_token(self, jti: str, grant: Grant) -> None:
        with self.lock:
            self.access_tokens[jti] = grant.id

    def access_token_grant(self, jti: str) -> Grant | None:
        if jti in self.revoked_access_tokens:
            return None
        return self.live_grant(self.access_tokens.get(jti))

    def revoke_access_token(self, jti: str) -> None:
        with self.lock:
            self.revoked_access_tokens.add(jti)
