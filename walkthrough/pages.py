"""The app's pages, the tutorial's routes: `/` (landing, or "Welcome <email>" and the
userinfo), `/login`, `/auth-redirect`, `/logout`, and `/call-api` (the tutorial's "next
step": call an API with the access token). Errors are raised as values (errors.py) and
become pages in app.py.
"""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kit import advice
from .clock import Clock
from .errors import BadForm, LoginFailed, ProviderUnreachable, WalkthroughError
from .oidc_client import OidcClient, new_logout_state
from .refresh import TokenKeeper
from .render import View
from .sessions import PendingLogin, SessionData, current, renew
from .steps import Step, short
from .wire import Wire

# What the callback's `error` means (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6), for people.
CALLBACK_ERRORS = {
    "access_denied": ("You cancelled the login",
                      "Authgear sent your browser back with error=access_denied: the login was cancelled, "
                      "so the app has no code to exchange and nobody is logged in."),
    "login_required": ("Authgear needs you to log in", "There is no Authgear session to continue silently."),
    "invalid_scope": ("The app asked for a scope Authgear does not allow", ""),
    "invalid_request": ("Authgear rejected the login request", ""),
    "unauthorized_client": ("This client may not log in this way", "Check the application's settings in the portal."),
    "server_error": ("Authgear had a problem", "Try again in a moment."),
    "temporarily_unavailable": ("Authgear is busy", "Try again in a moment."),
}


FORM_LIMIT = 8 * 1024  # bytes: the app's forms carry one token


async def small_form(request: Request) -> dict[str, str]:
    """A urlencoded form of at most FORM_LIMIT bytes; anything else reads as empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return {}
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs[:20])


def callback_why(params: Mapping[str, str]) -> str:
    """The callback step's text, saying what actually came back: a code, or an error (a
    cancelled login brings error=access_denied, no code). Only names the app knows are
    quoted: the values come from a URL anyone can make until state is checked."""
    came = [name for name in ("code", "error", "state") if name in params]
    error = params.get("error", "")
    if "error" in came and error in CALLBACK_ERRORS:
        came[came.index("error")] = f"error={error}"
    listed = " and ".join(came) if came else "neither code, error nor state"
    if "error" in params:
        what = ("the login was cancelled" if error == "access_denied" else "the login did not succeed")
        answer = (f"Authgear's 303 sends the browser back here with {listed} in the query: {what}"
                  + (", so there is no code to exchange." if "code" not in params else "."))
    else:
        answer = f"Authgear's 303 sends the browser back here with {listed} in the query."
    return answer + " The app first checks state against the logins this browser started."


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def same_secret(sent: str, kept: str) -> bool:
    """Constant-time comparison of a value from the request with one the session keeps.
    Bytes, not str: hmac.compare_digest raises TypeError on a str that is not ASCII."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), kept.encode("utf-8", "surrogatepass"))


