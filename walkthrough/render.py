"""Pages: Jinja2 templates with autoescaping on (every value from Authgear, the URL or the
user is escaped, the tutorial's XSS cannot happen), and the headers every page carries."""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from kit.settings import Settings

from .clock import Clock, clock_time
from .jwt_checks import CLOCK_SKEW
from .oidc_client import SCOPES
from .sessions import SessionData
from .steps import NOTEBOOKS, shorten_fields

HERE = Path(__file__).resolve().parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # explicit: every {{ value }} is HTML-escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
DEFAULT_NOTEBOOKS_URL = "http://localhost:8888/lab/tree/"  # JupyterLab from `make lab`


def notebooks_location(url: str) -> tuple[str, str]:
    """Where the notebooks are, from WALKTHROUGH_NOTEBOOKS_URL: (the folder's URL, ending in
    "/", and JupyterLab's token or ""). Takes the URL JupyterLab printed as it is
    (http://localhost:8888/lab?token=…, or …/lab/tree/01-setup.ipynb?token=…) as well as a
    folder URL: a /lab address becomes its /lab/tree/ folder, a notebook's URL its folder,
    and of the query only the token is kept."""
    parts = urllib.parse.urlsplit(url.strip())
    token = urllib.parse.parse_qs(parts.query).get("token", [""])[0]
    segments = parts.path.split("/")
    if "lab" in segments:  # JupyterLab: [prefix]/lab[/workspaces/<name>][/tree/<folder>[/<notebook>]]
        at = segments.index("lab")
        rest = segments[at + 1:]
        folder = rest[rest.index("tree") + 1:] if "tree" in rest else []
        if folder and folder[-1].endswith(".ipynb"):
            folder = folder[:-1]
        segments = segments[:at] + ["lab", "tree"] + [s for s in folder if s] + [""]
    elif segments[-1].endswith(".ipynb"):
        segments[-1] = ""
    path = "/".join(segments)
    path = path if path.endswith("/") else path + "/"
    return urllib.parse.urlunsplit(parts._replace(path=path, query="", fragment="")), token


def pretty_json(value: Any) -> str:
    return json.dumps(shorten_fields(value), indent=2, ensure_ascii=False, sort_keys=True)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{sign}{minutes} min {rest} s" if rest else f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours} h {minutes} min"


def short(value: Any, keep: int = 12) -> str:
    text = str(value)
    return text if len(text) <= keep + 2 else text[:keep] + "…"


# Where a long URL, query or header may wrap: after / ? & = and before a . (not inside "//").
BREAK_POINTS = re.compile(r"(?<=[/?&=])(?=[^/\s])|(?<=[\w-])(?=\.\w)")


class Html(str):
    """Text already escaped: Jinja's autoescape leaves an object with __html__ as it is."""

    def __html__(self) -> str:
        return self


def breakable(value: Any) -> Html:
    """The text, escaped, with <wbr> where a URL reads well broken: long identifiers wrap at
    their punctuation first, and mid-word (CSS overflow-wrap) only when a piece is longer
    than a line. Copying the text copies no extra characters."""
    return Html("<wbr>".join(html.escape(piece, quote=True) for piece in BREAK_POINTS.split(str(value))))


TEMPLATES.filters.update(pretty_json=pretty_json, clock_time=clock_time, duration=duration, short=short,
                         breakable=breakable)


def page_headers(issuer: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(issuer)
    issuer_origin = f"{parts.scheme}://{parts.netloc}"
    return {
        # No script at all, styles only from this app; forms post here (logout redirects on to
        # the issuer, which Chrome checks against form-action too).
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; "
            f"form-action 'self' {issuer_origin}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",  # a URL with a code in it never leaks to another site
        "Cache-Control": "no-store",
    }


class View:
    def __init__(self, settings: Settings, clock: Clock, notebooks_url: str, post_logout_redirect_uri: str) -> None:
        self.settings = settings
        self.clock = clock
        self.notebooks_url, self.notebooks_token = notebooks_location(notebooks_url)
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.headers = page_headers(settings.endpoint)

    def notebook_url(self, kind: str) -> str:
        token = "?token=" + urllib.parse.quote(self.notebooks_token, safe="") if self.notebooks_token else ""
        return self.notebooks_url + NOTEBOOKS[kind][0] + token

    def page(self, request: Request | None, session: SessionData | None, template: str, status: int = 200,
             **values: Any) -> HTMLResponse:
        steps = list(session.steps) if session else []
        new_after = session.shown_until if session else 0
        if session and steps:
            session.shown_until = steps[-1].number
        context = {
            "settings": self.settings,
            "provider_label": ("Mock Authgear" if self.settings.is_mock else "Authgear") + " · " + self.settings.endpoint,
            "scopes": SCOPES,
            "post_logout_redirect_uri": self.post_logout_redirect_uri,
            "clock": self.clock.describe(),
            "now": self.clock.now(),
            "clock_skew": CLOCK_SKEW,
            "notebook_url": self.notebook_url,
            "notebooks_at": self.notebooks_url,  # without the token: shown in the page
            "notebooks_token": bool(self.notebooks_token),
            "notebooks": NOTEBOOKS,
            "session": session,
            "steps": steps,
            "new_after": new_after,
            "dropped_steps": session.steps.dropped if session else 0,
            "notices": session.take_notices() if session else [],
            "csrf_token": session.csrf_token if session else "",
            **values,
        }
        html = TEMPLATES.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=self.headers)
