"""The room's one address: each request goes to the mock of the learner it belongs to.

Every learner's requests name them somewhere, the way Authgear finds a request's client:

| path | the learner, from |
|---|---|
| `/oauth2/authorize` | `client_id` |
| `/login`, `/select_account` | `login_request` (the pending login their authorization request made) |
| `/oauth2/token`, `/oauth2/revoke` | the client's credentials (`client_id` in the form or HTTP Basic); for revoke, else the token |
| `/oauth2/userinfo` | the access token's `client_id` claim |
| `/oauth2/end_session` | `client_id`, else the `id_token_hint`'s audience, else the browser's session cookie |
| `/logout`, `/settings` | the browser's session cookie |
| `/_mock/...` | HTTP Basic with the learner's client id and secret; anything else is 401 |

A request that names nobody (discovery, the JWKS, an unknown client) goes to the lobby, a mock
with no clients and no users, which answers it as Authgear would. `/join` and `/_room` are the
room's own pages (join.py, dashboard.py).

Discovery names no client: it counts for a learner when it comes from an address from which
exactly one learner's requests came recently (each laptop its own address; on a hub, where
every kernel shares one, it is not counted).
"""

from __future__ import annotations

import collections
import json
import time
import urllib.parse
from typing import Any

import jwt
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import SESSION_COOKIE
from ..token import basic_credentials
from .learners import Learner, Room

MAX_OWN = 20  # clients, and users, a learner's mock may hold (the teaching API adds them)
MAX_BODY = 1024 * 1024  # the mock's own limits are far below; a larger body is refused here
REALM = "mock_idp room"
ADDRESS_MEMORY = 30 * 60  # seconds an address stays tied to the learners seen from it
ADDRESSES_KEPT = 4096
FORM = "application/x-www-form-urlencoded"


def teaching_refusal(description: str, error: str = "unauthorized") -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=401,
                        headers={"WWW-Authenticate": f'Basic realm="{REALM}"', "Cache-Control": "no-store"})


