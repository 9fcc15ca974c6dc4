"""The learners of a room: each one a mock of their own behind the room's one address.

A learner who joins gets a confidential client and a user of their own, in a mock of their own
(`create_app` with just those, sharing the room's issuer and signing key): their own clock,
sessions, codes, tokens and exchange log. So moving one learner's clock expires only their
tokens, and one learner's log shows nobody else's requests. The router (router.py) sends each
request to the learner it belongs to.

Names: 1 to 40 printable characters, shown escaped everywhere. Joining again with a name taken
gives the same learner back only to the browser (or script) that joined with it (it holds the
join token, a cookie or `join_token`); anyone else is asked for another name, so nobody gets a
classmate's client secret by typing their name.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import secrets
import threading
import time
import unicodedata
from typing import Any

from starlette.applications import Starlette

from ..app import create_app
from ..config import Client, MockConfig, User, demo_clients
from ..keys import SigningKey
from ..store import Limits, digest, random_alphanumeric
from .progress import STEPS, Progress

MAX_NAME = 40
DEFAULT_MAX_LEARNERS = 250
# What one learner's mock keeps: a learner makes a few logins a minute; these bound the worst case
# (a script hammering one learner's mock) to a few MiB per learner.
LEARNER_LIMITS = Limits(login_requests=100, codes=100, sessions=100, grants=300, access_tokens=1_000,
                        revoked_access_tokens=1_000)
LEARNER_LOG = 300  # exchanges kept per learner (a notebook reads a few dozen)
EMAIL_DOMAIN = "room.example"  # RFC 2606: never a real mailbox


class JoinError(ValueError):
    """Why a join was refused, in words for the learner; `status` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def clean_name(raw: Any) -> str:
    """The name as shown: surrounding and repeated spaces removed, NFC; refused (JoinError) when
    empty, too long, or holding characters that are not printable text."""
    if not isinstance(raw, str):
        raise JoinError("type your name (1 to 40 characters)", 400)
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise JoinError("type your name (1 to 40 characters)", 400)
    if len(name) > MAX_NAME:
        raise JoinError(f"a name has at most {MAX_NAME} characters", 400)
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise JoinError("a name is printable text: no control or invisible characters", 400)
    return name


def slug(name: str) -> str:
    """The name as an id part: ASCII letters and digits, lower case ('Zoë Ng' -> 'zoe-ng')."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:20].strip("-")
    return text or "learner"


@dataclasses.dataclass
class Learner:
    name: str
    client: Client
    user: User
    app: Starlette
    progress: Progress
    join_token_digest: str
    joined: float

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    @property
    def admin_token(self) -> str:
        """What the router hands this learner's mock once it has checked their client secret."""
        return self.app.state.guard.admin_token

    def secret_ok(self, secret: str) -> bool:
        assert self.client.client_secret is not None
        return hmac.compare_digest(secret.encode("utf-8", "replace"), self.client.client_secret.encode())

    def join_token_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(digest(token), self.join_token_digest)

    def credentials(self, issuer: str) -> dict[str, Any]:
        """What the learner needs: their client, their user, and the .env lines to paste."""
        redirect = self.client.redirect_uris[0]
        return {
            "name": self.name,
            "issuer": issuer,
            "client_id": self.client_id,
            "client_secret": self.client.client_secret,
            "redirect_uris": list(self.client.redirect_uris),
            "post_logout_redirect_uris": list(self.client.post_logout_redirect_uris),
            "email": self.user.email,
            "password": self.user.password,
            "env": "\n".join([
                f"AUTHGEAR_ENDPOINT={issuer}",
                f"AUTHGEAR_CLIENT_ID={self.client_id}",
                f"AUTHGEAR_CLIENT_SECRET={self.client.client_secret}",
                f"AUTHGEAR_REDIRECT_URL={redirect}",
            ]) + "\n",
        }


