"""Which authorization server the kit talks to.

The tutorial's four variables, from the environment or from `.env` at the repository's
root (the environment wins; KIT_ENV_FILE names another file). No AUTHGEAR_ENDPOINT means
the bundled mock with its demo client: at http://localhost:4000, or on a JupyterHub the
learner's own (kit/hosted.py).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import requests
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
MOCK_ENDPOINT = "http://localhost:4000"
MOCK_CLIENT_ID = "mock-client"
MOCK_CLIENT_SECRET = "mock-secret"
DEFAULT_REDIRECT_URL = "http://localhost:3000/auth-redirect"


@dataclasses.dataclass(frozen=True)
class Settings:
    endpoint: str  # the issuer: scheme://host[:port], no trailing slash
    client_id: str
    client_secret: str
    redirect_url: str
    is_mock: bool
    room: bool = False  # a classroom's mock (python -m mock_idp --room), named in .env

    def describe(self) -> str:
        if self.room:
            where = "the room's mock (from .env)"
        else:
            where = "the bundled mock (no .env needed)" if self.is_mock else "your Authgear project (from .env)"
        return f"{where}: {self.endpoint}, client_id {self.client_id}"

    @property
    def teaching_auth(self) -> tuple[str, str] | None:
        """What the mock's teaching API (/_mock/) needs from this learner: nothing from the
        bundled mock; in a room, the learner's own client id and secret (HTTP Basic), so each
        learner's clock, reset and log are their own. `requests.post(..., auth=settings.teaching_auth)`."""
        return (self.client_id, self.client_secret) if self.room else None


class SettingsError(ValueError):
    """The .env (or the environment) is filled in wrongly; the message says how to fix it."""


def load_settings(env_file: str | Path | None = None) -> Settings:
    path = Path(env_file or os.environ.get("KIT_ENV_FILE") or ROOT / ".env")
    values = {k: v for k, v in dotenv_values(path).items() if v} if path.is_file() else {}
    values.update({k: v for k, v in os.environ.items() if k.startswith("AUTHGEAR_") and v})
    values = {k: v.strip() for k, v in values.items() if k.startswith("AUTHGEAR_") and v and v.strip()}
    placeholders = sorted(k for k, v in values.items() if v.startswith("<") or "<project>" in v)
    if placeholders:
        raise SettingsError(
            f"{path}: {', '.join(placeholders)} still hold the placeholder from .env.example. "
            "Fill in your Authgear project's values, or delete .env to use the bundled mock."
        )
    endpoint = values.get("AUTHGEAR_ENDPOINT", "").rstrip("/")
    redirect_url = values.get("AUTHGEAR_REDIRECT_URL", DEFAULT_REDIRECT_URL)
    if not endpoint:
        stray = sorted({"AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET"} & values.keys())
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} set but AUTHGEAR_ENDPOINT is not: add your project's endpoint "
                "(https://<project>.authgear.cloud), or remove them to use the bundled mock."
            )
        return bundled_mock(values.get("AUTHGEAR_REDIRECT_URL"))
    if not endpoint.startswith(("https://", "http://")):
        raise SettingsError(f"AUTHGEAR_ENDPOINT must start with https:// (got {endpoint!r})")
    missing = sorted({"AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET"} - values.keys())
    if missing:
        raise SettingsError(f"{', '.join(missing)} missing: copy them from your application's page in the Authgear portal.")
    room = is_room(endpoint)
    return Settings(endpoint, values["AUTHGEAR_CLIENT_ID"], values["AUTHGEAR_CLIENT_SECRET"], redirect_url,
                    is_mock=room, room=room)


_ROOMS: dict[str, bool] = {}  # endpoint -> whether it is a room's mock (asked once per kernel)
ROOM_REALM = 'realm="mock_idp room"'