class RoomRouter:
    def __init__(self, room: Room, pages: ASGIApp) -> None:
        self.room = room
        self.pages = pages
        # address -> {client_id: last seen}: which learners a laptop's address belongs to.
        self.addresses: collections.OrderedDict[str, dict[str, float]] = collections.OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, and a websocket (refused by the pages app, as the mock does)
            await self.pages(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            await PlainTextResponse("Payload Too Large", status_code=413)(scope, receive, send)
            return
        replay = replayer(body)
        path = scope["path"]
        if path in ("/join", "/_room") or path.startswith("/_room/"):
            await self.pages(scope, replay, send)
            return
        headers = Headers(scope=scope)
        if path == "/_mock" or path.startswith("/_mock/"):
            await self.teaching(scope, headers, replay, send, body)
            return
        address = scope["client"][0] if scope.get("client") else ""
        learner = self.learner_for(path, headers, params_of(scope, headers, body), address)
        if learner is not None:
            self.remember(address, learner)
            learner.progress.seen()
            await learner.app(scope, replay, send)
            return
        if path == "/.well-known/openid-configuration":
            known = self.only_learner_at(address)
            if known is not None:
                known.progress.done("discovery")
        await self.room.lobby(scope, replay, send)

    async def teaching(self, scope: Scope, headers: Headers, receive: Receive, send: Send, body: bytes) -> None:
        """A learner's own teaching API, once their client secret is checked: the learner's mock
        gets its admin token in place of their credentials (its guard asks for one)."""
        credentials = basic_credentials(headers.get("authorization", ""))
        if credentials is None:
            response = teaching_refusal("in a room the teaching API needs your client's credentials: HTTP Basic "
                                        "with your client id and client secret (the kit sends them)")
            await response(scope, receive, send)
            return
        learner = self.room.learner(credentials[0])
        if learner is None or not learner.secret_ok(credentials[1]):
            await teaching_refusal("unknown client or wrong client secret", "invalid_client")(scope, receive, send)
            return
        self.remember(scope["client"][0] if scope.get("client") else "", learner)
        learner.progress.seen()
        foreign = foreign_client_id(scope, body, learner) or over_capacity(scope, learner)
        if foreign is not None:
            await JSONResponse({"error": "invalid_request", "error_description": foreign}, status_code=400,
                               headers={"Cache-Control": "no-store"})(scope, receive, send)
            return
        raw = [(name, value) for name, value in scope["headers"] if name.lower() != b"authorization"]
        raw.append((b"authorization", f"Bearer {learner.admin_token}".encode()))
        await learner.app({**scope, "headers": raw}, receive, send)

    # -- whose request is it?
    def learner_for(self, path: str, headers: Headers, params: dict[str, str], address: str = "") -> Learner | None:
        room = self.room
        if path == "/oauth2/authorize":
            return room.learner(params.get("client_id"))
        if path in ("/login", "/select_account"):
            request_id = params.get("login_request")
            return next((one for one in room.everyone() if one.ctx.store.login_request(request_id)), None)
        if path in ("/oauth2/token", "/oauth2/revoke"):
            basic = basic_credentials(headers.get("authorization", ""))
            learner = room.learner(params.get("client_id") or (basic[0] if basic else None))
            if learner is not None or path == "/oauth2/token":
                return learner
            return self.token_owner(params.get("token", ""))
        if path == "/oauth2/userinfo":
            scheme, _, token = headers.get("authorization", "").partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else params.get("access_token", "")
            return room.learner(str(unverified(token).get("client_id", "")))
        if path == "/oauth2/end_session":
            learner = room.learner(params.get("client_id"))
            if learner is None and params.get("id_token_hint"):
                audience = unverified(params["id_token_hint"]).get("aud")
                first = audience[0] if isinstance(audience, list) and audience else audience
                learner = room.learner(first if isinstance(first, str) else None)
            # No session and no client named (the tutorial's logout sends only post_logout_redirect_uri):
            # the learner at this address, else the lobby (which registers the kit's post-logout URIs),
            # so that nobody's log and progress get a stranger's logout.
            return learner or self.session_owner(headers) or self.only_learner_at(address)
        if path in ("/logout", "/settings"):
            return self.session_owner(headers)
        return None

    def session_owner(self, headers: Headers) -> Learner | None:
        # Read as the learner's mock reads it (Starlette's request.cookies).
        cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        if not cookie:
            return None
        return next((one for one in self.room.everyone() if one.ctx.store.session_for_cookie(cookie)), None)

    def token_owner(self, token: str) -> Learner | None:
        """The learner whose mock issued `token`: an access token names its client; a refresh
        token is looked up in each learner's mock."""
        learner = self.room.learner(str(unverified(token).get("client_id", "")))
        if learner is not None or not token:
            return learner
        return next((one for one in self.room.everyone() if one.ctx.store.grant_for_refresh_token(token)), None)

    # -- which learner is at an address?
    def remember(self, address: str, learner: Learner) -> None:
        if not address:
            return
        seen = self.addresses.pop(address, {})
        seen[learner.client_id] = time.time()
        self.addresses[address] = seen
        while len(self.addresses) > ADDRESSES_KEPT:
            self.addresses.popitem(last=False)

    def only_learner_at(self, address: str) -> Learner | None:
        now = time.time()
        recent = [cid for cid, at in self.addresses.get(address, {}).items() if now - at < ADDRESS_MEMORY]
        return self.room.learner(recent[0]) if len(recent) == 1 else None


def foreign_client_id(scope: Scope, body: bytes, learner: Learner) -> str | None:
    """Why a client a learner registers in their mock (POST /_mock/clients) is refused, or None.
    Its id must start with the learner's own client id: the room finds a request's learner by
    its client id, so a learner must not take an id a classmate uses (or will)."""
    if scope["method"] != "POST" or scope["path"].rstrip("/") != "/_mock/clients":
        return None
    try:
        sent = json.loads(body or b"null")
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeper than Python goes
        return None  # the mock answers it
    client_id = sent.get("client_id") if isinstance(sent, dict) else None
    if not isinstance(client_id, str) or client_id.startswith(learner.client_id + "-"):
        return None
    return (f"in a room, the ids of your clients start with your own client id and a dash: e.g. "
            f"{learner.client_id}-second, not {client_id[:60]!r}")


def over_capacity(scope: Scope, learner: Learner) -> str | None:
    """Why a learner may not add one more client or user to their mock, or None: a room keeps at
    most MAX_OWN of each per learner, so one learner cannot fill the room's memory."""
    if scope["method"] != "POST":
        return None
    path = scope["path"].rstrip("/")
    store = learner.ctx.store
    kind = {"/_mock/clients": store.config.clients, "/_mock/users": store.config.users}.get(path)
    if kind is None or len(kind) < MAX_OWN:
        return None
    return f"in a room, your mock holds at most {MAX_OWN} {path.rsplit('/', 1)[-1]}: delete one, or POST /_mock/reset"


def unverified(token: str) -> dict[str, Any]:
    """A JWT's claims, unchecked: only to find whose it is (the learner's mock checks it)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def params_of(scope: Scope, headers: Headers, body: bytes) -> dict[str, str]:
    """A form body's and the query's parameters (the first of each name; the form's before the
    query's, as the mock's endpoints read them), to find the learner."""
    params: dict[str, str] = {}
    if body and headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        try:
            form = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = []
        for name, value in form:
            params.setdefault(name, value)
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        params.setdefault(name, value)
    return params


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None past MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replayer(body: bytes) -> Receive:
    """A `receive` that gives the body already read, once, then waits like a quiet client."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
