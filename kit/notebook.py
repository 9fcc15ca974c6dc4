"""Small helpers for the notebooks. The OAuth requests themselves stay in the cells; these
only print what went over the wire, do the part a browser does, and fast-forward a later
notebook to its starting point.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import os
import re
import secrets
import threading
import urllib.parse
from http import HTTPStatus
from typing import Any

import requests

from mock_idp.browser import Browser
from mock_idp.exchanges import shorten
from mock_idp.token import basic_credentials

from . import advice, hosted
from .settings import Settings, SettingsError, ensure_mock, load_settings

TIMEOUT = 10  # seconds, for every request a helper makes: nothing hangs in front of a room

# Values shown only by their start (a learner sees which value it is, never the whole secret).
SECRET_NAMES = {
    "client_secret", "code", "code_verifier", "refresh_token", "access_token", "id_token",
    "token", "id_token_hint", "password",
}

# The learner's browser when the notebooks run unattended (CI): it keeps the mock's cookie
# across cells, as a real browser would, so single sign-on and logout behave the same.
BROWSER = requests.Session()


def short(value: str, keep: int = 8) -> str:
    """The first characters of a secret, enough to recognise it: 'eyJhbGci…'; never a short
    secret whole (the same rule as the mock's exchange log)."""
    return shorten(value, keep)


def shorten_fields(fields: Any) -> Any:
    if isinstance(fields, dict):
        return {k: (short(v) if k in SECRET_NAMES and isinstance(v, str) else shorten_fields(v)) for k, v in fields.items()}
    return fields


def connect() -> Settings:
    """Reads .env, makes sure the bundled mock answers if no Authgear project is configured,
    and says which provider the notebook is talking to."""
    server = hosted.on_hub()
    try:
        settings: Settings | None = load_settings()
    except hosted.HostedMockError:
        settings = None  # on a hub, the learner's mock is not running yet
    if server is not None and (settings is None or (settings.is_mock and not settings.room)):
        hosted.hosted_mock(server)  # started through the hub's proxy if it is not running (or died)
        settings = load_settings()
    assert settings is not None
    if settings.room:
        _join_check(settings)
    elif settings.is_mock:
        ensure_mock(settings.endpoint)
    print("Provider:", settings.describe())
    print("Redirect URL:", settings.redirect_url)
    if server is not None and settings.is_mock and not settings.room:
        print()
        print(f"On this hub the mock is yours alone, beside your Jupyter server: the notebook calls it at "
              f"{settings.endpoint}, your browser reaches it at {hosted.for_browser(settings.endpoint, settings)} "
              f"and the notebook's callback at {hosted.for_browser(settings.redirect_url, settings)}.")
    return settings


def _join_check(settings: Settings) -> None:
    """In a room: the room knows this learner's client and secret (their own teaching API answers)."""
    answer = requests.get(settings.endpoint + "/_mock/clock", auth=settings.teaching_auth, timeout=TIMEOUT)
    if answer.status_code == 401:
        raise SettingsError(f"The room at {settings.endpoint} does not know client {settings.client_id} with this "
                            "secret: join again at " + settings.endpoint + "/join and paste the new lines into .env "
                            "(a room forgets everyone when it ends), then restart the kernel.")
    answer.raise_for_status()


def _shorten_url(url: str) -> str:
    """The URL as it went over the wire (its own encoding kept), with secret values shortened."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    return urllib.parse.urlunsplit(parts._replace(query="&".join(_shorten_pairs(parts.query))))


def _shorten_pairs(encoded: str) -> list[str]:
    """The `name=value` pairs of a query string or form body as sent, secret values shortened."""
    pairs = []
    for pair in encoded.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(name + equals + (short(value) if urllib.parse.unquote_plus(name) in SECRET_NAMES else value))
    return pairs


def _shorten_header(name: str, value: str) -> str:
    if name.lower() == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {short(credentials)}"
    if name.lower() == "location":
        return _shorten_url(value)
    return value


def short_url(url: str) -> str:
    """A URL with the secrets in its query (code, tokens) shortened: safe to print."""
    return _shorten_url(url)


def show(response: requests.Response, fields: list[str] | None = None, raw: bool = False,
         curl: bool = False) -> None:
    """Prints the request and the answer as they went over the wire, secrets shortened.

    `fields` limits a JSON answer to those top-level fields (and says how many were left out).
    `raw=True` prints everything instead: the request line, every request header (Host
    included), the body as sent, the status line, every response header (Set-Cookie
    included, cookie values shortened) and the whole body; `fields` does not apply.
    `curl=True` adds a `curl` command that sends the same request (see `curl_command`).
    """
    if raw:
        _show_raw(response)
    else:
        _show_plain(response, fields)
    hint = exchange_advice(response)
    if hint:
        print()
        print(hint)
    if curl:
        print()
        print(curl_command(response.request))


def _sent_client(request: requests.PreparedRequest, form: dict[str, str]) -> tuple[str | None, str | None]:
    """The client_id and secret a token request sent: in the form (client_secret_post), else in
    its Authorization: Basic header (client_secret_basic), read as the mock reads it."""
    if "client_id" in form or "client_secret" in form:
        return form.get("client_id"), form.get("client_secret")
    return basic_credentials(request.headers.get("Authorization", "")) or (None, None)


def exchange_advice(response: requests.Response) -> str:
    """What to do next, when the answer is an error of a code exchange the kit recognises (a
    wrong secret, an unknown client, a used or expired code): "" otherwise. A failure shown on
    purpose gets it too: it is what the learner will see when it happens for real."""
    request = response.request
    if response.status_code < 400 or not (request.url or "").split("?")[0].endswith("/oauth2/token"):
        return ""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    if form.get("grant_type") != "authorization_code":
        return ""
    try:
        answer = response.json()
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    try:
        settings = load_settings()
    except SettingsError:
        return ""  # connect() has said what to fix in .env already
    error, description = str(answer.get("error", "")), str(answer.get("error_description", ""))
    found = advice.token_error(error, description, settings, advice.NOTEBOOK)
    if found is None:
        return ""
    # The cell may have sent values of its own: then the settings are fine, the cell is not.
    fix = found.next_step
    sent_id, sent_secret = _sent_client(request, form)
    if "redirect_uri" in found.meaning and form.get("redirect_uri") != settings.redirect_url:
        fix = (f"this cell sent redirect_uri {form.get('redirect_uri')!r}, not settings.redirect_url "
               f"({settings.redirect_url!r}), the one the login used: send that one, character for character.")
    elif "client" in found.meaning.lower() and sent_id != settings.client_id:
        fix = f"this cell sent client_id {sent_id!r}, not settings.client_id ({settings.client_id!r}): send that one."
    elif "client" in found.meaning.lower() and sent_secret is None:
        fix = ("this cell sent no client secret: a confidential client sends settings.client_secret, in the form "
               "(client_secret_post) or in an Authorization: Basic header (client_secret_basic).")
    elif "client" in found.meaning.lower() and sent_secret != settings.client_secret:
        fix = ("this cell sent another secret than settings.client_secret (the one from .env, or the bundled "
               "mock's): send that one.")
    return f"→ What it means: {found.meaning}\n  If it was not on purpose: {fix}"


def _show_plain(response: requests.Response, fields: list[str] | None) -> None:
    request = response.request
    print(f"{request.method} {_shorten_url(request.url or '')}")
    for name in ("Authorization", "Content-Type"):
        if name in request.headers:
            print(f"{name}: {_shorten_header(name, request.headers[name])}")
    body = request.body
    if body:
        text = body.decode() if isinstance(body, bytes) else str(body)
        if request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
            print()
            print("&\n".join(f"{k}={short(v) if k in SECRET_NAMES else v}" for k, v in pairs))
        else:
            print()
            print(text)
    print()
    print(f"HTTP {response.status_code} {response.reason}")
    for name in ("Location", "Content-Type", "Cache-Control", "WWW-Authenticate"):
        if name in response.headers:
            print(f"{name}: {_shorten_header(name, response.headers[name])}")
    if response.headers.get("Content-Type", "").startswith("application/json") and response.content:
        body = response.json()
        left_out: list[str] = []
        if fields is not None and isinstance(body, dict):
            left_out = [name for name in body if name not in fields]
            body = {name: body[name] for name in fields if name in body}
        print()
        print(json.dumps(shorten_fields(body), indent=2, ensure_ascii=False))
        if left_out:
            print(f"({len(left_out)} more field{'s' if len(left_out) > 1 else ''} not shown)")
    elif response.headers.get("Content-Type", "").startswith("text/plain") and response.text:
        print()
        print(response.text.rstrip())


# --- The raw view and the curl command ---------------------------------------------------

# Headers requests adds to every request by itself; curl sends its own, which do not matter here.
DEFAULT_REQUEST_HEADERS = {"host", "user-agent", "accept-encoding", "accept", "connection", "content-length"}
_SECRET_ALTERNATIVES = "|".join(sorted(SECRET_NAMES, key=len, reverse=True))
# A secret's value in a JSON text ("access_token": "…"), and in an HTML form (name="code" value="…").
SECRET_IN_JSON = re.compile(r'("(?:%s)"\s*:\s*")((?:[^"\\]|\\.)*)(")' % _SECRET_ALTERNATIVES)
SECRET_IN_HTML = re.compile(r'(name="(?:%s)"\s+value=")([^"]*)(")' % _SECRET_ALTERNATIVES)
SECRET_IN_QUERY = re.compile(r"((?:^|[?&#])(?:%s)=)([^&#\s\"'<]*)" % _SECRET_ALTERNATIVES)
RAW_HTML_KEEP = 2000  # characters of an HTML page the raw view prints (a page is long, and not the point)


def _shorten_text(text: str) -> str:
    """A body as sent, with the secrets in it shortened (JSON fields, form inputs, query strings)."""
    text = SECRET_IN_JSON.sub(lambda m: m.group(1) + short(m.group(2)) + m.group(3), text)
    text = SECRET_IN_HTML.sub(lambda m: m.group(1) + short(m.group(2)) + m.group(3), text)
    return SECRET_IN_QUERY.sub(lambda m: m.group(1) + short(m.group(2)) if m.group(2) else m.group(0), text)


def _shorten_cookies(value: str) -> str:
    """A Cookie header: every cookie's value shortened, as in the mock's exchange log."""
    pairs = []
    for pair in value.split(";"):
        name, equals, cookie = pair.strip().partition("=")
        pairs.append(name + equals + shorten(cookie, 6))
    return "; ".join(pairs)


def _shorten_set_cookie(value: str) -> str:
    """A Set-Cookie header: the cookie's value shortened, its attributes (Path, HttpOnly, …) kept."""
    cookie, semicolon, attributes = value.partition(";")
    name, equals, content = cookie.partition("=")
    return name + equals + shorten(content, 6) + semicolon + attributes


def _shorten_raw_header(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered == "cookie":
        return _shorten_cookies(value)
    if lowered == "set-cookie":
        return _shorten_set_cookie(value)
    return _shorten_header(name, value)


def _host_header(url: str) -> str:
    """The Host header http.client adds (requests does not list it): the port only if not the default."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _wire_headers(response: requests.Response) -> list[tuple[str, str]]:
    """The response's headers as they came, one per line: a repeated header (Set-Cookie) as
    often as it came, in the server's order and spelling."""
    original = getattr(response.raw, "_original_response", None)
    message = getattr(original, "msg", None)
    if message is not None:
        return list(message.items())
    headers = getattr(response.raw, "headers", None)
    if headers is not None and hasattr(headers, "items"):
        return list(headers.items())
    return list(response.headers.items())


def _body_text(body: Any) -> str | None:
    if not body:
        return None
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return body if isinstance(body, str) else None


def _show_raw(response: requests.Response) -> None:
    request = response.request
    url = request.url or ""
    parts = urllib.parse.urlsplit(url)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    print(f"{request.method} {_shorten_url(target)} HTTP/1.1")
    _print_raw_part([("Host", _host_header(url)), *request.headers.items()], request.body,
                    request.headers.get("Content-Type", ""))
    print()
    version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(getattr(response.raw, "version", 11), "HTTP/1.1")
    print(f"{version} {response.status_code} {response.reason}")
    _print_raw_part(_wire_headers(response), response.content, response.headers.get("Content-Type", ""))


def _print_raw_part(headers: list[tuple[str, str]], body: Any, content_type: str) -> None:
    """The headers and the body of a request or an answer, as sent, secrets shortened."""
    for name, value in headers:
        print(f"{name}: {_shorten_raw_header(name, value)}")
    if not body:
        return
    text = _body_text(body)
    print()
    if text is None:
        print(f"({len(body)} bytes that are not text)")
    elif content_type.startswith("application/x-www-form-urlencoded"):
        print("&\n".join(_shorten_pairs(text)))
    elif "html" in content_type and len(text) > RAW_HTML_KEEP:
        print(_shorten_text(text[:RAW_HTML_KEEP]))
        print(f"… ({len(text) - RAW_HTML_KEEP} more characters of HTML not shown)")
    else:
        print(_shorten_text(text))


def _variable(name: str) -> str:
    """The shell variable that stands for a secret: code_verifier → CODE_VERIFIER."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def _shell_word(pieces: list[tuple[str, str]]) -> str:
    """One shell word from literal text and shell variables: pieces of ("text", …) or ("var", NAME).
    Literals are single-quoted (a ' written '\\''), variables double-quoted: never expanded
    anywhere else, never split."""
    if all(kind == "text" for kind, _ in pieces):
        return _single_quoted("".join(value for _, value in pieces))
    literal = "".join(value for kind, value in pieces if kind == "text")
    if not re.search(r'["\\$`!]', literal):  # the plain-looking form: "code=$CODE"
        out = []
        for index, (kind, value) in enumerate(pieces):
            if kind == "var":
                following = pieces[index + 1][1] if index + 1 < len(pieces) else ""
                out.append("${%s}" % value if re.match(r"[A-Za-z0-9_]", following) else "$" + value)
            else:
                out.append(value)
        return '"' + "".join(out) + '"'
    return "".join(_single_quoted(value) if kind == "text" else '"${%s}"' % value for kind, value in pieces if value)


def _single_quoted(text: str) -> str:
    """`text` as one shell word that nothing expands: 'it'\\''s $HOME' is it's $HOME."""
    return "'" + text.replace("'", "'\\''") + "'"


def _with_secrets(text: str, pattern: re.Pattern[str], variables: list[str]) -> list[tuple[str, str]]:
    """`text` cut into pieces, each secret value that `pattern` finds (its group 2, named by
    the name inside group 1) replaced by its shell variable."""
    pieces: list[tuple[str, str]] = []
    position = 0
    for match in pattern.finditer(text):
        name = re.search(r"(%s)" % _SECRET_ALTERNATIVES, match.group(1))
        if not match.group(2) or name is None:
            continue
        variable = _variable(name.group(1))
        if variable not in variables:
            variables.append(variable)
        pieces.append(("text", text[position:match.start(2)]))
        pieces.append(("var", variable))
        position = match.end(2)
    pieces.append(("text", text[position:]))
    return [piece for piece in pieces if piece[1]]


def curl_command(request: requests.PreparedRequest | requests.Response) -> str:
    """A `curl` command that sends the same request, to paste into a shell.

    No secret is ever written out: the client secret is "$CLIENT_SECRET", a code "$CODE", a
    verifier "$CODE_VERIFIER", a token "$ACCESS_TOKEN", "$REFRESH_TOKEN", … (set them first;
    a comment line names them). An `Authorization: Basic` header becomes
    `--user "$CLIENT_ID:$CLIENT_SECRET"` (curl does the base64), a Bearer header
    `-H "Authorization: Bearer $ACCESS_TOKEN"`, a form body one `--data-urlencode` per field.
    The same request always gives the same command (only values that are not secrets, such as
    state or nonce, are written out)."""
    if isinstance(request, requests.Response):
        request = request.request
    method = (request.method or "GET").upper()
    url = request.url or ""
    parts = urllib.parse.urlsplit(url)
    headers = request.headers
    variables: list[str] = []
    notes: list[str] = []
    options: list[str] = []

    text = _body_text(request.body)
    content_type = headers.get("Content-Type", "")
    is_form = content_type.startswith("application/x-www-form-urlencoded")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)

    def data_urlencode(name: str, value: str) -> str:
        field = urllib.parse.quote_plus(name)
        if name in SECRET_NAMES and value:
            variable = _variable(name)
            if variable not in variables:
                variables.append(variable)
            return "--data-urlencode " + _shell_word([("text", field + "="), ("var", variable)])
        return "--data-urlencode " + _shell_word([("text", f"{field}={value}")])

    flags = []
    query_as_data = method in ("GET", "HEAD") and not request.body and any(n in SECRET_NAMES for n, _ in query)
    if query_as_data:  # -G: curl puts the --data-urlencode fields into the query string
        flags.append("-G")
        target = _shell_word([("text", urllib.parse.urlunsplit(parts._replace(query="", fragment="")))])
    else:
        target = _shell_word(_with_secrets(url, SECRET_IN_QUERY, variables))
    if method == "HEAD":
        flags.append("--head")
    elif method == "POST" and request.body:
        pass  # curl sends a POST when it has data
    elif method != "GET":
        flags.append(f"-X {method}")

    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, colon, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                colon = ""
            if colon:
                for variable in ("CLIENT_ID", "CLIENT_SECRET"):
                    if variable not in variables:
                        variables.append(variable)
                options.append('--user "$CLIENT_ID:$CLIENT_SECRET"')
                if re.search(r"[^A-Za-z0-9._~-]", user + password):
                    notes.append("# RFC 6749 §2.3.1: the id and secret are form-urlencoded before the base64, and "
                                 "--user does not: set CLIENT_ID and CLIENT_SECRET to their form-urlencoded forms.")
            else:
                variables.append("BASIC_CREDENTIALS")
                options.append('-H "Authorization: Basic $BASIC_CREDENTIALS"')
        elif scheme.lower() == "bearer":
            variables.append("ACCESS_TOKEN")
            options.append('-H "Authorization: Bearer $ACCESS_TOKEN"')
        else:
            variables.append("CREDENTIALS")
            options.append("-H " + _shell_word([("text", f"Authorization: {scheme} "), ("var", "CREDENTIALS")]))
    if text is not None and content_type:
        options.append("-H " + _shell_word([("text", f"Content-Type: {content_type}")]))
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in DEFAULT_REQUEST_HEADERS or lowered in ("authorization", "content-type"):
            continue
        if lowered == "cookie":
            variables.append("COOKIE")
            options.append('-H "Cookie: $COOKIE"')
        else:
            options.append("-H " + _shell_word([("text", f"{name}: {value}")]))

    if query_as_data:
        options.extend(data_urlencode(name, value) for name, value in query)
    if request.body:
        if text is None:
            notes.append(f"# The body ({len(request.body)} bytes that are not text) is left out.")
        elif is_form:
            options.extend(data_urlencode(name, value)
                           for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True))
        else:
            options.append("--data-raw " + _shell_word(_with_secrets(text, SECRET_IN_JSON, variables)))

    lines = list(notes)
    if variables:
        names = ", ".join(variables[:-1]) + " and " + variables[-1] if len(variables) > 1 else variables[0]
        lines.insert(0, f"# Set {names} first (export {variables[-1]}='…'): no secret is written out here.")
    command = ["curl " + " ".join(["-i", *flags, target])] + [f"  {option}" for option in options]
    lines.append(" \\\n".join(command))
    return "\n".join(lines)


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (notebook 03 builds these by hand)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# --- The browser step ------------------------------------------------------------------

def _autologin_credentials() -> tuple[str, str] | None:
    """KIT_AUTOLOGIN=1 (alice) or KIT_AUTOLOGIN=email:password: no person at the browser."""
    value = os.environ.get("KIT_AUTOLOGIN", "")
    if not value:
        return None
    if ":" in value:
        email, _, password = value.partition(":")
        return email, password
    return "alice@example.com", "alice123"


# The last browser step the kit saw end: ("login" or "logout", the URL opened, the URL landed on).
_SEEN_LEGS: list[tuple[str, str, str]] = []

# The kernel's callback listeners by port: running the login cell again replaces the old one.
_LISTENERS: dict[int, Any] = {}


# What the person at the browser does on Authgear's page: log in, press Cancel, or nothing (a
# `prompt=none` probe: no page shows, the browser comes straight back).
PRESSES = ("login", "cancel", "nothing")


class PendingLogin:
    """The step a person does in a browser: open the authorization URL, log in, land on the
    redirect URL. `callback()` returns the URL the browser landed on."""

    leg = "login"

    def __init__(self, settings: Settings, authorization_url: str, press: str = "login") -> None:
        if press not in PRESSES:
            raise ValueError(f"press must be one of {', '.join(PRESSES)}, not {press!r}")
        self.settings = settings
        self.url = authorization_url
        self.press = press
        self.credentials = _autologin_credentials()
        redirect = urllib.parse.urlsplit(settings.redirect_url)
        self.listen = (
            self.credentials is None
            and redirect.hostname in ("localhost", "127.0.0.1")
            and not os.environ.get("KIT_PASTE_BACK")
        )
        self.listener: Any = None
        self.landed: list[str] = []
        self.arrived: str | None = None  # where the browser landed, once callback() has it
        self.event = threading.Event()

    def instruction(self) -> str:
        if self.press == "nothing":
            return "Open this link in your browser. No page will show: the browser comes straight back:"
        return "Open this link in your browser and " + ("press Cancel:" if self.press == "cancel" else "log in:")

    def unattended_note(self) -> str:
        assert self.credentials is not None
        doing = {"cancel": "pressing Cancel", "nothing": "pressing nothing"}.get(
            self.press, f"logging in as {self.credentials[0]}")
        return f"(Running unattended: the notebook makes the browser's requests itself, {doing}.)"

    def show_link(self) -> None:
        print(self.instruction())
        print()
        link = hosted.for_browser(self.url, self.settings)
        print(link)
        if link.startswith("/"):
            # On a hub that did not say its address: a link from the hub's root, which a click in
            # JupyterLab resolves against the page's own address.
            _display_link(link, "Open the link above (in a new tab)")
        if self.credentials is not None:
            print()
            print(self.unattended_note())
        elif self.listen:
            self._start_listener()
            print()
            through = hosted.for_browser(self.settings.redirect_url, self.settings)
            hub_note = f" (your browser reaches it through the hub: {through})" if through != self.settings.redirect_url else ""
            print(f"The notebook is listening at {self.settings.redirect_url}{hub_note} to catch where you land.")
        else:
            print()
            print("Then copy the whole URL you land on (even if the page does not load) and paste it below.")

    def _start_listener(self) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        from mock_idp.server import bind, serve_app

        redirect = urllib.parse.urlsplit(self.settings.redirect_url)

        async def landed(request: Request) -> HTMLResponse:
            # The redirect URL the login named, with what came back in its query: the same on a hub,
            # where the browser came through jupyter-server-proxy with the hub's Host.
            self.landed.append(str(request.url.replace(scheme=redirect.scheme, netloc=redirect.netloc)))
            self.event.set()
            return HTMLResponse("<h1>Got it.</h1><p>Go back to the notebook: it has what it needs.</p>")

        app: Any = Starlette(routes=[Route(redirect.path or "/", landed, methods=["GET", "POST"])])
        on_hub = hosted.on_hub() is not None
        # Another learner's browser, through their own server's proxy, must not land here.
        app = hosted.this_user_only(app, on_hub)
        port = redirect.port or 80
        previous = _LISTENERS.pop(port, None)
        if previous is not None:  # the cell ran again before anyone logged in: free the port
            previous.stop()
        try:
            sock = bind(redirect.hostname or "localhost", port)
        except OSError:
            self.listen = False
            if hosted.on_hub() is not None and self.settings.is_mock:
                print(f"(Port {redirect.port} of this server, where your mock sends the browser back, is taken by "
                      "another program: stop your server (File → Hub Control Panel) and start it again.)")
            else:
                print(f"(Port {redirect.port} is busy, e.g. the walkthrough runs there: paste the URL instead.)")
            return
        self.listener = serve_app(app, sock, self.settings.redirect_url, proxy_headers=not on_hub)
        _LISTENERS[port] = self.listener

    def _browse(self) -> str:
        """What the browser does, as plain HTTP (mock_idp.browser): follow the redirects, log in
        on the login page, press "Continue as …" on Authgear's select-account page."""
        assert self.credentials is not None
        if self.press == "nothing":  # prompt=none: a login page would be a failure, not a form to fill
            return Browser(BROWSER).login(self.url, until=self.settings.redirect_url)
        email, password = self.credentials
        return Browser(BROWSER).login(self.url, until=self.settings.redirect_url, email=email, password=password,
                                      press=self.press)

    def callback(self, timeout: float = 300) -> str:
        if self.arrived is not None:
            # The cell ran again after this login came back: the same answer, in every mode (a
            # listener, paste-back, unattended), never a second login behind the learner's back.
            print(f"(This {type(self).leg} already came back; here is the same address again. For a new one, "
                  "run the cell with the link again.)")
            return self.arrived
        landed = self._callback(timeout)
        self.arrived = landed
        _SEEN_LEGS.append((type(self).leg, self.url, landed))
        del _SEEN_LEGS[:-1]  # only the last one: show_browser_leg prints it for a real project
        return landed

    def _callback(self, timeout: float) -> str:
        if self.credentials is not None:
            return self._browse()
        if self.listen and self.listener is not None:
            if not self.listener.thread.is_alive():
                raise RuntimeError("This login link was replaced by a newer one: run the cell that shows "
                                   "the link again, then this one.")
            try:
                if not self.event.wait(timeout):
                    raise TimeoutError(f"No login arrived within {timeout:.0f} s: run the previous cell again.")
                return self.landed[0]
            finally:
                for port, listener in list(_LISTENERS.items()):
                    if listener is self.listener:
                        del _LISTENERS[port]
                self.listener.stop()
        return input("Paste the URL you landed on: ").strip()


def _display_link(href: str, text: str) -> None:
    """A clickable link in the notebook (an HTML output), for a link a plain-text output would
    not make clickable."""
    try:
        from IPython.display import HTML, display
    except ImportError:
        return
    escaped = html.escape(href, quote=True)
    display(HTML(f'<a href="{escaped}" target="_blank" rel="noopener">{html.escape(text)}</a>'))


def login_in_browser(settings: Settings, authorization_url: str, press: str = "login") -> PendingLogin:
    """Shows the link (and starts catching the callback); `.callback()` waits for it. `press`:
    "login", "cancel", or "nothing" for a `prompt=none` probe, where no page shows."""
    pending = PendingLogin(settings, authorization_url, press)
    pending.show_link()
    return pending


# --- Fast-forward for later notebooks ----------------------------------------------------

def discover(settings: Settings) -> dict[str, Any]:
    response = requests.get(settings.endpoint + "/.well-known/openid-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


@dataclasses.dataclass(frozen=True)
class AuthCode:
    """Where notebook 03 ends: a fresh code, and what the app kept to redeem and check it."""

    code: str
    code_verifier: str  # PKCE: only the app has it; the token request must send it
    nonce: str  # comes back inside the ID token (notebook 05 checks it)
    state: str  # already checked against the callback
    redirect_uri: str  # must be sent again, identical, with the code


def _authorize(settings: Settings, metadata: dict[str, Any], scope: str) -> AuthCode:
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    url = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_url,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    pending = PendingLogin(settings, url)
    if pending.credentials is None:
        pending.show_link()
    landed = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(pending.callback()).query))
    if landed.get("state") != state:
        raise RuntimeError(f"state does not match: the login did not come from this notebook ({landed})")
    if "code" not in landed:
        raise RuntimeError(f"the login did not give a code: {landed}")
    return AuthCode(landed["code"], verifier, nonce, state, settings.redirect_url)


def quick_code(settings: Settings, scope: str = "openid offline_access email profile") -> AuthCode:
    """Notebook 03 by hand, in one call: state, nonce and PKCE, the browser step (with the
    mock and no person: the browser's requests), the state check. Returns the code and what
    the app kept (`code_verifier`, `nonce`)."""
    fresh = _authorize(settings, discover(settings), scope)
    print(f"A fresh code (notebook 03 did this step by hand): code={short(fresh.code)}")
    return fresh


def quick_login(settings: Settings, scope: str = "openid offline_access email profile") -> dict[str, Any]:
    """Notebooks 03 and 04 by hand, in one call: authorization URL with state, nonce and PKCE,
    the browser step, state check, code exchange. Returns the token response, as Authgear sent it
    (to check the ID token's nonce, use quick_code and exchange the code yourself: it keeps the nonce)."""
    metadata = discover(settings)
    fresh = _authorize(settings, metadata, scope)
    response = requests.post(metadata["token_endpoint"], data={
        "grant_type": "authorization_code",
        "code": fresh.code,
        "redirect_uri": fresh.redirect_uri,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "code_verifier": fresh.code_verifier,
    }, timeout=TIMEOUT)
    if response.status_code != 200:
        hint = exchange_advice(response)
        raise RuntimeError(f"the code exchange failed: {response.status_code} {response.text}" + (f"\n{hint}" if hint else ""))
    return response.json()  # the server's answer as it came: the nonce sent is quick_code's (AuthCode.nonce)


def advance_mock_clock(settings: Settings, seconds: int) -> bool:
    """Moves the mock's clock on (codes and tokens expire without waiting). A real Authgear's
    clock cannot be moved: returns False and says so."""
    if not settings.is_mock:
        print(f"A real Authgear project's clock cannot be moved: wait {seconds} s instead, or read on.")
        return False
    response = requests.post(settings.endpoint + "/_mock/clock", json={"advance": seconds},
                             auth=settings.teaching_auth, timeout=TIMEOUT)
    response.raise_for_status()
    print(f"The mock's clock is now {response.json()['offset']} s ahead of real time.")
    return True


def set_mock_clock(settings: Settings, offset: int) -> bool:
    """Sets the mock's clock `offset` seconds from real time (negative: in the past; 0: back to
    real time). A real Authgear's clock cannot be moved: returns False and says so."""
    if not settings.is_mock:
        print("A real Authgear project's clock cannot be moved.")
        return False
    response = requests.post(settings.endpoint + "/_mock/clock", json={"offset": offset},
                             auth=settings.teaching_auth, timeout=TIMEOUT)
    response.raise_for_status()
    now = response.json()["offset"]
    if now == 0:
        print("The mock's clock is back on real time.")
    else:
        print(f"The mock's clock is now {abs(now)} s {'ahead of' if now > 0 else 'behind'} real time.")
    return True


# --- Preflight: is the provider ready for the notebooks? ---------------------------------

def _fail(problem: str, fix: str) -> bool:
    print("✘", problem)
    print("  Fix:", fix)
    return False


def preflight(settings: Settings) -> bool:
    """Checks, without logging in, what notebook 01 checks by hand; says what to fix in plain words.

    1. the endpoint answers with a discovery document whose issuer is the endpoint itself;
    2. the authorization endpoint knows the client_id (else: 400 error page, "invalid client ID");
    3. the redirect URI is registered for it (else: 400 error page, "redirect URI is not allowed").
    The client secret cannot be checked without a real code: notebook 04 shows a wrong one.
    """
    where = "the bundled mock" if settings.is_mock and not settings.room else "AUTHGEAR_ENDPOINT"
    discovery_url = settings.endpoint + "/.well-known/openid-configuration"
    try:
        response = requests.get(discovery_url, timeout=TIMEOUT)
    except requests.ConnectionError:
        fix = ("restart the kernel and run connect() again (it starts the mock), or run `make lab`."
               if settings.is_mock and not settings.room else
               "check AUTHGEAR_ENDPOINT in .env (it looks like https://<project>.authgear.cloud) and "
               "your network, then restart the kernel.")
        return _fail(f"Nothing answers at {settings.endpoint} ({where}): the connection failed.", fix)
    except requests.Timeout:
        return _fail(f"{settings.endpoint} did not answer within {TIMEOUT} s.",
                     "check the address and your network (a proxy or firewall?).")
    except requests.RequestException as exc:
        return _fail(f"{settings.endpoint} is not a usable address ({type(exc).__name__}).",
                     "AUTHGEAR_ENDPOINT must be a full origin such as https://<project>.authgear.cloud.")
    try:
        metadata = response.json() if response.status_code == 200 else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or "authorization_endpoint" not in metadata:
        return _fail(f"{settings.endpoint} answers, but {discovery_url} is no discovery document "
                     f"(HTTP {response.status_code}).",
                     "AUTHGEAR_ENDPOINT must be the project's endpoint itself, with no path after it.")
    if metadata.get("issuer") != settings.endpoint:
        return _fail(f"The server calls itself {metadata.get('issuer')!r}, not {settings.endpoint!r}.",
                     f"set AUTHGEAR_ENDPOINT={metadata.get('issuer')} exactly: tokens carry the issuer and "
                     "must match it character for character.")
    print(f"✔ {settings.endpoint} answers, and its discovery document names it as the issuer.")

    probe = requests.get(metadata["authorization_endpoint"], params={
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_url,
        "response_type": "code",
        "scope": "openid",
    }, allow_redirects=False, timeout=TIMEOUT)
    text = probe.text if probe.status_code >= 400 else ""
    if probe.status_code == 400 and ("invalid client ID" in text or "unauthorized_client" in text):
        return _fail(f"The client_id {settings.client_id!r} is unknown to this project.",
                     "copy the Client ID from the portal (Applications → your application) into "
                     "AUTHGEAR_CLIENT_ID in .env, then restart the kernel.")
    if probe.status_code == 400 and "redirect URI" in text:
        print(f"✔ The client_id {settings.client_id} is known.")
        return _fail(f"The redirect URI {settings.redirect_url} is not registered for this client.",
                     "in the portal, add it to the application's Authorized Redirect URIs exactly as "
                     "written (scheme, host, port, path: a trailing slash counts), press Save, run this again.")
    if probe.status_code >= 400:
        first_line = text.strip().splitlines()[0] if text.strip() else probe.reason
        return _fail(f"The authorization endpoint refused the request: HTTP {probe.status_code}, {first_line}.",
                     "read the message above; notebook 01 shows the same request step by step.")
    landed = urllib.parse.parse_qs(urllib.parse.urlsplit(probe.headers.get("location", "")).query)
    if "error" in landed:
        return _fail(f"The authorization endpoint answered {landed['error'][0]}: "
                     f"{landed.get('error_description', [''])[0]}.",
                     "check the application's settings in the portal (type: OIDC/SAML Client Application).")
    print(f"✔ The client_id {settings.client_id} is known.")
    print(f"✔ The redirect URI {settings.redirect_url} is registered for it.")
    print("Ready. (The client secret can only be checked with a real code: notebook 04 shows a wrong one.)")
    return True


# --- Logout is a browser step too (notebook 08) ---------------------------------------------

class PendingLogout(PendingLogin):
    """RP-initiated logout: the browser visits end_session (Authgear's session cookie lives in
    the browser, not in the app) and lands on the post_logout_redirect_uri. `callback()`
    returns the URL it landed on, as for a login."""

    leg = "logout"

    def instruction(self) -> str:
        return "Open this link in your browser to log out of Authgear:"

    def unattended_note(self) -> str:
        return "(Running unattended: the notebook makes the browser's requests itself, with its cookie.)"

    def _browse(self) -> str:
        """end_session with the browser's cookies; confirms the logout if Authgear asks."""
        return Browser(BROWSER).logout(self.url, until=self.settings.redirect_url)


def logout_in_browser(settings: Settings, end_session_url: str, post_logout_redirect_uri: str) -> PendingLogin:
    """Shows the logout link (and starts catching the return at `post_logout_redirect_uri`);
    `.callback()` waits for the URL the browser lands on."""
    import dataclasses

    pending = PendingLogout(dataclasses.replace(settings, redirect_url=post_logout_redirect_uri), end_session_url)
    pending.show_link()
    return pending


# --- The browser leg, request by request -------------------------------------------------

# Requests the app makes itself (the back channel): not part of the browser leg.
BACK_CHANNEL_PATHS = ("/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke", "/oauth2/introspect",
                      "/oauth2/jwks", "/.well-known/")
HEADER_SPELLING = {"www-authenticate": "WWW-Authenticate"}


def _header_name(name: str) -> str:
    return HEADER_SPELLING.get(name, "-".join(word.capitalize() for word in name.split("-")))


def _exchanges(settings: Settings, since: int) -> list[dict[str, Any]]:
    response = requests.get(settings.endpoint + "/_mock/exchanges", params={"since": since},
                            auth=settings.teaching_auth, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["exchanges"]


def exchange_count(settings: Settings) -> int:
    """The number of the mock's latest logged exchange (0 for a real project, whose log the kit
    cannot read): `since = exchange_count(settings)` before a login, `show_browser_leg(settings,
    since)` after it."""
    if not settings.is_mock:
        return 0
    return max((entry["seq"] for entry in _exchanges(settings, 0)), default=0)


def _display_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _query(params: dict[str, Any]) -> str:
    """The query string of a logged GET, encoded as a browser sends it; the log's "…" and "•"
    (a shortened or hidden value) stay readable."""
    encoded = urllib.parse.urlencode({name: _display_value(value) for name, value in params.items()})
    return encoded.replace("%E2%80%A6", "…").replace("%E2%80%A2", "•")


def show_browser_leg(settings: Settings, since: int) -> None:
    """Prints the browser's part of a login (or logout) as it went over the wire, one request
    after another: the authorization request and its redirect, the login (or select-account)
    page, the form posted back with its cookie, the redirect to the app with the code. Each
    way with its cookies (values shortened) and the password hidden.

    With the mock, from its exchange log: the exchanges after number `since` (take it with
    `exchange_count(settings)` before the login). A real Authgear project keeps its log to
    itself: then it prints the two ends the kit saw (the URL it opened and the URL the browser
    landed on) and where to see the rest (the browser's developer tools)."""
    if not settings.is_mock:
        _show_seen_leg()
        return
    try:
        entries = [entry for entry in _exchanges(settings, since)
                   if not str(entry.get("path", "")).startswith(BACK_CHANNEL_PATHS)]
    except requests.RequestException as exc:
        print(f"The mock's exchange log did not answer ({type(exc).__name__}): is the mock running at "
              f"{settings.endpoint}?")
        return
    if not entries:
        print(f"No browser request reached the mock after exchange {since}: take "
              "`since = exchange_count(settings)` before the login, and call this after it.")
        return
    print(f"The browser leg, as the mock saw it ({len(entries)} request{'s' if len(entries) > 1 else ''}):")
    for number, entry in enumerate(entries, 1):
        method, path, params = entry["method"], entry["path"], entry.get("params") or {}
        print()
        print(f"── {number} ──")
        if method == "GET" and params:
            print(f"{method} {path}?{_query(params)}")
        else:
            print(f"{method} {path}")
        for name, value in (entry.get("request_headers") or {}).items():
            print(f"{_header_name(name)}: {value}")
        if method != "GET" and params:
            print()
            print("&\n".join(f"{name}={_display_value(value)}" for name, value in params.items()))
        print()
        status = entry["status"]
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        print(f"HTTP {status} {reason}".rstrip())
        for name, value in (entry.get("response_headers") or {}).items():
            print(f"{_header_name(name)}: {value}")
        if entry.get("response_body") is not None:
            print()
            body = entry["response_body"]
            print(body.rstrip() if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False))
    location = (entries[-1].get("response_headers") or {}).get("location", "")
    if location.startswith(settings.redirect_url):
        print()
        print(f"Then the browser goes to {settings.redirect_url}: that request reaches the app, not Authgear, "
              "so the mock's log ends here.")


def _show_seen_leg() -> None:
    if not _SEEN_LEGS:
        print("A real Authgear project keeps its log to itself, and no login has ended in this kernel yet: "
              "log in first, then run this again.")
        return
    leg, opened, landed = _SEEN_LEGS[-1]
    first = "authorization URL the notebook built" if leg == "login" else "end-session URL the notebook built"
    print(f"A real Authgear project keeps its log to itself: the kit saw only the two ends of the {leg}.")
    print()
    print(f"The {first} (the browser's first request):")
    print(f"GET {short_url(opened)}")
    print()
    print("The URL the browser landed on (the last redirect, back to the app):")
    print(short_url(landed))
    print()
    print("Everything in between (the login page, the form posted back, the redirects and their cookies) "
          "happened in your browser. To see it request by request: open its developer tools (F12), the "
          "Network tab, tick \"Preserve log\", and log in again.")
