"""`/join`: a learner types a name and gets their own client and user (learners.py).

`GET /join` shows the form (or, to a browser that already joined, its details again).
`POST /join` with a form field `name` joins: an HTML page with the details and the `.env` lines,
or, with `Accept: application/json`, `{"client_id", "client_secret", "email", "password", "env",
"join_token", ...}` for scripts (which send `join_token` back, as a form field, to see their
details again). The browser keeps its join token in an HttpOnly cookie. A form posted from
another site is refused: a page elsewhere must not fill the room with made-up learners.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..context import PAGE_HEADERS, TEMPLATES
from ..params import BadParameters, form_params
from .learners import JoinError, Learner, Room

JOIN_COOKIE = "mock_idp_room_join"
COOKIE_LIFETIME = 7 * 24 * 3600


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def page(room: Room, status: int = 200, **values: Any) -> HTMLResponse:
    # The form posts to "/join": this page's own origin, whatever name it was opened under.
    values = {"action": "/join", "count": len(room.learners), "capacity": room.max_learners,
              "name": "", "learner": None, "error": None, "new": False, **values}
    html = TEMPLATES.get_template("room_join.html").render(**values)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def refusal(room: Room, request: Request, message: str, status: int, name: str = "") -> Response:
    if wants_json(request):
        error = {400: "invalid_request", 403: "access_denied", 409: "name_taken"}.get(status, "invalid_request")
        return JSONResponse({"error": error, "error_description": message}, status_code=status,
                            headers={"Cache-Control": "no-store"})
    return page(room, status, error=message, name=name[:80])


def from_another_site(room: Room, request: Request) -> bool:
    """A form posted by a page of another site. The join page itself may have been opened under
    another name of this machine (classroom-pc.local instead of its address): its own origin is fine."""
    origin = request.headers.get("origin")
    own = {room.issuer, f"{request.url.scheme}://{request.headers.get('host', '')}"}
    return (origin is not None and origin not in own) or request.headers.get("sec-fetch-site") == "cross-site"


async def join(room: Room, request: Request) -> Response:
    if request.method == "GET":
        learner = known_learner(room, request.cookies.get(JOIN_COOKIE))
        if learner is not None:
            return page(room, learner=learner.credentials(room.issuer))
        return page(room)
    if from_another_site(room, request):
        return refusal(room, request, "joining is done on this page, not from another site", 403)
    try:
        form = await form_params(request)
    except BadParameters as exc:
        return refusal(room, request, str(exc), 400)
    token = form.get("join_token") or request.cookies.get(JOIN_COOKIE)
    try:
        learner, new_token, new = room.join(form.get("name"), token)
    except JoinError as exc:
        return refusal(room, request, str(exc), exc.status, str(form.get("name", "")))
    details = learner.credentials(room.issuer)
    token = new_token or token
    if wants_json(request):
        response: Response = JSONResponse({**details, "join_token": token, "new": new},
                                          status_code=201 if new else 200, headers={"Cache-Control": "no-store"})
    else:
        response = page(room, status=201 if new else 200, learner=details, new=new)
    if new_token:
        response.set_cookie(JOIN_COOKIE, new_token, max_age=COOKIE_LIFETIME, httponly=True, samesite="lax",
                            secure=room.issuer.startswith("https://"), path="/join")
    return response


def known_learner(room: Room, token: str | None) -> Learner | None:
    if not token:
        return None
    return next((learner for learner in room.everyone() if learner.join_token_ok(token)), None)