def is_room(endpoint: str) -> bool:
    """Whether AUTHGEAR_ENDPOINT is a room's mock: its teaching API asks for a learner's client
    credentials (401, Basic realm "mock_idp room"). An Authgear project has no /_mock/ (404)."""
    if endpoint not in _ROOMS:
        try:
            answer = requests.get(endpoint + "/_mock/", timeout=3)
        except requests.RequestException:
            return False  # not remembered: asked again once the network is back
        _ROOMS[endpoint] = answer.status_code == 401 and ROOM_REALM in answer.headers.get("www-authenticate", "")
    return _ROOMS[endpoint]


def bundled_mock(redirect_url: str | None = None) -> Settings:
    """The bundled mock: on a laptop at http://localhost:4000; on a JupyterHub the learner's own,
    beside their Jupyter server (kit/hosted.py), with the callback registered for this learner."""
    from . import hosted

    server = hosted.on_hub()
    if server is not None:
        mock = hosted.running_mock(server)  # connect() starts it: reading settings starts nothing
        return Settings(mock.issuer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, redirect_url or mock.redirect_url, is_mock=True)
    return Settings(MOCK_ENDPOINT, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, redirect_url or DEFAULT_REDIRECT_URL, is_mock=True)


def discovered_issuer(endpoint: str) -> str | None:
    """The issuer that the server at `endpoint` names in its discovery document, or None."""
    try:
        response = requests.get(endpoint + "/.well-known/openid-configuration", timeout=2)
        body = response.json() if response.ok else None
    except (requests.RequestException, ValueError):
        return None
    issuer = body.get("issuer") if isinstance(body, dict) else None
    return issuer if isinstance(issuer, str) else None


def mock_answers(endpoint: str = MOCK_ENDPOINT) -> bool:
    return discovered_issuer(endpoint) == endpoint


def is_mock(endpoint: str) -> bool:
    """Whether what answers at `endpoint` is a mock_idp: its teaching API's index, or the
    teaching API's refusal (it answers only to its own issuer's Host)."""
    try:
        body = requests.get(endpoint + "/_mock/", timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return isinstance(body, dict) and ("endpoints" in body or "teaching API" in str(body.get("error_description")))


def port_taken(endpoint: str, host: str, port: str) -> str:
    """Why the mock cannot start at `endpoint`, and what to do: a mock with another issuer
    there is not the same trouble as a program that is not a mock at all."""
    issuer = discovered_issuer(endpoint)
    if issuer is not None:
        shown = issuer if len(issuer) <= 100 and issuer.isprintable() else repr(issuer[:100])
        why = "tokens name their issuer, so the kit cannot use it"
        if is_mock(endpoint):
            return (f"A mock already runs on port {port}, but its issuer is {shown}, not {endpoint} ({why}). "
                    f"Stop it (Ctrl-C where `python -m mock_idp` runs; idp.stop() or a kernel restart where a "
                    f"notebook started it) and run this cell again; `python -m mock_idp --host {host} --port {port}` "
                    f"starts one with issuer {endpoint}.")
        return (f"Port {port} is taken by another authorization server (its issuer is {shown}), not the mock, "
                f"so the mock cannot start at {endpoint} ({why}). Stop that program and run this cell again.")
    return (f"Port {port} is taken by something that is not the mock, so the mock cannot start at "
            f"{endpoint}. Stop that program (or restart the kernel) and run this cell again.")


def ensure_mock(endpoint: str = MOCK_ENDPOINT):
    """Makes sure the bundled mock answers at `endpoint` (http://localhost:PORT).

    Uses the one already running (started by `make lab`, the walkthrough or an earlier
    cell); otherwise starts one in this process, in a background thread. Returns the
    RunningServer it started, or None if one was already there. Raises RuntimeError saying
    what holds the port when it cannot: a mock with another issuer, or another program.
    """
    if mock_answers(endpoint):
        return None
    from mock_idp import serve
    from mock_idp.server import MockConflict

    host_port = endpoint.split("://", 1)[1]
    host, _, port = host_port.rpartition(":")
    try:
        return serve(host=host, port=int(port), issuer=endpoint)
    except (OSError, MockConflict) as exc:
        raise RuntimeError(port_taken(endpoint, host, port)) from exc
