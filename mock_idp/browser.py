"""A person's browser at the mock, as plain HTTP: follow redirects, fill in the pages.

    from mock_idp.browser import Browser
    with Browser() as browser:
        landed = browser.login(authorization_url, until="http://localhost:3000/auth-redirect",
                               email="alice@example.com", password="alice123")
        landed.params["code"], landed.params["state"]
        browser.logout(end_session_url, until="http://localhost:3000/")

No backdoor: the browser sees only what a person's browser sees (redirects, HTML pages, its
cookies) and submits the pages' own forms with the fields a browser would send. It knows
exactly these pages of the mock, recognised by their forms, not by their wording:

- the login page: a form with `email` and `password` inputs and a button `action=login`
  (and a second form with a button `action=cancel`, pressed with `press="cancel"`);
- the select-account page: a form with a `data-account` attribute (the email of the user
  logged in there) and buttons `action=continue` ("Continue as …") and `action=login`
  ("Use another account"): it continues when that is the account asked for (or when none
  was), and otherwise uses another account and logs in; with `press="cancel"` it uses another
  account and presses Cancel on the login form (the page has no Cancel of its own);
- the logout confirmation: a form with a button `action=logout` (or the older `confirm=yes`);
- a `form_post` page: a form posting to the redirect URI, which ends the navigation.

Any other page, an error status, or a page that comes back after its form was sent (a wrong
password shows the login page again) raises `BrowserError`, which names the HTTP status, the
URL and the page's text: it fails loudly instead of guessing.
"""

from __future__ import annotations

import html.parser
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import requests

