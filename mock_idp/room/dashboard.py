"""`/_room`: the instructor's live view of the room; `/_room/progress`: the same as JSON.

Both need the instructor's token, printed when the room starts. `GET /_room?token=T` keeps it in
an HttpOnly cookie (path /_room) and sends the browser on to `/_room`, so the address on the
projector does not show it. `/_room/progress` also takes `?token=T` or `Authorization: Bearer T`,
for scripts. No token: 401; a wrong one: 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..context import PAGE_HEADERS, TEMPLATES
from .learners import Room

INSTRUCTOR_COOKIE = "mock_idp_room_instructor"
# The page's own script (inline, so the page is one response) and its polling of /_room/progress.
DASHBOARD_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                     "script-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'"}


def given_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or request.cookies.get(INSTRUCTOR_COOKIE)


def refusal(room: Room, request: Request, as_json: bool) -> Response | None:
    token = given_token(request)
    if room.instructor_ok(token):
        return None
    status = 401 if not token else 403
    message = ("the instructor's token is missing: open the dashboard address printed when the room started"
               if status == 401 else "the instructor's token is wrong")
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="mock_idp room"'
    if as_json:
        return JSONResponse({"error": "unauthorized" if status == 401 else "access_denied",
                             "error_description": message}, status_code=status, headers=headers)
    return HTMLResponse(TEMPLATES.get_template("message.html").render(heading="Instructors only", message=message),
                        status_code=status, headers={**PAGE_HEADERS, **headers})


async def progress(room: Room, request: Request) -> Response:
    refused = refusal(room, request, as_json=True)
    if refused is not None:
        return refused
    return JSONResponse(room.progress(), headers={"Cache-Control": "no-store"})


async def dashboard(room: Room, request: Request) -> Response:
    refused = refusal(room, request, as_json=False)
    if refused is not None:
        return refused
    if "token" in request.query_params:  # keep it in a cookie, off the address bar
        response: Response = RedirectResponse("/_room", status_code=303)  # the name it was opened under
        response.set_cookie(INSTRUCTOR_COOKIE, request.query_params["token"], httponly=True, samesite="strict",
                            secure=room.issuer.startswith("https://"), path="/_room")
        return response
    html = TEMPLATES.get_template("room_dashboard.html").render(issuer=room.issuer, join_url=room.issuer + "/join")
    return HTMLResponse(html, headers=DASHBOARD_HEADERS)
