"""The tutorial's app, AS WRITTEN: the Express app that Authgear's tutorial "Add login to an
Express app" builds (its `app.js`), ported to Python line by line, mistakes included, for
the security lab (notebook 10). The fixed app is the rest of this package.

    python -m walkthrough --tutorial [--port 3000]     # loopback only: any other --host is refused

DELIBERATELY VULNERABLE. Every page says so in a banner. Never expose it: not on another
address, not through a tunnel, a port forward or a reverse proxy.

The module follows `app.js` section by section, in the tutorial's order (its steps 1 to 6),
and quotes the JavaScript each part ports. Nothing is fixed. Each mistake is marked
`# MISTAKE (<attack>)`:

- **login CSRF** (RFC 6749 §10.12, RFC 9700 §2.1 and §4.7): `/login` sends no `state`, so
  `/auth-redirect` takes any code: an attacker's own, planted in your browser, logs you in
  as the attacker;
- **authorization-code injection** (RFC 9700 §4.5): no PKCE and no `nonce`, so a victim's
  code that leaks (a log, a proxy, the browser history) logs in whoever plays it into the
  callback first;
- **stored XSS**: the userinfo is pasted into the HTML unescaped, so a user whose `name` is
  `<script>…</script>` (users can edit their name in Authgear) runs script in the app's pages;
- **session forgery with the hard-coded secret** `"your_strong_secret_key"` (below);
- **session fixation**: the session id is not replaced at login (no `req.session.regenerate()`);
- **the refresh helper under refresh-token rotation**: `refreshAccessTokenIfExpired` drops the
  rotated refresh token, so the second refresh fails, and its error becomes Express 5's 500
  page on every visit;
- and the logout's: a GET (any page can log you out), no `id_token_hint`, no `state`, no
  revocation, and the access token handed to the browser in a response header.

Sessions: express-session, ported, not Starlette's SessionMiddleware
---------------------------------------------------------------------
A Python developer would reach for `SessionMiddleware(secret_key="your_strong_secret_key")`.
That would be a different app: Starlette's session lives in the cookie (base64 JSON, signed,
not encrypted), so the access and refresh tokens would sit in the browser, readable by
whoever holds the cookie, and `req.session.destroy()` would end nothing (an old cookie still
carries the tokens). Forging a cookie of one's own content would be possible, but would gain
nothing the forger does not hold already: the app only passes the tokens on to Authgear,
which checks them. express-session, which the tutorial uses, keeps the data on the server
(its MemoryStore) and puts only a signed id in the cookie `connect.sid`:

    connect.sid = encodeURIComponent("s:" + id + "." + base64(HMAC-SHA256(secret, id)) without "=")

That is what is ported here (`ExpressSession`, `MemoryStore`, `sign`, `unsign`), with the
defaults the tutorial's `session({secret, cookie: {}})` gets: `resave` and `saveUninitialized`
true (every visitor gets a stored session and a cookie), an HttpOnly cookie on path `/` with
no expiry and no SameSite. An id the store does not know, however well signed, gets a new
session with a new id, as in express-session: nobody can choose their own id.

What the hard-coded secret protects, and the forgery it allows: the ids are 24 random bytes,
so the signature is not what keeps a cookie unguessable. It is what keeps a *raw* session id
from being a cookie. Raw ids live on the server: as the session store's keys (`sess:<id>` in
Redis, a sessions table, their backups and dumps) and wherever the app logs `req.sessionID`.
With a secret that every copy of the tutorial publishes, anyone who sees a raw id there signs
it and is logged in as that user: that is the lab's "session forgery" (the lab reads the ids
from this process's store, `app.state.session_store.ids()`, standing for such a leak; a leak of
the store's values would hand over the tokens themselves, the forgery needs only an id). What the
secret never protects: a stolen cookie works whatever the secret, and session fixation needs
no secret at all (the attacker's own cookie, planted in the victim's browser, is logged in as
the victim once the victim logs in, because the id is never replaced).

Liberties taken, for the lab and not from the tutorial: the banner; loopback only, and a 403 to
any Host but localhost (a DNS-rebinding page must not reach it); with the mock, `Date.now()`
follows the mock's clock (as the walkthrough does), so moving that clock makes the tokens
expire; axios waits forever, this port 30 s; the post-logout redirect URI is the origin of
AUTHGEAR_REDIRECT_URL, which is the tutorial's literal `http://localhost:3000` on port 3000.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import ipaddress
import json
import secrets
import sys
import threading
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.settings import Settings

from .clock import Clock, MockClock

BANNER = (
    '<div id="deliberately-vulnerable" role="alert" style="background:#b00020;color:#fff;padding:8px 16px;'
    'font:14px sans-serif">⚠ The tutorial\'s app AS WRITTEN, for the security lab: DELIBERATELY VULNERABLE '
    "(login CSRF, code injection, stored XSS, a public session secret). It listens on this computer only. "
    "Never expose it to a network, a tunnel or a proxy.</div>\n"
)
WARNING = ("WARNING: the tutorial's app as written, DELIBERATELY VULNERABLE (login CSRF, code injection, stored "
           "XSS, a public session secret).\nFor the security lab on this computer only: never expose it to a "
           "network, a tunnel or a proxy.")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
HTTP_TIMEOUT = 30  # seconds; axios has no timeout at all


def is_loopback(host: str) -> bool:
    """Whether `--host` keeps the app on this computer: localhost or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- JavaScript, as far as app.js needs it -----------------------------------------------