class Pages:
    def __init__(self, client: OidcClient, keeper: TokenKeeper, view: View, clock: Clock, wire: Wire,
                 api_url: str) -> None:
        self.client = client
        self.keeper = keeper
        self.view = view
        self.clock = clock
        self.wire = wire
        self.api_url = api_url  # from the configured origin, never from the request's Host header

    async def sync_clock(self) -> None:
        await run_in_threadpool(self.clock.sync)

    # GET / ------------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        session = current(request)
        state = request.query_params.get("state")
        if state is not None:
            if session.logout_state and same_secret(state, session.logout_state):
                # OIDC RP-Initiated Logout §3: Authgear sends our `state` back with the redirect.
                session.logout_state = None
                session.notice("You are logged out of this app and of Authgear (the end_session redirect came "
                               "back with the state the app sent). The next Login asks for your password again.")
            # Checked: on to a clean address, so the state does not stay in the address bar,
            # the history or a bookmark.
            return see_other("/")
        if session.tokens is None:
            return self.view.page(request, session, "index.html")
        await self.sync_clock()
        sub = session.tokens.id_claims.get("sub")  # the userinfo must be about the same user (OIDC Core §5.3.2)
        userinfo = await self.keeper.call(session, lambda token: self.client.userinfo(token, session.steps, sub))
        if session.tokens is None:  # logged out (in another tab) while this page was loading
            return self.view.page(request, session, "index.html")
        session.userinfo = userinfo
        api_result, session.api_result = session.api_result, None
        return self.view.page(request, session, "home.html", userinfo=session.userinfo, tokens=session.tokens,
                              api_result=api_result)

    # GET /login -------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        session = current(request)
        login = PendingLogin.new()
        session.add_pending(login)
        return see_other(await self.client.authorization_url(login, session.steps))

    # GET /auth-redirect -----------------------------------------------------------------
    async def callback(self, request: Request) -> Response:
        session = current(request)
        params = request.query_params
        step = Step("callback", "Your browser comes back to the redirect URI", actor="browser",
                    why=callback_why(params))
        step.set_request("GET", str(request.url))
        session.steps.add(step)

        state = params.get("state", "")
        login = session.take_pending(state) if state else None  # single use, even on errors
        error = params.get("error")
        if login is None:
            # Checked before anything else in the URL is believed, errors included: anyone can
            # send a browser here with error_description="call this number" (RFC 6749 §10.12),
            # so nothing from a URL this browser's login did not cause is shown.
            step.ok = False
            step.note = ("state unknown to this browser's session: refused. The URL's names and values are cut "
                         "to their first characters: they come from whoever made the link.")
            step.query = [(short(name), short(value)) for name, value in step.query]
            raise LoginFailed(
                "The state in this URL does not belong to a login this browser started (or it was used already).",
                title="State mismatch: this login was refused",
                hint="This check stops login CSRF: an attacker's code, pushed into your browser, would log you in "
                     "as the attacker. Start a new login from this app.",
            )
        if error:
            step.ok = False
            title, explanation = CALLBACK_ERRORS.get(error, ("Authgear sent back an error", ""))
            description = params.get("error_description") or ""
            what_next = advice.callback_error(error, description, self.client.settings)
            if what_next:
                step.note = what_next.meaning
            raise LoginFailed(explanation or f"Authgear sent your browser back with error={error}.",
                              title=title, error=error, error_description=description or None,
                              next_step=what_next.next_step if what_next else None,
                              start_over=what_next.start_over if what_next else True)
        if login.expired:
            step.ok = False
            raise LoginFailed("This login was started more than 15 minutes ago.", title="This login took too long")
        code = params.get("code")
        if not code:
            step.ok = False
            raise LoginFailed("The URL has neither a code nor an error.", title="No authorization code in the URL",
                              hint="Some proxies drop the query string of a redirect; check the URL you landed on.")
        await self.sync_clock()
        tokens = await self.client.exchange_code(code, login, session.steps)
        async with session.lock:  # not in the middle of another tab's refresh
            session.log_out()
            session.tokens = tokens
            renew(request, session)  # a new session id once logged in (session fixation)
        return see_other("/")

    # GET /logout: the tutorial's link; it asks, because a GET must not log anyone out ------
    async def logout_page(self, request: Request) -> Response:
        session = current(request)
        if session.tokens is None:
            return see_other("/")
        return self.view.page(request, session, "logout.html")

    # POST /logout -----------------------------------------------------------------------
    async def logout(self, request: Request) -> Response:
        session = current(request)
        await self.check_form(request, session)
        # The session's lock: a refresh running in another tab finishes first, and then its
        # tokens (the refresh token it may just have rotated) are the ones dropped and revoked.
        async with session.lock:
            tokens = session.tokens
            if tokens is None:
                return see_other("/")
            session.log_out()  # the app's side first: whatever happens next, this session is over
            state = new_logout_state()
            session.logout_state = state
            renew(request, session)
        if tokens.refresh_token:
            try:
                await self.client.revoke(tokens.refresh_token, session.steps)
            except WalkthroughError:
                pass  # recorded in the step log; end_session below ends the grant as well
        return see_other(await self.client.end_session_url(tokens.id_token, state, session.steps))

    # POST /call-api ---------------------------------------------------------------------
    async def call_api(self, request: Request) -> Response:
        session = current(request)
        await self.check_form(request, session)
        if session.tokens is None:
            return see_other("/")
        await self.sync_clock()
        url = self.api_url
        tokens = await self.keeper.tokens(session)
        try:
            result = await self.call_once(session, url, tokens.access_token)
            if result["status"] == 401:
                tokens = await self.keeper.tokens(session, rejected=tokens)
                result = await self.call_once(session, url, tokens.access_token)
        except ProviderUnreachable as exc:
            result = {"status": None, "body": exc.message, "challenge": None}
        if session.tokens is not None:  # not logged out meanwhile
            session.api_result = result
        return see_other("/")

    async def call_once(self, session: SessionData, url: str, access_token: str) -> dict[str, Any]:
        step = Step("api", "Call the protected API",
                    why="The access token (not the ID token) goes to the API as a Bearer token; "
                        "the API checks its signature, issuer, audience, expiry and scope by itself.")
        answer = await self.wire.call(session.steps, step, "GET", url,
                                      headers={"Authorization": "Bearer " + access_token})
        return {"status": answer.status, "body": step.response_body,
                "challenge": answer.headers.get("WWW-Authenticate")}

    async def check_form(self, request: Request, session: SessionData) -> None:
        """POSTs carry the session's CSRF token (SameSite=Lax already keeps other sites'
        posts cookie-less; the token also covers old browsers and same-site attackers)."""
        sent = (await small_form(request)).get("csrf_token")
        if not isinstance(sent, str) or not same_secret(sent, session.csrf_token):
            raise BadForm("The form was not sent from this session's page (or the page is older than your last "
                          "login or logout). Nothing was done.", hint="Go back to the home page and try again.")

