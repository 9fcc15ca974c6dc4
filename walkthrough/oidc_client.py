"""The app as an OAuth 2.0 / OpenID Connect client (a confidential "relying party"):
the authorization request, the code exchange, the ID token checks, userinfo, refresh,
revocation and logout. Each method records its exchange in the session's step log.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse
from typing import Any

from kit.settings import Settings

from kit import advice
from .clock import Clock
from .errors import InvalidIdToken, ProviderError, TokenRejected
from .jwt_checks import TokenCheckFailed, verify
from .provider import Provider
from .sessions import PendingLogin, Tokens
from .steps import Check, Step, StepLog
from .wire import Answer, Wire

# The tutorial asks for "openid offline_access"; email and profile put those claims in the
# ID token too (userinfo returns every attribute to a first-party client anyway).
SCOPES = "openid offline_access email profile"

TOKEN_ERRORS = {
    "invalid_grant": "The authorization code was already used, has expired, or does not match this login's "
                     "PKCE verifier. Codes are single use and live five minutes.",
    "invalid_client": "Authgear does not know this client_id (check AUTHGEAR_CLIENT_ID).",
    "invalid_request": "Authgear rejected the request's parameters; its description says which.",
    "unauthorized_client": "This client may not use this grant type (check the application's settings).",
}


MAX_EXPIRES_IN = 365 * 86400  # seconds: a longer expires_in is read as this (a year is "long" enough)
# OIDC Core §12.2: claims a refreshed ID token must carry unchanged from the first one.
SAME_AFTER_REFRESH = ("iss", "sub", "aud", "azp")


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []


def same_claim(name: str, new: dict[str, Any], old: dict[str, Any]) -> bool:
    if name == "aud":  # a string or an array (RFC 7519 §4.1.3): the same audiences either way
        return sorted(map(str, audiences(new))) == sorted(map(str, audiences(old)))
    return (name in new) == (name in old) and new.get(name) == old.get(name)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: S256, base64url without padding of SHA-256(verifier)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class OidcClient:
    def __init__(self, settings: Settings, provider: Provider, wire: Wire, clock: Clock,
                 post_logout_redirect_uri: str) -> None:
        self.settings = settings
        self.provider = provider
        self.wire = wire
        self.clock = clock
        self.post_logout_redirect_uri = post_logout_redirect_uri

    # -- RFC 6749 §4.1.1, OIDC Core §3.1.2.1 ----------------------------------------------
    async def authorization_url(self, login: PendingLogin, log: StepLog) -> str:
        metadata = await self.provider.metadata(log)
        params = {
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_url,
            "response_type": "code",
            "scope": SCOPES,
            "state": login.state,  # ties the callback to this browser: no login CSRF
            "nonce": login.nonce,  # comes back inside the ID token: no token replay
            "code_challenge": pkce_challenge(login.code_verifier),  # only this app can redeem the code
            "code_challenge_method": "S256",
        }
        step = Step("authorize", "Send the browser to the authorization endpoint", actor="browser",
                    why="The app answers GET /login with a 303 redirect to this URL; your browser follows it and "
                        "Authgear shows its login page. Only the challenge travels: state, nonce and the PKCE "
                        "verifier stay in the app's server-side session.")
        return browser_redirect(log, step, metadata.authorization_endpoint, params)

    # -- RFC 6749 §4.1.3 ------------------------------------------------------------------
    async def exchange_code(self, code: str, login: PendingLogin, log: StepLog) -> Tokens:
        metadata = await self.provider.metadata(log)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_url,  # the same as at authorize, exactly
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "code_verifier": login.code_verifier,
        }
        step = Step("token", "Exchange the code for tokens",
                    why="A back-channel POST: the client secret and the PKCE verifier prove it is this app, "
                        "and this login, redeeming the code.")
        answer = await self.wire.call(log, step, "POST", metadata.token_endpoint, form=form)
        body = self._token_body(answer, step, "The code exchange failed")
        tokens = Tokens(
            access_token=body["access_token"],
            id_token=body["id_token"],
            id_claims={},
            expires_at=self._expires_at(body),
            refresh_token=body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None,
            obtained_at=self.clock.now(),
        )
        tokens.id_claims = await self.validate_id_token(tokens.id_token, log, nonce=login.nonce)
        return tokens

    async def refresh(self, tokens: Tokens, log: StepLog, why: str) -> Tokens:
        """RFC 6749 §6. Raises ProviderError (e.g. invalid_grant) for the caller to fall back on."""
        assert tokens.refresh_token is not None
        metadata = await self.provider.metadata(log)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
        }
        step = Step("refresh", "Refresh the access token", why=why)
        answer = await self.wire.call(log, step, "POST", metadata.token_endpoint, form=form)
        body = self._token_body(answer, step, "The refresh failed", need_id_token=False)
        new_refresh = body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
        if new_refresh:
            step.note = "A new refresh token came back (rotation is on): the old one no longer works, so the app keeps the new one."
        else:
            step.note = "No new refresh token (rotation is off): the app keeps using the one it has."
        refreshed = Tokens(
            access_token=body["access_token"],
            id_token=tokens.id_token,
            id_claims=tokens.id_claims,
            expires_at=self._expires_at(body),
            refresh_token=new_refresh or tokens.refresh_token,
            obtained_at=self.clock.now(),
            refreshes=tokens.refreshes + 1,
            rotations=tokens.rotations + (1 if new_refresh else 0),
        )
        if isinstance(body.get("id_token"), str):
            refreshed.id_token = body["id_token"]
            refreshed.id_claims = await self.validate_id_token(body["id_token"], log, previous=tokens.id_claims)
        return refreshed

    def _expires_at(self, body: dict[str, Any]) -> float:
        # RFC 6749 §5.1: expires_in is relative, so the two clocks need not agree.
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or not expires_in > 0:
            expires_in = 300  # not sent (or not a positive number): assume a short life rather than forever
        return self.clock.now() + float(min(expires_in, MAX_EXPIRES_IN))  # min first: float(10**400) raises

    def _token_body(self, answer: Answer, step: Step, title: str, need_id_token: bool = True) -> dict[str, Any]:
        if not answer.ok:
            error, description = answer.error()
            what_next = advice.token_error(error, description, self.settings)
            step.note = what_next.meaning if what_next else TOKEN_ERRORS.get(error, "")
            raise ProviderError(
                f"Authgear's token endpoint answered HTTP {answer.status} with error {error!r}.",
                title=title, error=error, error_description=description,
                hint=None if what_next else TOKEN_ERRORS.get(error),
                status_code=400 if error in ("invalid_grant", "invalid_request") else 502,
                next_step=what_next.next_step if what_next else None,
                start_over=what_next.start_over if what_next else True,
            )
        body = answer.json if isinstance(answer.json, dict) else {}
        # RFC 6749 §5.1: access_token and token_type "Bearer" (case-insensitive) are required.
        missing = [name for name in ("access_token", "token_type") + (("id_token",) if need_id_token else ())
                   if not isinstance(body.get(name), str)]
        if missing or body["token_type"].lower() != "bearer":
            step.ok = False
            raise ProviderError(f"The token answer lacks {', '.join(missing) or 'a Bearer token_type'}.", title=title)
        return body

    # -- OIDC Core §3.1.3.7 and §12.2 -----------------------------------------------------
    async def validate_id_token(self, id_token: str, log: StepLog, nonce: str | None = None,
                                previous: dict[str, Any] | None = None) -> dict[str, Any]:
        step = Step("id_token", "Validate the ID token", actor="local",
                    why="Before trusting who logged in: the signature by the key the header's kid names, "
                        "then iss, aud (and azp), exp, iat" + (" and the nonce." if nonce else "; after a refresh, "
                        "the same iss, sub, aud, azp and auth_time as the first one, and no other nonce "
                        "(OIDC Core §12.2)."))

        async def key_for(kid: str):
            return await self.provider.signing_key(kid, log)

        try:
            claims, checks = await verify(id_token, key_for, issuer=self.provider.issuer,
                                          audience=self.settings.client_id, now=self.clock.now())
            # OIDC Core §3.1.3.7 steps 3-5: with more than one audience, the token must say it was
            # issued to this client (azp); an azp, when present, must be this client.
            client_id = self.settings.client_id
            azp = claims.get("azp")
            if len(audiences(claims)) > 1 and azp != client_id:
                raise TokenCheckFailed("azp: several audiences and no azp naming this client", checks + [
                    Check("azp", False, f"aud has {len(audiences(claims))} entries, so azp must be {client_id!r}")])
            if "azp" in claims and azp != client_id:
                raise TokenCheckFailed("azp: issued to another client", checks + [
                    Check("azp", False, f"is not {client_id!r}")])
            if "azp" in claims:
                checks.append(Check("azp", True, f"is {client_id}"))
            if nonce is not None:
                if claims.get("nonce") != nonce:
                    raise TokenCheckFailed("nonce: differs from the one this login sent", checks + [
                        Check("nonce", False, "differs from the one this login sent (a replayed token?)")])
                checks.append(Check("nonce", True, "matches the one this login sent"))
            if previous is not None:
                checks += self._same_as_before(claims, previous, checks)
        except TokenCheckFailed as failure:
            step.checks, step.ok = failure.checks, False
            log.add(step)
            raise InvalidIdToken(f"The check that failed: {failure.reason}.",
                                 hint="An ID token that fails a check must not log anyone in.") from None
        step.checks = checks
        log.add(step)
        return claims

    @staticmethod
    def _same_as_before(claims: dict[str, Any], previous: dict[str, Any], checks: list[Check]) -> list[Check]:
        """OIDC Core §12.2: a refreshed ID token speaks of the same login as the first one."""
        passed = []
        for name in SAME_AFTER_REFRESH:
            if not same_claim(name, claims, previous):
                what = "not the same user" if name == "sub" else "differs from the first ID token's"
                raise TokenCheckFailed(f"{name}: {what}", checks + passed + [
                    Check(name, False, f"{what} (after a refresh it must not change)")])
            if name in claims:
                passed.append(Check(name, True, "the same as in the first ID token"))
        # auth_time, when present, is still the time of the original authentication.
        if "auth_time" in claims:
            if claims["auth_time"] != previous.get("auth_time"):
                raise TokenCheckFailed("auth_time: not the time of the original login", checks + passed + [
                    Check("auth_time", False, "differs from the first ID token's: the refresh is not a new login")])
            passed.append(Check("auth_time", True, "the time of the original login"))
        # A nonce SHOULD be absent; if present, it is the first one's, never another.
        if "nonce" in claims:
            if claims["nonce"] != previous.get("nonce"):
                raise TokenCheckFailed("nonce: not the first ID token's", checks + passed + [
                    Check("nonce", False, "differs from the first ID token's nonce")])
            passed.append(Check("nonce", True, "the first ID token's"))
        return passed

    # -- OIDC Core §5.3, RFC 6750 ---------------------------------------------------------
    async def userinfo(self, access_token: str, log: StepLog,
                       expected_sub: str | None = None) -> dict[str, Any]:
        metadata = await self.provider.metadata(log)
        step = Step("userinfo", "Fetch the user's info",
                    why="The access token goes in the Authorization header (never in the URL).")
        answer = await self.wire.call(log, step, "GET", metadata.userinfo_endpoint,
                                      headers={"Authorization": "Bearer " + access_token})
        if answer.status == 401:
            step.note = "401: the access token is no longer accepted (expired, revoked, or logged out)."
            raise TokenRejected()
        if not answer.ok or not isinstance(answer.json, dict):
            error, description = answer.error()
            raise ProviderError(f"The userinfo endpoint answered HTTP {answer.status}.", title="Could not read your info",
                                error=error, error_description=description)
        if expected_sub is not None and answer.json.get("sub") != expected_sub:
            # OIDC Core §5.3.2: a userinfo answer about someone else must not be used.
            step.ok = False
            step.note = "The sub differs from the ID token's: the answer is not used."
            raise ProviderError("The userinfo answer is about another user (its sub differs from the ID token's), "
                                "so the app does not use it.", title="Could not read your info")
        return answer.json

    # -- RFC 7009 and OIDC RP-Initiated Logout 1.0 ----------------------------------------
    async def revoke(self, refresh_token: str, log: StepLog) -> None:
        metadata = await self.provider.metadata(log)
        if not metadata.revocation_endpoint:
            return
        step = Step("revoke", "Revoke the refresh token",
                    why="So the refresh token dies now, whatever happens to the logout redirect.")
        form = {"token": refresh_token, "token_type_hint": "refresh_token",
                "client_id": self.settings.client_id, "client_secret": self.settings.client_secret}
        await self.wire.call(log, step, "POST", metadata.revocation_endpoint, form=form)

    async def end_session_url(self, id_token: str, state: str, log: StepLog) -> str:
        metadata = await self.provider.metadata(log)
        params = {
            "id_token_hint": id_token,  # tells Authgear whose session and which app
            "post_logout_redirect_uri": self.post_logout_redirect_uri,  # must be registered, exactly
            "state": state,
        }
        step = Step("logout", "Log out at Authgear too (end_session)", actor="browser",
                    why="The app has dropped its own session and sends your browser here with a 303. Ending only "
                        "the app's session would leave Authgear's, and the next Login would be silent. Authgear "
                        "redirects back only to a registered post_logout_redirect_uri, with the state.")
        return browser_redirect(log, step, metadata.end_session_endpoint, params)


def browser_redirect(log: StepLog, step: Step, endpoint: str, params: dict[str, str]) -> str:
    """The URL the app sends the browser to (303), recorded as the step the browser makes."""
    url = endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)
    step.set_request("GET", url)
    log.add(step)
    return url


def new_logout_state() -> str:
    return secrets.token_urlsafe(16)
