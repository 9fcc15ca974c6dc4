"""Everything the mock remembers, in memory: IdP sessions, pending logins, codes, grants, the clock.

One lock guards it all: the server runs its handlers on one event loop, but notebooks and
tests may also call the Python API (advance the clock, reset) from another thread.

Nothing grows without bound: each kind of state is an `ExpiringMap` (expiring.py) that
forgets an entry when it can no longer be used, by the mock's clock (so `advance_clock`
expires it too), and holds at most a fixed number, dropping the oldest first. A request that
would make a stored entry large is refused instead (`check_request_size`).
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

from .config import (
    ACCESS_TOKEN_LIFETIME, CODE_LIFETIME, LOGIN_REQUEST_LIFETIME, SESSION_LIFETIME, TEN_YEARS, Client, MockConfig,
    User,
)
from .expiring import ExpiringMap
from .params import BadParameters

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
    """Codes, refresh-token secrets and session cookies are stored hashed, as Authgear stores them."""
    return hashlib.sha256(value.encode()).hexdigest()


# A stored authorization request (a pending login, a code's nonce) holds at most this many
# bytes of parameters, names and values together: several times a large real one (an
# id_token_hint and a long state are a few KiB), a GET or a POSTed form alike.
MAX_REQUEST_SIZE = 16 * 1024


# What a pending login keeps of its authorization request: the parameters the mock reads
# later (the code, the answer's mode and state, the select-account decision). Anything else a
# client sends is not stored, so a request cannot fill memory with many small fields.
AUTHORIZATION_PARAMS = frozenset({
    "client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce", "prompt",
    "max_age", "login_hint", "id_token_hint", "ui_locales", "code_challenge", "code_challenge_method",
    "x_suppress_idp_session_cookie",
})
FIELD_OVERHEAD = 64  # bytes a stored field costs beyond its text (two str objects, a dict slot)


def check_request_size(params: dict[str, str]) -> None:
    """Raises BadParameters (the endpoints answer it with a 400 error page) when the
    parameters are too large to be kept."""
    size = sum(FIELD_OVERHEAD + len(name.encode()) + len(value.encode()) for name, value in params.items())
    if size > MAX_REQUEST_SIZE:
        raise BadParameters(
            f"the authorization request is too large: {size} bytes of parameters, at most {MAX_REQUEST_SIZE}"
        )


@dataclasses.dataclass(frozen=True)
class Limits:
    """How many of each kind the store keeps; past that the oldest is dropped first.

    Far above what a classroom makes (a learner makes a few logins a minute, and pending
    logins and codes expire within 20 and 5 minutes), yet the worst case stays bounded: a
    pending login keeps only the parameters in AUTHORIZATION_PARAMS and a code four of them,
    each charged its text plus FIELD_OVERHEAD up to MAX_REQUEST_SIZE, so 5,000 of either are
    at most about 85 MiB; a session with its cookie record is about 0.5 KiB, a grant
    about 1 KiB, an access-token or revocation record about 0.2 KiB (about 5, 20, 10 and
    10 MiB when full). What a dropped entry means is what its expiry means: a pending login
    shows the "expired" page, a code or refresh token is invalid_grant, an access token is
    refused by userinfo, a session is logged out.

    The strict profile (profiles.py) also remembers redeemed codes and rotated-out refresh
    tokens, about 0.2 KiB each (about 1 and 10 MiB when full); a record dropped at the cap
    means that a replay of that code or token is answered invalid_grant without revoking
    anything, as Authgear answers it. The Authgear profile keeps none.
    """

    login_requests: int = 5_000
    codes: int = 5_000
    sessions: int = 10_000  # and as many session-cookie records
    grants: int = 20_000  # a grant outlives its session's logins: refresh tokens last weeks
    access_tokens: int = 50_000  # several per grant: each refresh issues one
    revoked_access_tokens: int = 50_000
    redeemed_codes: int = 5_000  # strict profile only: replay detection
    retired_refresh_tokens: int = 50_000  # strict profile only: reuse detection


@dataclasses.dataclass
class IdpSession:
    id: str
    user_sub: str
    auth_time: int
    amr: list[str]
    expires_at: int
    # digest() of the browser's cookie secret (open_session): never the id, which is the `sid`.
    cookie_digest: str = dataclasses.field(default="", repr=False)


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
    def __init__(self, config: MockConfig, limits: Limits | None = None) -> None:
        self.lock = threading.RLock()
        self.initial_config = config.copy()
        self.limits = limits or Limits()
        self.reset()

    def reset(self) -> None:
        """Back to the starting config; everything remembered is forgotten. Each map expires
        its entries on the mock's clock and holds at most what `self.limits` says."""
        with self.lock:
            self.config = self.initial_config.copy()
            self.clock_offset = 0
            limits = self.limits

            def expiring(cap: int) -> ExpiringMap[Any]:
                return ExpiringMap(self.now, cap, self.lock)

            # Until its expires_at.
            self.sessions: ExpiringMap[IdpSession] = expiring(limits.sessions)
            # digest(cookie secret) -> session id, until the session's expires_at.
            self.session_cookies: ExpiringMap[str] = expiring(limits.sessions)
            # LOGIN_REQUEST_LIFETIME (20 min) after the authorization request.
            self.login_requests: ExpiringMap[LoginRequest] = expiring(limits.login_requests)
            # By digest(code), CODE_LIFETIME (300 s) after it was issued.
            self.codes: ExpiringMap[AuthorizationCode] = expiring(limits.codes)
            # Until neither its refresh token nor any of its access tokens can be used.
            self.grants: ExpiringMap[Grant] = expiring(limits.grants)
            # jti -> grant id, until the access token's exp.
            self.access_tokens: ExpiringMap[str] = expiring(limits.access_tokens)
            # jti -> True, until the revoked access token's exp (it is refused by then anyway).
            self.revoked_access_tokens: ExpiringMap[bool] = expiring(limits.revoked_access_tokens)
            # Strict profile only. digest(code) -> the grant its redemption created, until the
            # code would have expired.
            self.redeemed_codes: ExpiringMap[str] = expiring(limits.redeemed_codes)
            # Strict profile only. digest(rotated-out refresh token) -> its grant id, until the
            # grant's refresh token would have died of age.
            self.retired_refresh_tokens: ExpiringMap[str] = expiring(limits.retired_refresh_tokens)

    # -- the clock: learners advance it to make codes and tokens expire on demand
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def advance_clock(self, seconds: int) -> int:
        with self.lock:
            return self.set_clock_offset(self.clock_offset + int(seconds))

    def set_clock_offset(self, seconds: int) -> int:
        """The clock stays within ten years of real time either way: past it tokens carry dates
        no client reads (Python's datetime ends at year 9999). Raises ValueError, unchanged."""
        with self.lock:
            if abs(int(seconds)) > TEN_YEARS:
                raise ValueError(f"would put the clock {int(seconds)} seconds from real time: it stays "
                                 f"within ten years ({TEN_YEARS} seconds) either way; "
                                 "send {'offset': 0} to go back to real time")
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
    def _new_session(self, user: User, amr: list[str]) -> IdpSession:
        with self.lock:
            now = self.now()
            session = IdpSession(str(uuid.uuid4()), user.sub, now, amr, now + SESSION_LIFETIME)
            self.sessions.put(session.id, session, session.expires_at)
            return session

    def open_session(self, user: User, amr: list[str]) -> tuple[IdpSession, str]:
        """A new IdP session and the secret for the browser's cookie. The secret is not the
        session id (the `sid` of every ID token, which relying parties see): the store keeps
        only its digest, so neither an ID token nor the store can be replayed as a cookie."""
        with self.lock:
            session = self._new_session(user, amr)
            cookie = secrets.token_urlsafe(32)
            session.cookie_digest = digest(cookie)
            self.session_cookies.put(session.cookie_digest, session.id, session.expires_at)
            return session, cookie

    def session_for_cookie(self, value: str | None) -> IdpSession | None:
        """The live session whose cookie secret (from open_session) is `value`, else None."""
        if not value:
            return None
        hashed = digest(value)
        with self.lock:
            session = self.live_session(self.session_cookies.get(hashed))
            if session is None or not hmac.compare_digest(session.cookie_digest, hashed):
                return None
            return session

    def live_session(self, session_id: str | None) -> IdpSession | None:
        session = self.sessions.get(session_id)
        if session is None or self.user(session.user_sub) is None:
            return None
        return session

    def end_session(self, session_id: str) -> bool:
        """Ends the IdP session, its cookie, and every grant (refresh token, access tokens)
        issued from it."""
        with self.lock:
            session = self.sessions.pop(session_id)
            if session is not None and session.cookie_digest:
                self.session_cookies.pop(session.cookie_digest)
            for grant in self.grants.values():
                if grant.session_id == session_id:
                    grant.revoked = True
            return session is not None

    # -- pending logins
    def create_login_request(self, client_id: str, params: dict[str, str], redirect_uri: str,
                             browser: str) -> LoginRequest:
        """Keeps the parameters the mock reads later (AUTHORIZATION_PARAMS); raises
        BadParameters when they are too large to keep."""
        params = {name: value for name, value in params.items() if name in AUTHORIZATION_PARAMS}
        check_request_size(params)
        with self.lock:
            request = LoginRequest(
                secrets.token_urlsafe(24), client_id, params, redirect_uri, self.now() + LOGIN_REQUEST_LIFETIME, browser
            )
            self.login_requests.put(request.id, request, request.expires_at)
            return request

    def login_request(self, request_id: str | None) -> LoginRequest | None:
        return self.login_requests.get(request_id)

    def finish_login_request(self, request_id: str) -> None:
        self.login_requests.pop(request_id)

    # -- authorization codes: single use, 5 minutes, stored hashed
    def issue_code(self, **fields: Any) -> str:
        """Raises BadParameters when what the code would keep is too large."""
        # Scope is a set (RFC 6749 §3.3): a repeated scope is kept once, so a long
        # "openid openid ..." cannot become thousands of strings in every code and grant.
        fields["scopes"] = list(dict.fromkeys(fields["scopes"]))
        check_request_size({
            "redirect_uri": fields["redirect_uri"],
            "scope": " ".join(fields["scopes"]),
            "nonce": fields.get("nonce") or "",
            "code_challenge": fields.get("code_challenge") or "",
        })
        with self.lock:
            code = random_alphanumeric(32)
            expires_at = self.now() + CODE_LIFETIME
            self.codes.put(digest(code), AuthorizationCode(expires_at=expires_at, **fields), expires_at)
            return code

    def find_code(self, code: str) -> AuthorizationCode | None:
        return self.codes.get(digest(code))

    def consume_code(self, code: str) -> bool:
        """Deletes the code; False if another exchange consumed it first."""
        return self.codes.pop(digest(code)) is not None

    def remember_redeemed_code(self, code: str, grant: Grant, expires_at: int) -> None:
        """Strict profile: the grant the code's redemption created, so that a replay of the code
        (until `expires_at`, when it would have expired anyway) can revoke it."""
        self.redeemed_codes.put(digest(code), grant.id, expires_at)

    def grant_of_redeemed_code(self, code: str) -> Grant | None:
        """The grant a redeemed code created (revoked or not), if the code was redeemed lately."""
        return self.grants.get(self.redeemed_codes.get(digest(code)))

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
            refresh_token = self.rotate_refresh_token(grant) if offline else None
            self.keep_grant(grant, now + self.access_token_lifetime(grant))
            return grant, refresh_token

    def access_token_lifetime(self, grant: Grant) -> int:
        client = self.client(grant.client_id)
        return client.access_token_lifetime if client else ACCESS_TOKEN_LIFETIME

    def keep_grant(self, grant: Grant, at_least: int = 0) -> None:
        """(Re)stores the grant as the newest, until the later of `at_least` (its newest
        access token's exp), when its refresh token stops working (the client's absolute
        lifetime and idle timeout, from its last use), and what it was kept until so far."""
        with self.lock:
            until = max(at_least, int(self.grants.expiry(grant.id) or 0))
            client = self.client(grant.client_id)
            if grant.refresh_secret_hash is not None and client is not None:
                until = max(until, min(grant.created_at + client.refresh_token_lifetime,
                                       grant.last_used_at + client.refresh_token_idle))
            self.grants.put(grant.id, grant, until)

    def rotate_refresh_token(self, grant: Grant) -> str:
        with self.lock:
            secret = random_alphanumeric(32)
            grant.refresh_secret_hash = digest(secret)
            return f"{grant.id}.{secret}"

    def retire_refresh_token(self, token: str, grant: Grant) -> None:
        """Strict profile: remembers a refresh token that rotation is about to replace, so that
        presenting it again can be told from a token that never existed (reuse detection)."""
        with self.lock:
            client = self.client(grant.client_id)
            lifetime = client.refresh_token_lifetime if client is not None else 0
            self.retired_refresh_tokens.put(digest(token), grant.id, grant.created_at + lifetime)

    def grant_of_retired_refresh_token(self, token: str) -> Grant | None:
        """The grant of a rotated-out refresh token (revoked or not), else None."""
        return self.grants.get(self.retired_refresh_tokens.get(digest(token)))

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
        grant = self.grants.get(grant_id)
        if grant is None or grant.revoked:
            return None
        if self.sessions.get(grant.session_id) is None:
            return None
        return grant

    # -- access tokens: JWTs, but the server still checks its store (as Authgear does)
    def remember_access_token(self, jti: str, grant: Grant, expires_at: int | None = None) -> None:
        """Records an access token until its exp (by default: now + the client's lifetime,
        never earlier than the exp the token was signed with a moment before); the grant is
        kept at least as long, and becomes the newest (a used grant is never the oldest)."""
        with self.lock:
            if expires_at is None:
                expires_at = self.now() + self.access_token_lifetime(grant)
            self.access_tokens.put(jti, grant.id, expires_at)
            self.keep_grant(grant, expires_at)

    def access_token_grant(self, jti: str) -> Grant | None:
        if jti in self.revoked_access_tokens:
            return None
        return self.live_grant(self.access_tokens.get(jti))

    def revoke_access_token(self, jti: str) -> None:
        """The record goes (so a revocation dropped at the cap can never bring the token back);
        the revocation is remembered until the token's exp."""
        with self.lock:
            expires_at = self.access_tokens.expiry(jti)
            self.access_tokens.pop(jti)
            if expires_at is not None:
                self.revoked_access_tokens.put(jti, True, expires_at)
