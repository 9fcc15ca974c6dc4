"""Room mode: one mock for a whole room, each learner on a mock of their own behind it.

    python -m mock_idp --room [--host H] [--port P] [--issuer URL] [--max-learners N]

- learners.py: who is in the room; each learner's own client, user and mock.
- router.py: the room's one address; each request to the mock of the learner it belongs to.
- join.py: `/join`, where a learner gets their client and user (and the `.env` lines).
- progress.py: each learner's steps and errors, read off their exchanges.
- dashboard.py: `/_room`, the instructor's live view; `/_room/progress`, the same as JSON.
"""

from __future__ import annotations

import functools
import socket
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import dashboard, join
from .learners import DEFAULT_MAX_LEARNERS, JoinError, Learner, Room
from .router import RoomRouter

__all__ = ["DEFAULT_MAX_LEARNERS", "JoinError", "Learner", "Room", "create_room_app", "lan_address", "main"]


def create_room_app(room: Room) -> RoomRouter:
    """The room's ASGI app: its own pages, and every learner's mock behind one address."""
    def bound(handler: Any) -> Any:
        return functools.partial(handler, room)

    async def not_found(request: Request, exc: Exception) -> Response:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("Not Found", status_code=getattr(exc, "status_code", 404))

    pages = Starlette(routes=[
        Route("/join", bound(join.join), methods=["GET", "POST"]),
        Route("/_room", bound(dashboard.dashboard), methods=["GET"]),
        Route("/_room/progress", bound(dashboard.progress), methods=["GET"]),
    ], exception_handlers={404: not_found, 405: not_found})
    router = RoomRouter(room, pages)
    router.state = pages.state  # type: ignore[attr-defined]
    pages.state.room = room
    return router


def lan_address() -> str:
    """This machine's address on its network (where the default route leaves): what learners'
    laptops use. No packet is sent (a UDP socket only picks its source address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: any routable address will do
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def banner(room: Room, host: str) -> str:
    return "\n".join([
        f"Room mock at {room.issuer} (listening on {host}), for up to {room.max_learners} learners.",
        f"  Learners join at:  {room.issuer}/join",
        f"  Your dashboard:    {room.issuer}/_room?token={room.instructor_token}",
        "  (The dashboard's token is yours: keep that address off the projector; the page itself does not show it.)",
        "  Each learner gets their own client, user, clock, sessions and log. Ctrl-C ends the room (and forgets it).",
        "  This is a teaching mock: demo data only, plain http. Run it on a trusted network.",
    ])


def main(host: str, port: int, issuer: str | None, max_learners: int, instructor_token: str | None = None) -> int:
    import uvicorn

    from ..server import bind, origin

    sock = bind(host, port)
    actual = sock.getsockname()[1]
    if issuer is None:
        shown = lan_address() if host in ("0.0.0.0", "::") else host
        issuer = origin(shown, actual)
    room = Room(issuer, max_learners, instructor_token)
    print(banner(room, host), flush=True)
    try:
        uvicorn.Server(uvicorn.Config(create_room_app(room), log_level="warning", access_log=False)).run(sockets=[sock])
    except KeyboardInterrupt:  # a second Ctrl-C while a browser still holds a connection open
        pass
    print("The room has ended; it forgot everyone.", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main("0.0.0.0", 4000, None, DEFAULT_MAX_LEARNERS))