TIMEOUT = 10  # seconds, for each request
MAX_STEPS = 20  # requests in one navigation: more means a loop
REDIRECTS = (301, 302, 303, 307, 308)
PRESSES = ("login", "cancel")
# Tags that hold no text a person reads, and tags that never have an end tag.
UNSEEN = {"script", "style", "head", "title", "template", "noscript"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Buttons that confirm a logout: the mock's /logout page, and its earlier end_session page.
LOGOUT_BUTTONS = (("action", "logout"), ("confirm", "yes"))


class BrowserError(RuntimeError):
    """The browser is stuck: an error status, a page it does not know, a form that came back.

    Attributes: `problem` (what went wrong, in words), `status` (the last HTTP status, or
    None when nothing answered), `url` (where), `page_says` (the page's alert, e.g. "Incorrect
    email or password."), `page_text` (the page's visible text), `history` (the requests
    made: `(method, url, status)`)."""

    def __init__(self, problem: str, url: str, response: requests.Response | None = None,
                 history: list[tuple[str, str, int | None]] | None = None) -> None:
        self.problem = problem
        self.url = url
        self.status = response.status_code if response is not None else None
        self.page_says = ""
        self.page_text = ""
        if response is not None:
            if "html" in response.headers.get("content-type", ""):
                page = Page.parse(response.text)
                self.page_says, self.page_text = page.alert, page.text
            else:
                self.page_text = " ".join(response.text.split())
        self.history = list(history or [])
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"HTTP {self.status} at {self.url}" if self.status is not None else f"at {self.url}"
        lines = [f"{self.problem} ({where})"]
        if self.page_says:
            lines.append(f"The page says: {self.page_says!r}")
        if self.page_text:
            text = self.page_text if len(self.page_text) <= 600 else self.page_text[:600] + "…"
            lines.append(f"Page text: {text}")
        if self.history:
            lines.append("Steps: " + " → ".join(f"{m} {shorten(u)} ({s})" for m, u, s in self.history[-6:]))
        return "\n".join(lines)


def shorten(url: str, keep: int = 90) -> str:
    return url if len(url) <= keep else url[:keep] + "…"


class Landed(str):
    """The URL the browser was sent to (a `str`, so it goes wherever a URL goes), with
    `method` ("GET" after a redirect, "POST" from a `form_post` page) and `params`: the
    query and fragment parameters (GET), or the fields the page posts (POST)."""

    method: str
    params: dict[str, str]

    def __new__(cls, url: str, method: str = "GET", params: dict[str, str] | None = None) -> "Landed":
        landed = super().__new__(cls, url)
        landed.method = method
        if params is None:
            parts = urllib.parse.urlsplit(url)
            params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
            params.update(urllib.parse.parse_qsl(parts.fragment, keep_blank_values=True))
        landed.params = params
        return landed

    @property
    def url(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Landed({str(self)!r}, method={self.method!r}, params={self.params!r})"


@dataclass
class Form:
    """One `<form>`: its attributes, its inputs `(name, type, value)` and its buttons `(name, value)`."""

    attrs: dict[str, str]
    inputs: list[tuple[str, str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.attrs.get("action", "")

    @property
    def method(self) -> str:
        return self.attrs.get("method", "get").upper()

    def has_inputs(self, *names: str) -> bool:
        present = {name for name, _type, _value in self.inputs}
        return all(name in present for name in names)

    def has_button(self, name: str, value: str) -> bool:
        return (name, value) in self.buttons

    def data(self, button: tuple[str, str] | None = None, **filled: str) -> dict[str, str]:
        """What a browser sends: every named input with its value, the fields filled in,
        and the name and value of the button pressed."""
        data = {name: value for name, kind, value in self.inputs
                if kind not in ("submit", "button", "reset", "image", "checkbox", "radio", "file")}
        data.update(filled)
        if button is not None:
            data[button[0]] = button[1]
        return data


class Page(html.parser.HTMLParser):
    """An HTML page as the browser needs it: its forms, its visible text, its alert."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._open: list[tuple[str, bool]] = []  # (tag, is an alert)
        self._text: list[str] = []
        self._alert: list[str] = []

    @classmethod
    def parse(cls, text: str) -> "Page":
        page = cls()
        page.feed(text)
        page.close()
        return page

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    @property
    def alert(self) -> str:
        return " ".join(" ".join(self._alert).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(values)
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and values.get("name"):
            kind = values.get("type", "text").lower()
            if kind == "submit":
                self._form.buttons.append((values["name"], values.get("value", "")))
            else:
                self._form.inputs.append((values["name"], kind, values.get("value", "")))
        elif tag == "button" and self._form is not None and values.get("type", "submit").lower() == "submit":
            if values.get("name"):
                self._form.buttons.append((values["name"], values.get("value", "")))
        if tag not in VOID:
            is_alert = values.get("role") == "alert" or "error" in values.get("class", "").split()
            self._open.append((tag, is_alert))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        if any(tag in UNSEEN for tag, _ in self._open):
            return
        self._text.append(data)
        if any(alert for _, alert in self._open):
            self._alert.append(data)


@dataclass
class _Errand:
    """What one navigation is for, and what the browser already did on it."""

    until: str
    kind: str  # "login" or "logout"
    email: str | None = None
    password: str | None = None
    press: str = "login"
    done: set[str] = field(default_factory=set)  # the pages whose form was sent


def arrived(url: str, until: str) -> bool:
    """True if `url` is `until` itself, or `until` followed by its query or fragment."""
    if not url.startswith(until):
        return False
    rest = url[len(until):]
    return not rest or rest[0] in "?#&" or until[-1] in "?#&"


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b)


class Browser:
    """A browser with a cookie jar (a `requests.Session`), driven by plain HTTP.

    One `Browser` is one person's browser: the mock's session cookie stays in it, so a second
    login in the same browser is single sign-on (the select-account page, or straight back
    with a code), and `logout()` ends that session. Use a new `Browser` for another person.

    It sends every cookie it has on every request: it applies no SameSite rule, so to the mock
    each navigation is same-site and end_session logs out without asking. A logout link on
    another site would come without the mock's SameSite=Strict marker cookie: delete
    `mock_idp_same_site_strict` from `cookies` first to get the confirmation page."""

    def __init__(self, session: requests.Session | None = None, timeout: float = TIMEOUT) -> None:
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.history: list[tuple[str, str, int | None]] = []  # the last navigation's requests

    @property
    def cookies(self) -> requests.cookies.RequestsCookieJar:
        return self.session.cookies

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def login(self, authorization_url: str, *, until: str, email: str | None = None,
              password: str | None = None, press: str = "login") -> Landed:
        """Opens `authorization_url` and goes on as a person would, until the browser is sent
        to `until` (the redirect URI: not fetched); returns where it landed.

        On the login page it logs in with `email` and `password`, or with `press="cancel"`
        presses Cancel (the app gets `error=access_denied`). On the select-account page it
        continues when the account shown is `email` (or `email` is None), else it uses another
        account and logs in; with `press="cancel"` it uses another account and presses Cancel
        on the login form, as a person would (that page has no Cancel). Raises `BrowserError`
        when stuck (a wrong password included)."""
        if press not in PRESSES:
            raise ValueError(f"press must be one of {', '.join(PRESSES)}, not {press!r}")
        return self._navigate(authorization_url, _Errand(until, "login", email, password, press))

    def logout(self, end_session_url: str, *, until: str) -> Landed:
        """Opens `end_session_url` (RP-initiated logout) with this browser's cookies, confirms
        the logout if the mock asks, and returns where it landed: a URL starting with `until`
        (the post_logout_redirect_uri; pass the issuer's `/settings` to expect the mock's own
        "signed out" page). Raises `BrowserError` when stuck."""
        return self._navigate(end_session_url, _Errand(until, "logout"))

    # -- the navigation ------------------------------------------------------------------

    def _navigate(self, url: str, errand: _Errand) -> Landed:
        self.history = []
        start = url
        method, data = "GET", None
        for _ in range(MAX_STEPS):
            if arrived(url, errand.until):
                return Landed(url)
            if not same_origin(url, start):
                # A person's browser would go on; here it means `until` is not where the mock
                # sends the browser, and going on would knock on some other server's door.
                raise BrowserError(f"the browser was sent away from {origin(start)}, and not to {errand.until} "
                                   "(is that the redirect URI the request names?)", url, None, self.history)
            response = self._request(method, url, data)
            if response.status_code in REDIRECTS:
                if "location" not in response.headers:
                    raise BrowserError("a redirect without a Location header", url, response, self.history)
                if response.status_code not in (307, 308):  # 307, 308: the same method and body again
                    method, data = "GET", None
                url = urllib.parse.urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise BrowserError("the browser stopped at an error", url, response, self.history)
            if "html" not in response.headers.get("content-type", ""):
                raise BrowserError("the browser stopped at a page that is not HTML", url, response, self.history)
            next_step = self._next(url, response, errand)
            if isinstance(next_step, Landed):
                return next_step
            method, url, data = next_step
        raise BrowserError(f"more than {MAX_STEPS} requests without arriving at {errand.until}", url,
                           None, self.history)

    def _request(self, method: str, url: str, data: dict[str, str] | None) -> requests.Response:
        try:
            response = self.session.request(method, url, data=data, allow_redirects=False, timeout=self.timeout)
        except requests.RequestException as exc:
            self.history.append((method, url, None))
            raise BrowserError(f"nothing answered: {exc.__class__.__name__}", url, None, self.history) from exc
        self.history.append((method, url, response.status_code))
        return response

    def _next(self, url: str, response: requests.Response,
              errand: _Errand) -> Landed | tuple[str, str, dict[str, str]]:
        """The page's next request (method, url, data), or where the browser landed."""
        page = Page.parse(response.text)

        def stuck(problem: str) -> BrowserError:
            return BrowserError(problem, url, response, self.history)

        def send(form: Form, name: str, data: dict[str, str]) -> tuple[str, str, dict[str, str]]:
            if name in errand.done:
                raise stuck(f"the {name} page came back after its form was sent")
            errand.done.add(name)
            return form.method, urllib.parse.urljoin(url, form.action), data

        for form in page.forms:  # response_mode=form_post: the page posts the answer to the app
            target = urllib.parse.urljoin(url, form.action)
            if form.method == "POST" and arrived(target, errand.until):
                return Landed(target, "POST", form.data())
        # Only the page's own forms: the mock never posts a person's answers to another site.
        forms = [f for f in page.forms if same_origin(urllib.parse.urljoin(url, f.action), url)]
        cancel = next((f for f in forms if f.has_button("action", "cancel")), None)

        if errand.kind == "login":
            login = next((f for f in forms if f.has_inputs("email", "password") and f.has_button("action", "login")),
                         None)
            if login is not None:
                if errand.press == "cancel":
                    if cancel is None:
                        raise stuck("the login page has no Cancel button")
                    return send(cancel, "cancel", cancel.data(("action", "cancel")))
                if "login" in errand.done:
                    raise stuck(f"the login page came back after the email and password of {errand.email} were sent")
                if errand.email is None or errand.password is None:
                    raise stuck("the login page asks for an email and password, and none were given")
                return send(login, "login", login.data(("action", "login"), email=errand.email,
                                                       password=errand.password))
            select = next((f for f in forms if "data-account" in f.attrs and f.has_button("action", "continue")
                           and f.has_button("action", "login")), None)
            if select is not None:
                if errand.press == "cancel":
                    if cancel is not None:
                        return send(cancel, "cancel", cancel.data(("action", "cancel")))
                    # The page has no Cancel: a person who wants to cancel uses another account
                    # and presses Cancel on the login form that follows.
                    return send(select, "select-account", select.data(("action", "login")))
                shown = select.attrs["data-account"].strip().lower()
                if errand.email is None or errand.email.strip().lower() == shown:
                    return send(select, "select-account", select.data(("action", "continue")))
                return send(select, "select-account", select.data(("action", "login")))
        else:
            for form in forms:
                button = next((b for b in LOGOUT_BUTTONS if form.has_button(*b)), None)
                if button is not None:
                    return send(form, "logout confirmation", form.data(button))
        raise stuck(f"a page the browser does not know how to go on from (on its way to {errand.until})")