class AxiosError(Exception):
    """What axios throws: on an answer outside 2xx, and when nothing answers."""

    def __str__(self) -> str:  # `"..." + error` reads "AxiosError: Request failed with status code 400"
        return "AxiosError: " + self.args[0]


class JsError(Exception):
    """`new Error(message)`: `"" + error` reads "Error: message"."""

    def __str__(self) -> str:
        return "Error: " + self.args[0]


def js_text(value: Any) -> str:
    """What `${value}` or `"..." + value` makes of a value: no escaping of any kind."""
    if isinstance(value, BaseException) and not isinstance(value, (AxiosError, JsError)):
        return f"{type(value).__name__}: {value}"
    if value is None:
        return "undefined"  # a missing property (JSON null would read "null"; userinfo sends none)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join(js_text(item) for item in value)
    return str(value)


def json_stringify(value: Any) -> str:
    """`JSON.stringify(value, null, 2)`: escapes quotes and backslashes for JSON, never `<` or `>`."""
    return json.dumps(value, indent=2, ensure_ascii=False)


async def axios(method: str, url: str, *, data: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> Any:
    """`axios.get(url, {headers})` / `axios.post(url, data, {headers})`, returning `.data`. With the
    tutorial's Content-Type `application/x-www-form-urlencoded`, axios sends `data` as a form."""
    def call() -> Any:
        try:
            response = requests.request(method, url, data=data, headers=headers, timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise AxiosError(f"{type(exc).__name__} ({url})") from exc
        if not 200 <= response.status_code < 300:
            raise AxiosError(f"Request failed with status code {response.status_code}")
        try:
            return response.json()
        except ValueError:
            return response.text
    return await run_in_threadpool(call)


def new_url(path: str, base: str, **search_params: str) -> str:
    """`new URL(path, base)` with `url.searchParams.set(name, value)` for each parameter."""
    url = urllib.parse.urljoin(base, path)
    return url + ("?" + urllib.parse.urlencode(search_params) if search_params else "")


def send(body: str) -> HTMLResponse:
    """`res.send(string)`: 200, text/html, as it is (with the lab's banner on top)."""
    return HTMLResponse(BANNER + body)


def redirect(url: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """`res.redirect(url)`: Express's 302 with its "Found. Redirecting to" body."""
    link = html.escape(url, quote=True)
    return HTMLResponse(BANNER + f'<p>Found. Redirecting to <a href="{link}">{link}</a></p>', status_code=302,
                        headers={"Location": url, **(headers or {})})


def express_error_page(status: int, message: str) -> HTMLResponse:
    """Express 5's default error handler (finalhandler): the message, or the stack while
    NODE_ENV is not "production", which the tutorial never sets."""
    body = html.escape(message).replace("\n", "<br>").replace("  ", " &nbsp;")
    return HTMLResponse(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n'
        + BANNER + f"<pre>{body}</pre>\n</body>\n</html>\n", status_code=status,
        headers={"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"})


def express_route(route: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """An async route as Express 5 runs it: a rejected promise (an exception here) goes to the
    default error handler, which logs err.stack and answers 500 with it."""
    async def run(req: Request) -> Response:
        try:
            return await route(req)
        except Exception as error:
            # err.stack: the message, then where it was thrown (Python's frames here, Node's there).
            stack = js_text(error) + "\n" + "".join(traceback.format_tb(error.__traceback__))
            print(stack, file=sys.stderr)  # console.error(err.stack)
            return express_error_page(500, stack)
    return run


# --- express-session, ported --------------------------------------------------------------
# app.use(session({ secret: "your_strong_secret_key", cookie: {} }));

# "Replace with a strong, randomly generated secret", says the tutorial's comment; nobody has to.
# MISTAKE (session forgery): every copy of the tutorial signs its cookies with this, so a raw
# session id seen anywhere (the store's keys, a log) becomes a working cookie: sign(id) below.
SESSION_SECRET = "your_strong_secret_key"
COOKIE_NAME = "connect.sid"
COOKIE_JSON = {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}  # cookie: {}


def sign(value: str, secret: str = SESSION_SECRET) -> str:
    """cookie-signature's sign(): value + "." + base64(HMAC-SHA256(secret, value)), no "=" padding."""
    mac = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return value + "." + base64.b64encode(mac).decode().rstrip("=")


def unsign(signed: str, secret: str = SESSION_SECRET) -> str | None:
    """cookie-signature's unsign(): the value if the signature is right, else None."""
    if "." not in signed:
        return None
    value = signed[:signed.rindex(".")]
    return value if hmac.compare_digest(sign(value, secret).encode(), signed.encode()) else None


def cookie_value(session_id: str, secret: str = SESSION_SECRET) -> str:
    """connect.sid's value for a session id, as express-session sets it ("s%3A<id>.<signature>")."""
    return urllib.parse.quote("s:" + sign(session_id, secret), safe="!'()*-._~")  # encodeURIComponent


def session_id_of(cookie: str, secret: str = SESSION_SECRET) -> str | None:
    """The session id a connect.sid cookie names, or None: unsigned ("s:" missing) or a bad signature."""
    value = urllib.parse.unquote(cookie)
    return unsign(value[2:], secret) if value.startswith("s:") else None


class MemoryStore:
    """express-session's default store: each session as JSON under its id, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, str] = {}

    def get(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            text = self._sessions.get(sid)
        return json.loads(text) if text is not None else None

    def set(self, sid: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._sessions[sid] = json.dumps(data)

    def destroy(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def ids(self) -> list[str]:
        """The raw session ids: the store's keys (`KEYS sess:*` on a Redis store). The lab reads
        them here, standing for a leak of the store or of a log that prints `req.sessionID`."""
        with self._lock:
            return list(self._sessions)


class Session(dict):
    """`req.session`: the session's data, its `id`, and `destroy()`."""

    def __init__(self, store: MemoryStore, sid: str, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.store = store
        self.id = sid
        self.destroyed = False

    def destroy(self) -> None:
        self.store.destroy(self.id)
        self.destroyed = True


class ExpressSession:
    """The session middleware: loads `req.session` (Starlette's `request.session`) from the
    cookie, and before the answer goes out saves it (resave: true, saveUninitialized: true)
    and sets the cookie for a new session."""

    def __init__(self, app: ASGIApp, store: MemoryStore, secret: str) -> None:
        self.app = app
        self.store = store
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send_message: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send_message)
            return
        cookie = Request(scope).cookies.get(COOKIE_NAME)
        cookie_id = session_id_of(cookie, self.secret) if cookie else None
        data = self.store.get(cookie_id) if cookie_id else None
        if data is None:  # no cookie, a bad signature, or an id the store does not know: a new one
            session = Session(self.store, secrets.token_urlsafe(24), {"cookie": COOKIE_JSON})  # uid-safe(24)
        else:
            session = Session(self.store, cookie_id, data)
        scope["session"] = session

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start" and not session.destroyed:
                self.store.set(session.id, dict(session))
                if session.id != cookie_id:
                    MutableHeaders(scope=message).append(
                        "Set-Cookie", f"{COOKIE_NAME}={cookie_value(session.id, self.secret)}; Path=/; HttpOnly")
            await send_message(message)

        await self.app(scope, receive, send_with_session)


class LoopbackOnly:
    """The lab's containment, not the tutorial's: answers only to Host localhost, 127.0.0.1 or
    [::1] (it listens on loopback; this keeps a DNS-rebinding page out too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send_message: Send) -> None:
        if scope["type"] == "http":
            host = Request(scope).headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]").lower() not in LOOPBACK_HOSTS:
                answer = PlainTextResponse("This deliberately vulnerable app answers to localhost only.",
                                           status_code=403)
                await answer(scope, receive, send_message)
                return
        await self.app(scope, receive, send_message)


# --- app.js, in the tutorial's order -----------------------------------------------------

class NotAgainstARealProject(ValueError):
    """The tutorial's app was asked to run against a real Authgear project."""


def create_app(settings: Settings, *, clock: Clock | None = None, store: MemoryStore | None = None,
               secret: str = SESSION_SECRET) -> Starlette:
    """The tutorial's app for one provider. `settings` stand for its `.env` (process.env);
    the redirect URL's origin is where it runs (http://localhost:3000 in the tutorial).
    `app.state.session_store` is its MemoryStore. Against the bundled mock (or a room) only:
    NotAgainstARealProject otherwise, since its holes would be holes in a real project's logins."""
    if not settings.is_mock:
        raise NotAgainstARealProject(
            f"the tutorial's app is deliberately vulnerable (login CSRF, code injection, XSS, a published "
            f"session secret): it runs against the bundled mock only, not against {settings.endpoint}. Move .env "
            f"aside (or set KIT_ENV_FILE=/dev/null) to use the mock.")
    # Step 1: Create Express App ---------------------------------------------------------------
    # require("dotenv").config();  const app = express();  const port = process.env.PORT || 3000;
    env = {
        "AUTHGEAR_CLIENT_ID": settings.client_id,
        "AUTHGEAR_CLIENT_SECRET": settings.client_secret,
        "AUTHGEAR_ENDPOINT": settings.endpoint,
        "AUTHGEAR_REDIRECT_URL": settings.redirect_url,
    }
    # The tutorial's "http://localhost:3000": the app's own origin, registered as its post-logout URI.
    parts = urllib.parse.urlsplit(settings.redirect_url)
    post_logout_redirect_uri = f"{parts.scheme}://{parts.netloc}"
    clock = clock or (MockClock(settings.endpoint, auth=settings.teaching_auth) if settings.is_mock else Clock())

    async def date_now() -> int:
        """`Date.now()`: milliseconds (with the mock, by the mock's clock)."""
        await run_in_threadpool(clock.sync)
        return int(clock.now() * 1000)

    # Steps 1 and 4: the landing page; once logged in, Get User Info (with step 6's refresh call)
    # app.get("/", async (req, res) => { ... });
    async def home(req: Request) -> Response:
        if req.session.get("access_token") is not None:  # `!= null`
            # Step 6 replaced `const accessToken = req.session.access_token;` with this call, which
            # sits before the route's try: a failed refresh rejects the route's promise, and
            # Express 5 answers with its default error page (500, the stack in it).
            access_token = await refresh_access_token_if_expired(
                req.session.get("refresh_token"), req.session.get("expire_at"), req)
            # Now use access token to get user info.
            try:
                user_info_url = new_url("/oauth2/userinfo", env["AUTHGEAR_ENDPOINT"])
                user_info = await axios("GET", user_info_url,
                                        headers={"Authorization": "Bearer " + js_text(access_token)})
                email = user_info.get("email") if isinstance(user_info, dict) else None
                # MISTAKE (stored XSS): the userinfo goes into the HTML as it is, not escaped. A name
                # (which users edit themselves) of "<script>…</script>" runs in this page; the
                # tutorial sends no Content-Security-Policy either.
                return send(f"""
              <div style="max-width: 650px; margin: 16px auto; background-color: #EDEDED; padding: 16px;">
                <p>Welcome {js_text(email)}</p>
                <p>User Info:</p>
                <div>
                  <pre>{json_stringify(user_info)}</pre>
                </div>
                  <p>
                      <a href="/logout">Logout</a>
                  </p>
              </div>
          """)
            except Exception as error:  # a JavaScript catch takes everything
                return send("Unable to get User Info: " + js_text(error))
        else:
            return send("""
            <div style="max-width: 650px; margin: 16px auto; background-color: #EDEDED; padding: 16px;">
              <p>Hi there!</p>
              <p>This demo app shows you how to add user authentication to your Express app using Authgear</p>
                <p>Checkout <a href="https://docs.authgear.com">docs.authgear.com</a> to learn more about adding Authgear to your apps.</p>
              <a href="/login">Login</a>
            </div>
          """)

    # Step 2: Implement Login Route ------------------------------------------------------------
    # app.get("/login", async(req, res) => { ... });
    async def login(req: Request) -> Response:
        scopes = "openid offline_access"
        # MISTAKE (login CSRF, RFC 6749 §10.12, RFC 9700 §2.1): no `state` kept in the session and
        # sent along, so the callback cannot tell a login this browser started from a planted one.
        # MISTAKE (authorization-code injection, RFC 9700 §4.5): no PKCE code_challenge and no
        # nonce, so a code is good for whoever redeems it through this app first.
        authorized_url = new_url("/oauth2/authorize", env["AUTHGEAR_ENDPOINT"],
                                 client_id=env["AUTHGEAR_CLIENT_ID"], redirect_uri=env["AUTHGEAR_REDIRECT_URL"],
                                 response_type="code", scope=scopes)
        return redirect(authorized_url)

    # Step 3: Exchange Authorization Code For Access Token (with step 6's two lines) -----------
    # app.get("/auth-redirect", async(req, res) => { ... });
    async def auth_redirect(req: Request) -> Response:
        code = req.query_params.get("code")
        if code is not None:  # `req.query.code != null`
            # MISTAKE (login CSRF): any code is taken, whoever's login it came from (no state to check).
            # MISTAKE (authorization-code injection): no code_verifier: the code is not tied to
            # this browser's login, and the ID token (and its nonce) is never even looked at.
            data = {
                "client_id": env["AUTHGEAR_CLIENT_ID"],
                "client_secret": env["AUTHGEAR_CLIENT_SECRET"],
                "code": code,
                "grant_type": "authorization_code",
                "response_type": "code",
                "redirect_uri": env["AUTHGEAR_REDIRECT_URL"],
            }
            try:
                token_url = new_url("/oauth2/token", env["AUTHGEAR_ENDPOINT"])
                get_token = await axios("POST", token_url, data=data,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
                access_token = get_token.get("access_token")
                # MISTAKE (session fixation): the tokens go into the session the browser already had,
                # under the same id (no req.session.regenerate()): whoever planted that id is in too.
                req.session["access_token"] = access_token
                req.session["expire_at"] = await date_now() + get_token["expires_in"] * 1000  # step 6
                req.session["refresh_token"] = get_token.get("refresh_token")  # step 6
                return redirect("/")
            except Exception as error:
                return send("An error occurred! Login could not complete. Error data: " + js_text(error))
        else:
            return send("No Authorization code in URL")

    # Step 5: Logout ---------------------------------------------------------------------------
    # app.get("/logout", async (req, res) => { ... });
    async def logout(req: Request) -> Response:
        # MISTAKE (logout CSRF): a GET, so any page can log you out (<img src=".../logout">).
        access_token = req.session.get("access_token")
        # MISTAKE: no id_token_hint (the ID token was never kept), no state, and the refresh token
        # is only forgotten, never revoked.
        end_session_url = new_url("/oauth2/end_session", env["AUTHGEAR_ENDPOINT"],
                                  post_logout_redirect_uri=post_logout_redirect_uri)
        # Remove access token, and refresh token from express-session
        req.session.destroy()
        # MISTAKE: Authorization is a request header. On a response the browser ignores it (and
        # never copies it onto the redirect), so it ends nothing; it only hands the access token
        # to the browser and to every proxy and log on the way.
        return redirect(end_session_url, headers={"Authorization": "Bearer " + js_text(access_token)})

    # Step 6: Refresh Access Token -------------------------------------------------------------
    # const refreshAccessTokenIfExpired = async (refreshToken, expiresAt, req) => { ... };
    async def refresh_access_token_if_expired(refresh_token: Any, expires_at: Any, req: Request) -> Any:
        current_time = await date_now()
        # `expiresAt<currentTime`: no margin, so a token with a second left goes out and expires on
        # the way; and `undefined < number` is false, so a session without expire_at never refreshes.
        if expires_at is not None and expires_at < current_time:
            token_url = new_url("/oauth2/token", env["AUTHGEAR_ENDPOINT"])
            data = {
                "client_id": env["AUTHGEAR_CLIENT_ID"],
                "client_secret": env["AUTHGEAR_CLIENT_SECRET"],
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            }
            try:
                get_token = await axios("POST", token_url, data=data,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
                access_token = get_token.get("access_token")
                expires_at = await date_now() + get_token["expires_in"] * 1000
                req.session["access_token"] = access_token
                req.session["expire_at"] = expires_at
                # MISTAKE (the refresh helper under refresh-token rotation): get_token.refresh_token
                # is never stored. With rotation on, the refresh token just sent is dead now, so the
                # next refresh gets invalid_grant, and the error below becomes a 500 on every visit.
                return access_token
            except Exception as error:
                # MISTAKE: a refused refresh (a normal event) thrown, not answered with a new login.
                raise JsError("Failed to refresh access token: " + js_text(error)) from error
        else:
            return req.session.get("access_token")

    async def not_found(req: Request, exc: Exception) -> Response:
        return express_error_page(404, f"Cannot {req.method} {req.url.path}")  # Express's own 404

    store = store or MemoryStore()
    app = Starlette(
        routes=[
            Route("/", express_route(home), methods=["GET"]),
            Route("/login", express_route(login), methods=["GET"]),
            Route(parts.path or "/auth-redirect", express_route(auth_redirect), methods=["GET"]),
            Route("/logout", express_route(logout), methods=["GET"]),
        ],
        # app.use(express.urlencoded({ extended: true })): no route reads a body.
        exception_handlers={404: not_found, 405: not_found},
    )
    # app.use(session({ secret: "your_strong_secret_key", cookie: {} }));
    app.add_middleware(ExpressSession, store=store, secret=secret)
    app.add_middleware(LoopbackOnly)
    app.state.session_store = store
    app.state.settings = settings
    # app.listen(port, ...): `python -m walkthrough --tutorial [--port 3000]` (walkthrough/__main__.py).
    return app
