"""What to do next, in plain words, about the errors the kit can recognise from Authgear's
`error` and `error_description`: the ones a fresh login fixes (a code used twice or too
old) and the ones it cannot (a wrong client secret, an unknown client_id, a redirect URI
that is not registered), which need a setting fixed first. The walkthrough's error page
offers **Start over** only for the first kind; a notebook prints the advice under the answer.

The same diagnosis serves both; only the words for "restart" and "log in again" differ
(`Where`: the walkthrough app, or a notebook).

Authgear's words (as the bundled mock says them): a wrong secret is 400 `invalid_request`
"invalid client secret" (RFC 6749 §5.2 says 401 `invalid_client`), an unknown client is
`invalid_client` "invalid client ID", a redirect_uri other than the login's is
`invalid_request` "invalid redirect URI", a used or expired code is `invalid_grant`.
"""

from __future__ import annotations

import dataclasses

from .settings import Settings


@dataclasses.dataclass(frozen=True)
class Where:
    """How the advice words a restart and a new login, for the program the learner runs."""

    restart: str  # after "... in .env, "
    again: str  # how to get a new code


APP = Where(
    restart="then restart the app (Ctrl+C, then python -m walkthrough): it reads .env only when it starts. "
            "Logging in again before that fails the same way.",
    again="Start over: a new login brings a new code.")
NOTEBOOK = Where(
    restart="then restart the kernel (Kernel → Restart Kernel) and run the notebook from the top: connect() "
            "reads .env only when it runs.",
    again="Run the cell that shows the login link again (a new login brings a new code), then this one.")


@dataclasses.dataclass(frozen=True)
class Advice:
    meaning: str  # what the error says, in a line (the step log's note)
    next_step: str
    start_over: bool  # whether a fresh login, by itself, can help


def wrong_client_secret(settings: Settings, where: Where = APP) -> Advice:
    meaning = "The client secret the app sent is not this client's."
    if settings.room:
        return Advice(
            meaning, f"Check AUTHGEAR_CLIENT_SECRET in .env: copy it again from the room's join page "
            f"({settings.endpoint}/join, in the browser you joined with), " + where.restart, start_over=False)
    if settings.is_mock:
        return Advice(
            meaning, f"The app sends the bundled mock's demo secret, and the mock's client {settings.client_id} now expects "
            "another one (its clients were changed through the teaching API, POST /_mock/clients). Put the demo "
            f"client back (curl -X POST {settings.endpoint}/_mock/reset, or restart the mock), then log in again.",
            start_over=False)
    return Advice(
        meaning, "Check AUTHGEAR_CLIENT_SECRET in .env: copy the secret again from the Authgear portal (Applications → your "
        "application), with no quotes or spaces around it, " + where.restart, start_over=False)


def unknown_client_id(settings: Settings, where: Where = APP) -> Advice:
    meaning = "Authgear knows no client with this client_id."
    if settings.room:
        return Advice(
            meaning, f"The room knows no client {settings.client_id}: a room forgets everyone when it ends. Join "
            f"again at {settings.endpoint}/join and paste the new lines into .env, " + where.restart, start_over=False)
    if settings.is_mock:
        return Advice(
            meaning, f"The bundled mock has no client {settings.client_id} any more (removed or renamed through the "
            f"teaching API, /_mock/clients). Put the demo client back (curl -X POST {settings.endpoint}/_mock/reset, "
            "or restart the mock), then log in again.", start_over=False)
    return Advice(
        meaning, f"Check AUTHGEAR_CLIENT_ID in .env: it must be the Client ID of an application of the project at "
        f"{settings.endpoint} (Applications in the Authgear portal), " + where.restart, start_over=False)


def redirect_not_registered(settings: Settings) -> Advice:
    return Advice(
        "The redirect URI is not one registered for this client.", f"In the Authgear portal, add {settings.redirect_url} to the application's Authorized Redirect URIs, "
        "exactly (scheme, host, port and path must match), and save; or set AUTHGEAR_REDIRECT_URL in .env to a URI "
        "registered there and restart the app. Then log in again.", start_over=False)


def token_error(error: str, description: str, settings: Settings, where: Where = APP) -> Advice | None:
    """Advice for an error answer of the token endpoint (the code exchange)."""
    text = description.lower()
    if error == "invalid_client" and "client id" in text:
        return unknown_client_id(settings, where)
    if "client secret is required" in text:
        return Advice("The app sent no client secret; a confidential client must send one.",
                      "Send the client secret with the code: client_secret in the form (client_secret_post), or an "
                      "Authorization: Basic header (client_secret_basic).", start_over=False)
    if "client secret" in text or error == "invalid_client":
        return wrong_client_secret(settings, where)
    if error == "invalid_request" and "redirect" in text:
        return Advice(
            "The redirect_uri differs from the one the login started with.", "The redirect_uri sent with the code must be exactly the one the login started with: did "
            "AUTHGEAR_REDIRECT_URL change (restarted with another .env) during this login? " + where.again,
            start_over=True)
    if error == "invalid_grant":
        return Advice(
            "The code was already used, has expired, or belongs to another login (PKCE).",
            "An authorization code works once, for five minutes, and only with its own login's PKCE verifier: "
            "this one was used already (a cell run twice, the callback URL reloaded, or opened in a second tab), "
            "waited too long, or came from another login. " + where.again, start_over=True)
    if error == "unauthorized_client":
        return Advice(
            "This client may not use this grant type.", "In the Authgear portal, check that the application is an OIDC Client Application of type "
            "Confidential Client (as the tutorial creates it), then log in again.", start_over=False)
    return None


def callback_error(error: str, description: str, settings: Settings, where: Where = APP) -> Advice | None:
    """Advice for an `error` Authgear sent back to the redirect URI (for this browser's own login)."""
    text = description.lower()
    if "redirect" in text and error in ("invalid_request", "unauthorized_client"):
        return redirect_not_registered(settings)
    if "client" in text and error in ("invalid_request", "invalid_client", "unauthorized_client"):
        return unknown_client_id(settings, where)
    if error == "unauthorized_client":
        return token_error(error, description, settings, where)
    return None
