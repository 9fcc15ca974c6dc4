"""The teaching API under /_mock/ (never on Authgear's paths): the exchange log, the
clock, reset, and clients and users changed at runtime. JSON in, JSON out."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .config import TEN_YEARS, ConfigError, client_from_dict, sub_taken, user_from_dict
from .context import Context, safe_description
from .params import BadParameters, body_bytes, is_whole_number

INDEX = {
    "GET /_mock/exchanges?since=N": "the protocol exchanges seen (request, response, secrets shortened)",
    "DELETE /_mock/exchanges": "forget the exchanges seen so far",
    "GET /_mock/clock": "the mock's clock: offset from real time, in seconds",
    "POST /_mock/clock": '{"advance": 3600} moves the clock on; {"offset": 0} sets it',
    "POST /_mock/reset": "back to the starting config: sessions, codes, tokens, clock, log",
    "GET /_mock/clients, POST /_mock/clients": "list, add or replace (by client_id) a client",
    "DELETE /_mock/clients/{client_id}": "remove a client",
    "GET /_mock/users, POST /_mock/users": "list, add or replace (by email) a user",
    "DELETE /_mock/users/{email}": "remove a user",
}


# Single quotes: an error_description may not hold `"` (RFC 6749 §4.1.2.1), it would read `?`.
SEND_ADVANCE_OR_OFFSET = "send {'advance': seconds} or {'offset': seconds}, a JSON object"


def problem(description: str, status: int = 400) -> JSONResponse:
    """An RFC 6749 §5.2 error body, its description within §4.1.2.1's characters like every
    other error the mock answers (config.quoted echoes what was sent within them already)."""
    return JSONResponse({"error": "invalid_request", "error_description": safe_description(description)},
                        status_code=status)


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await body_bytes(request) or b"{}")
    except (BadParameters, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise ConfigError(f"the body must be JSON: {exc}") from exc


def clock_view(ctx: Context) -> dict[str, int]:
    return {"offset": ctx.store.clock_offset, "now": ctx.store.now()}


async def index(ctx: Context, request: Request) -> Response:
    return JSONResponse({"issuer": ctx.issuer, "profile": ctx.profile.name, "profile_summary": ctx.profile.summary,
                         "endpoints": INDEX})


async def exchanges(ctx: Context, request: Request) -> Response:
    if request.method == "DELETE":
        ctx.log.clear()
        return JSONResponse({"exchanges": []})
    since = request.query_params.get("since", "0")
    if not is_whole_number(since):
        return problem("since must be a whole number")
    return JSONResponse({"exchanges": ctx.log.since(int(since))})


async def clock(ctx: Context, request: Request) -> Response:
    if request.method == "POST":
        try:
            body = await json_body(request)
        except ConfigError as exc:
            return problem(str(exc))
        if not isinstance(body, dict):
            return problem(SEND_ADVANCE_OR_OFFSET)
        store = ctx.store
        for field, change in (("advance", store.advance_clock), ("offset", store.set_clock_offset)):
            if field in body:
                value = body[field]
                if not isinstance(value, int) or isinstance(value, bool) or abs(value) > TEN_YEARS:
                    return problem(f"{field} must be a whole number of seconds (at most ten years)")
                try:  # the store keeps the resulting offset within ten years too
                    change(value)
                except ValueError as exc:
                    return problem(f"{field} {exc}")
                break
        else:
            return problem(SEND_ADVANCE_OR_OFFSET)
    return JSONResponse(clock_view(ctx))


async def reset(ctx: Context, request: Request) -> Response:
    ctx.store.reset()
    ctx.log.clear()
    return JSONResponse({"reset": True, **clock_view(ctx)})


async def clients(ctx: Context, request: Request) -> Response:
    store = ctx.store
    if request.method == "POST":
        try:
            client = client_from_dict(await json_body(request))
        except ConfigError as exc:
            return problem(str(exc))
        with store.lock:
            store.config.clients[client.client_id] = client
        return JSONResponse(client.public_view(), status_code=201)
    if request.method == "DELETE":
        with store.lock:
            removed = store.config.clients.pop(request.path_params["client_id"], None)
        return JSONResponse({"deleted": removed is not None}, status_code=200 if removed else 404)
    return JSONResponse({"clients": [c.public_view() for c in store.config.clients.values()]})


async def users(ctx: Context, request: Request) -> Response:
    store = ctx.store
    if request.method == "POST":
        try:
            user = user_from_dict(await json_body(request))
        except ConfigError as exc:
            return problem(str(exc))
        with store.lock:
            # Tokens and sessions name a user by sub alone (Store.user_by_sub takes the first
            # match): a second user with it would log in as the first.
            holder = store.config.sub_holder(user)
            if holder is not None:
                return problem(sub_taken(user, holder))
            store.config.users[user.email.lower()] = user
        return JSONResponse(user.public_view(), status_code=201)
    if request.method == "DELETE":
        with store.lock:
            removed = store.config.users.pop(request.path_params["email"].lower(), None)
        return JSONResponse({"deleted": removed is not None}, status_code=200 if removed else 404)
    return JSONResponse({"users": [u.public_view() for u in store.config.users.values()]})
