"""Keeping the access token usable, the tutorial's step 6 done right:

- refresh a little before `expires_at` (CLOCK_SKEW seconds early), by the app's clock;
- refresh once more when a resource server answers 401 anyway (the token was revoked, the
  user logged out elsewhere, or the clocks disagree);
- keep the new refresh token when one comes back (rotation), else keep the old one;
- when the refresh itself fails, the session's tokens are dropped and the browser is sent to
  log in again (LoginRequired) instead of crashing.

Refreshes of one session are serialised by the session's lock: two tabs must not both
spend a rotating token. Logout and a new login take the same lock, and a refresh stores
its result only if the session still holds the tokens it refreshed: a logout (or a new
login) that happened meanwhile is never undone by a refresh that finished after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from .clock import clock_time
from .errors import InvalidIdToken, LoginRequired, ProviderError, TokenRejected, WalkthroughError
from .jwt_checks import CLOCK_SKEW
from .oidc_client import OidcClient
from .sessions import SessionData, Tokens

T = TypeVar("T")


def drop(session: SessionData, tokens: Tokens) -> None:
    """Logs the session out, if it still holds these tokens (not newer ones from another login)."""
    if session.tokens is tokens:
        session.log_out()


class TokenKeeper:
    def __init__(self, client: OidcClient) -> None:
        self.client = client

    async def tokens(self, session: SessionData, *, rejected: Tokens | None = None) -> Tokens:
        """Tokens good for the next call. `rejected`: tokens a resource server just refused."""
        async with session.lock:
            tokens = session.tokens
            if tokens is None:
                raise LoginRequired("There are no tokens in this session.")
            now = self.client.clock.now()
            if rejected is not None and tokens is not rejected:
                return tokens  # another request refreshed them meanwhile
            if rejected is None and now < tokens.expires_at - CLOCK_SKEW:
                return tokens
            if rejected is not None:
                why = "The access token was refused with 401 before its expiry, so the app tries one refresh."
            else:
                why = (f"The access token expires at {clock_time(tokens.expires_at)} by the app's clock; it is "
                       f"{clock_time(now)}, so the app refreshes it before using it.")
            if not tokens.refresh_token:
                drop(session, tokens)
                raise LoginRequired("The access token expired and there is no refresh token.")
            try:
                fresh = await self.client.refresh(tokens, session.steps, why)
            except ProviderError as exc:
                drop(session, tokens)
                raise LoginRequired(f"The refresh failed ({exc.error or exc.title}).") from None
            except InvalidIdToken:
                drop(session, tokens)  # a refreshed ID token that fails a check ends the session
                raise
            if session.tokens is not tokens:
                # Logged out (or logged in anew) while the refresh was on the wire: what the
                # session holds now wins; the refreshed tokens are not brought back, and their
                # refresh token, which nobody holds now, is revoked.
                if fresh.refresh_token:
                    try:
                        await self.client.revoke(fresh.refresh_token, session.steps)
                    except WalkthroughError:
                        pass  # recorded in the step log
                if session.tokens is None:
                    raise LoginRequired("The session was logged out while its access token was being refreshed.")
                return session.tokens
            session.tokens = fresh
            rotated = " and a new refresh token (rotation)" if fresh.rotations > tokens.rotations else ""
            session.notice(f"The access token was refreshed: a new access token{rotated}, valid until "
                           f"{clock_time(fresh.expires_at)}.")
            return fresh

    async def call(self, session: SessionData, use: Callable[[str], Awaitable[T]]) -> T:
        """Calls `use(access_token)`; on 401 refreshes once and calls again."""
        tokens = await self.tokens(session)
        try:
            return await use(tokens.access_token)
        except TokenRejected:
            tokens = await self.tokens(session, rejected=tokens)
        try:
            return await use(tokens.access_token)
        except TokenRejected:
            async with session.lock:
                drop(session, tokens)
            raise LoginRequired("The access token was refused even after a refresh.") from None
