"""What can go wrong, as values: raised where it is detected, turned into a page in one
place (`app.py`). Every error page says what happened, why it matters and what to do next:
**Start over** where a fresh login helps, plain words about the setting to fix where it
cannot (a wrong client secret stays wrong however often you log in); none shows a stack trace.
"""

from __future__ import annotations


class WalkthroughError(Exception):
    """An error the learner sees as a page: a title, what happened, and what to do."""

    status_code = 400
    title = "Something went wrong"

    def __init__(self, message: str, *, title: str | None = None, error: str | None = None,
                 error_description: str | None = None, hint: str | None = None,
                 status_code: int | None = None, next_step: str | None = None,
                 start_over: bool = True) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        if status_code is not None:
            self.status_code = status_code
        self.error = error  # an OAuth error code, e.g. "invalid_grant"
        self.error_description = error_description
        self.hint = hint
        self.next_step = next_step  # what to do about it, in plain words (see kit/advice.py)
        self.start_over = start_over  # whether a fresh login can help: offer "Start over" only then


class LoginFailed(WalkthroughError):
    """The callback could not complete a login: IdP error, state mismatch, missing code."""

    title = "The login did not complete"


class ProviderError(WalkthroughError):
    """Authgear answered, but with an OAuth error or an answer the app cannot use."""

    status_code = 502
    title = "Authgear refused the request"


class ProviderUnreachable(WalkthroughError):
    """No answer at all: connection refused, DNS, or the timeout ran out."""

    status_code = 502
    title = "Authgear could not be reached"


class InvalidIdToken(WalkthroughError):
    """The ID token failed one of the checks of OIDC Core §3.1.3.7."""

    status_code = 400
    title = "The ID token failed validation"


class BadForm(WalkthroughError):
    """A form post without the session's CSRF token (expired page, or another site)."""

    status_code = 400
    title = "This form has expired"


class TokenRejected(Exception):
    """A resource server (userinfo, the API) answered 401: the access token is no good.
    Not a page: the caller refreshes once, then falls back to a fresh login."""


class LoginRequired(Exception):
    """The tokens are gone for good (refresh failed or impossible): log in again.
    Turned into a redirect to /login, not into an error page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