class Room:
    """Everyone in the room, by client id; the instructor's token; the shared issuer and key."""

    def __init__(self, issuer: str, max_learners: int = DEFAULT_MAX_LEARNERS, instructor_token: str | None = None,
                 key: SigningKey | None = None) -> None:
        if max_learners < 1:
            raise ValueError("a room has room for at least one learner")
        self.issuer = issuer.rstrip("/")
        self.max_learners = max_learners
        self.instructor_token = instructor_token or secrets.token_urlsafe(24)
        self.key = key or SigningKey.generate()
        self.lock = threading.Lock()
        self.learners: dict[str, Learner] = {}  # by client_id, in the order they joined
        self.by_name: dict[str, str] = {}  # casefolded name -> client_id
        self.emails: set[str] = set()
        # The lobby: discovery, the JWKS and the answers to requests that name no learner (an
        # unknown client gets Authgear's error page from it). No users; one client that nobody
        # can use (no redirect URI, no known secret), which registers the kit's post-logout URIs:
        # a logout that names nobody goes back to the app, as on every learner's mock.
        lobby_client = Client(client_id="lobby", client_secret=secrets.token_urlsafe(24), redirect_uris=[],
                              post_logout_redirect_uris=list(demo_clients()[0].post_logout_redirect_uris))
        self.lobby = create_app(self.issuer, MockConfig(clients={"lobby": lobby_client}, users={}), self.key)

    def instructor_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode("utf-8", "replace"), self.instructor_token.encode())

    def join(self, raw_name: Any, join_token: str | None = None) -> tuple[Learner, str | None, bool]:
        """(learner, the join token to keep or None if the caller holds it already, whether new).
        Raises JoinError: a bad name, a name someone else joined with, a full room."""
        name = clean_name(raw_name)
        key = name.casefold()
        with self.lock:
            holder = next((one for one in self.learners.values() if one.join_token_ok(join_token)), None)
            if holder is not None and holder.name.casefold() != key:
                raise JoinError(f"this browser joined already, as {holder.name!r}: one place per person "
                                "(your details are on this page)", 409)
            existing = self.by_name.get(key)
            if existing is not None:
                learner = self.learners[existing]
                if learner.join_token_ok(join_token):
                    return learner, None, False
                raise JoinError(f"someone already joined as {name!r}: choose another name (or join from the "
                                "browser you joined with, to see your details again)", 409)
            if len(self.learners) >= self.max_learners:
                raise JoinError(f"the room is full ({self.max_learners} learners): ask the instructor", 403)
            learner, token = self._new_learner(name)
            self.learners[learner.client_id] = learner
            self.by_name[key] = learner.client_id
            self.emails.add(learner.user.email)
            return learner, token, True

    def _new_learner(self, name: str) -> tuple[Learner, str]:
        base = slug(name)
        client_id = f"room-{base}-{random_alphanumeric(6).lower()}"
        email = f"{base}@{EMAIL_DOMAIN}"
        number = 2
        while email in self.emails:
            email = f"{base}{number}@{EMAIL_DOMAIN}"
            number += 1
        demo = demo_clients()[0]  # the kit's redirect URIs: the notebooks' and the walkthrough's
        client = Client(client_id=client_id, client_secret=secrets.token_urlsafe(24), name=f"{name}'s app",
                        redirect_uris=list(demo.redirect_uris),
                        post_logout_redirect_uris=list(demo.post_logout_redirect_uris))
        user = User(email=email, password=random_alphanumeric(12),
                    claims={"name": name, "preferred_username": base})
        progress = Progress()
        app = create_app(self.issuer, MockConfig(clients={client_id: client}, users={email: user}), self.key,
                         limits=LEARNER_LIMITS, log_limit=LEARNER_LOG, observer=progress.observe)
        token = secrets.token_urlsafe(24)
        return Learner(name, client, user, app, progress, digest(token), time.time()), token

    def learner(self, client_id: str | None) -> Learner | None:
        """The learner a client belongs to: their own client, or one they registered in their mock
        through the teaching API (notebook 07's second client), if only one of them has it."""
        if not client_id:
            return None
        learner = self.learners.get(client_id)
        if learner is not None:
            return learner
        owners = [one for one in self.everyone() if one.ctx.store.client(client_id) is not None]
        return owners[0] if len(owners) == 1 else None

    def everyone(self) -> list[Learner]:
        with self.lock:
            return list(self.learners.values())

    def progress(self) -> dict[str, Any]:
        """The instructor's view, as JSON (GET /_room/progress)."""
        learners = []
        for learner in self.everyone():
            view = learner.progress.view()
            learners.append({"name": learner.name, "client_id": learner.client_id, "email": learner.user.email,
                             "joined": learner.joined, **view})
        return {"room": {"issuer": self.issuer, "learners": len(learners), "max_learners": self.max_learners,
                         "now": time.time()},
                "steps": list(STEPS), "learners": learners}


