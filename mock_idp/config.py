"""Clients, users and settings of the mock: the built-in demo data and the config file.

The config file (TOML or JSON, chosen by its extension) may hold:

    demo_data = true            # keep the built-in clients and users (default true)
    signing_key = "key.pem"     # optional RSA private key (PEM) for stable keys

    [[clients]]
    client_id = "..."           # a client with the same id as a demo one replaces it
    client_secret = "..."       # leave out for a public client (PKCE required)
    redirect_uris = ["..."]
    post_logout_redirect_uris = ["..."]
    refresh_token_rotation = false
    access_token_lifetime = 1800  # also id_token_lifetime, refresh_token_lifetime, refresh_token_idle

    [[users]]
    email = "..."               # a user with the same email as a demo one replaces it
    password = "..."
    sub = "..."                 # optional: a stable UUID is derived from the email; no two users share one
    updated_at = 1767225600     # optional: seconds since 1970, before 2100
    [users.claims]              # any OIDC standard claims (given_name, locale, ...)
    [users.custom_attributes]   # anything: shown in userinfo as custom_attributes
    roles = ["..."]
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import tomllib
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm

from .keys import SigningKey

# Authgear's defaults (the README's "Demo client and users" lists them).
ACCESS_TOKEN_LIFETIME = 1800
ID_TOKEN_LIFETIME = 300
CODE_LIFETIME = 300
REFRESH_TOKEN_LIFETIME = 52 * 7 * 24 * 3600
REFRESH_TOKEN_IDLE = 30 * 24 * 3600
SESSION_LIFETIME = 52 * 7 * 24 * 3600
LOGIN_REQUEST_LIFETIME = 20 * 60

# OIDC Core §5.1 claims the scopes `profile`, `email`, `phone`, `address` release.
PROFILE_CLAIMS = (
    "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
    "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
)
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": PROFILE_CLAIMS,
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
}
USER_CLAIM_NAMES = frozenset(c for claims in SCOPE_CLAIMS.values() for c in claims) - {"updated_at"}

# What a client or a user may say, checked where the config file and the teaching API read them.
DAY = 24 * 3600
TEN_YEARS = 10 * 365 * DAY  # also the most the clock moves, and strays from real time (teaching_api.clock)
# (least, most) seconds. An access token is a bearer JWT nobody can recall: a year covers any
# demo of "a token that lives too long". An ID token is read once, right after login (OIDC
# Core §3.1.3.7), so a day is plenty. Refresh tokens are what live long: ten years. Past these a
# number is a typo, and a large one breaks clients far from its cause (JavaScript loses
# precision past 2**53; Python's datetime ends at year 9999).
LIFETIME_BOUNDS = {
    "access_token_lifetime": (1, 365 * DAY),
    "id_token_lifetime": (1, DAY),
    "refresh_token_lifetime": (1, TEN_YEARS),
    "refresh_token_idle": (1, TEN_YEARS),
}
LATEST_TIMESTAMP = 4102444800  # 2100-01-01T00:00:00Z: later is a typo, not a date
MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3: the longest address a mail path carries
MAX_TEXT = 1024  # any other string a client or a user holds (a password, a URI)
MAX_URIS = 100
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")  # RFC 3986 §3.1
UNSAFE_IN_URI = re.compile(r"[^\x21-\x7e]")  # RFC 3986: printable ASCII; spaces and the rest percent-encoded
# Only these name a place on the network to send a browser to, so only these need a host. Any
# other scheme is a native app's (RFC 8252 §7.1: `com.example.app:/oauth2redirect`), which the
# operating system hands the redirect to: an absolute URI is all it needs to be.
HOST_SCHEMES = frozenset({"http", "https"})
# Never an app to return to: a browser runs these (javascript:, vbscript:), makes a page of what
# the URI itself says (data:) or reads the learner's own disk (file:), and the mock would send
# the code there, or post a form_post response to it.
REFUSED_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
# What a browser drops before it reads a URL (WHATWG URL Standard, "basic URL parser"): C0
# controls and spaces at either end, tabs and newlines anywhere. " java\tscript:" is javascript:.
BROWSER_IGNORES_AT_ENDS = "".join(chr(c) for c in range(0x21))
BROWSER_IGNORES = re.compile(r"[\t\n\r]")
HOST_AND_PORT = re.compile(r"\d+(?:/|$)")  # `localhost:3000/cb`: a scheme by RFC 3986, a typo for http://
# RFC 6749 §4.1.2.1 and §5.2 allow an error_description only %x20-21 / %x23-5B / %x5D-7E: what
# `quoted` echoes must stay within them (no `"`, no `\`), or it would read `?` in the teaching API.
UNSAFE_IN_QUOTE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def quoted(value: Any, limit: int = 60) -> str:
    """User-supplied text for a message: cut short, in single quotes, with anything but
    printable ASCII (and `"` and `\\`) written as <U+XXXX>. So a message stays one line, shows
    what was sent, control characters and all, and is a valid RFC 6749 error_description."""
    text = value if isinstance(value, str) else str(value)
    shown = UNSAFE_IN_QUOTE.sub(lambda match: f"<U+{ord(match.group()):04X}>", text[:limit])
    return "'" + shown + ("..." if len(text) > limit else "") + "'"


def names(items: list[str], most: int = 5) -> str:
    """Field names someone sent, for a message: each quoted, and not too many of them."""
    shown = ", ".join(quoted(item, 40) for item in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


T = TypeVar("T")
UNSAFE_IN_EMAIL = re.compile(r"[\s\x00-\x1f\x7f]")


def _in_list(field: str, index: int, read: Callable[[Any], T], item: Any) -> T:
    """A client or user of the config file: a mistake names which one (clients[2]: ...)."""
    try:
        return read(item)
    except ConfigError as exc:
        raise ConfigError(f"{field}[{index}]: {exc}") from None


class ConfigError(ValueError):
    """A config file or a teaching-API body that does not describe a valid client or user."""


@dataclasses.dataclass
class Client:
    client_id: str
    redirect_uris: list[str]
    client_secret: str | None = None  # None: a public client (token auth method "none")
    post_logout_redirect_uris: list[str] = dataclasses.field(default_factory=list)
    name: str = ""
    refresh_token_rotation: bool = False  # Authgear's default: off
    access_token_lifetime: int = ACCESS_TOKEN_LIFETIME
    id_token_lifetime: int = ID_TOKEN_LIFETIME
    refresh_token_lifetime: int = REFRESH_TOKEN_LIFETIME
    refresh_token_idle: int = REFRESH_TOKEN_IDLE

    @property
    def is_confidential(self) -> bool:
        return self.client_secret is not None

    def public_view(self) -> dict[str, Any]:
        view = dataclasses.asdict(self)
        if self.client_secret:
            view["client_secret"] = self.client_secret[:min(4, len(self.client_secret) // 2)] + "…"  # never whole
        return view


@dataclasses.dataclass
class User:
    email: str
    password: str
    sub: str = ""
    email_verified: bool = True
    claims: dict[str, Any] = dataclasses.field(default_factory=dict)
    custom_attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    roles: list[str] = dataclasses.field(default_factory=list)
    updated_at: int = 1767225600  # 2026-01-01T00:00:00Z: fixed, so outputs are stable

    def __post_init__(self) -> None:
        if not self.sub:
            # Stable across restarts, so notebooks can show the same `sub` every run.
            self.sub = str(uuid.uuid5(uuid.NAMESPACE_URL, "mock-idp:user:" + self.email.lower()))

    def public_view(self) -> dict[str, Any]:
        view = dataclasses.asdict(self)
        view["password"] = "•" * 6
        return view


def demo_clients() -> list[Client]:
    return [
        Client(
            client_id="mock-client",
            client_secret="mock-secret",
            name="My App (the tutorial's Express app)",
            redirect_uris=[
                "http://localhost:3000/auth-redirect",  # the tutorial's and the walkthrough's
                "http://localhost:3001/auth-redirect",  # the notebooks' callback listener
            ],
            post_logout_redirect_uris=[
                "http://localhost:3000",
                "http://localhost:3000/",
                "http://localhost:3001/logged-out",
            ],
        ),
        Client(
            client_id="mock-spa",
            client_secret=None,
            name="A public client (single-page app): PKCE required, no secret",
            redirect_uris=["http://localhost:3000/auth-redirect", "http://localhost:3001/auth-redirect"],
            post_logout_redirect_uris=["http://localhost:3000/"],
        ),
    ]


def demo_users() -> list[User]:
    return [
        User(
            email="alice@example.com",
            password="alice123",
            claims={
                "name": "Alice Liddell",
                "given_name": "Alice",
                "family_name": "Liddell",
                "preferred_username": "alice",
                "locale": "en-GB",
                "zoneinfo": "Europe/London",
                "phone_number": "+447700900123",
                "phone_number_verified": True,
            },
            custom_attributes={"department": "Engineering", "plan": "pro"},
            roles=["admin"],
        ),
        User(
            email="bob@example.com",
            password="bob123",
            claims={
                "name": "Bob Builder",
                "given_name": "Bob",
                "family_name": "Builder",
                "preferred_username": "bob",
                "locale": "en-US",
                "zoneinfo": "America/New_York",
            },
            custom_attributes={"department": "Sales", "plan": "free"},
            roles=[],
        ),
    ]


def _check_str_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of strings")
    return value


def uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI, or None. RFC 6749 §3.1.2: an absolute URI (RFC 3986
    §4.3: a scheme), with no fragment. An http(s) one needs a host too, so it names a place to
    send the browser; a native app's private-use scheme does not (RFC 8252 §7.1). Never a
    scheme the browser would run or read locally (javascript:, data:, vbscript:, file:)."""
    if len(uri) > MAX_TEXT:
        return f"it is longer than {MAX_TEXT} characters"
    as_read = BROWSER_IGNORES.sub("", uri.strip(BROWSER_IGNORES_AT_ENDS))
    read_scheme, read_colon, _ = as_read.partition(":")
    if read_colon and read_scheme.lower() in REFUSED_SCHEMES:
        return (f"a browser runs or reads a {read_scheme.lower()}: URI itself, so it can never "
                "send the browser back to an app")
    if UNSAFE_IN_URI.search(uri):
        return "it holds a space, a control character or non-ASCII text (percent-encode them)"
    if "#" in uri:
        return "it has a fragment"
    scheme, colon, rest = uri.partition(":")
    if not colon or not SCHEME.fullmatch(scheme):
        return "it has no scheme"
    try:
        parts = urllib.parse.urlsplit(uri)
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return "its host or port cannot be read"
    if scheme.lower() not in HOST_SCHEMES:
        if HOST_AND_PORT.match(rest):
            return f"it has no scheme ({scheme}:{rest.split('/')[0]} reads as a host and port: write http://)"
        return None
    if not parts.hostname:
        return f"it has no host (an {scheme.lower()} URI needs one)"
    return None


def _check_uris(name: str, value: Any) -> list[str]:
    uris = _check_str_list(name, value)
    if len(uris) > MAX_URIS:
        raise ConfigError(f"{name} may hold at most {MAX_URIS} URIs")
    for index, uri in enumerate(uris):  # "section", not "§": the teaching API answers in ASCII
        problem = uri_problem(uri)
        if problem is not None:
            raise ConfigError(f"{name}[{index}] must be an absolute URI without a fragment, with a host if "
                              f"http(s) (RFC 6749 section 3.1.2, RFC 8252 section 7.1): {quoted(uri)}: {problem}")
    return uris


def _check_whole(name: str, value: Any, least: int, most: int, unit: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise ConfigError(f"{name} must be a whole number {unit} from {least} to {most}")


MAX_CLAIM_DEPTH = 16


def _depth(value: Any) -> int:
    """How deeply lists and objects nest (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_CLAIM_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _check_json(name: str, value: Any) -> None:
    """Claims end up in JWTs and JSON answers: a TOML date or time would fail there, later,
    and so would nesting too deep to encode."""
    if _depth(value) > MAX_CLAIM_DEPTH:
        raise ConfigError(f"{name} nests deeper than {MAX_CLAIM_DEPTH} levels")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} may hold only JSON values (write dates as strings): {exc}") from None


def client_from_dict(data: Any) -> Client:
    if not isinstance(data, dict):
        raise ConfigError("a client must be an object")
    known = {f.name for f in dataclasses.fields(Client)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown client field(s): {names(unknown)}")
    if not isinstance(data.get("client_id"), str) or not data["client_id"]:
        raise ConfigError("client_id is required (a non-empty string)")
    if len(data["client_id"]) > MAX_TEXT:
        raise ConfigError(f"client_id must be at most {MAX_TEXT} characters")
    if not _check_uris("redirect_uris", data.get("redirect_uris")):
        # The authorization endpoint accepts only a registered redirect URI: with none the
        # client can never log anyone in.
        raise ConfigError("redirect_uris must hold at least one URI")
    _check_uris("post_logout_redirect_uris", data.get("post_logout_redirect_uris", []))
    secret = data.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or not secret or len(secret) > MAX_TEXT):
        raise ConfigError(f"client_secret must be a non-empty string of at most {MAX_TEXT} characters "
                          "(or left out for a public client)")
    for field, (least, most) in LIFETIME_BOUNDS.items():
        if field in data:
            _check_whole(field, data[field], least, most, "of seconds")
    if not isinstance(data.get("refresh_token_rotation", False), bool):
        raise ConfigError("refresh_token_rotation must be true or false")
    if not isinstance(data.get("name", ""), str):
        raise ConfigError("name must be a string")
    return Client(**data)


def user_from_dict(data: Any) -> User:
    if not isinstance(data, dict):
        raise ConfigError("a user must be an object")
    known = {f.name for f in dataclasses.fields(User)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown user field(s): {names(unknown)}")
    for field in ("email", "password"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ConfigError(f"{field} is required (a non-empty string)")
    email = data["email"]
    local, at, domain = email.rpartition("@")
    if len(email) > MAX_EMAIL or not (local and at and domain) or UNSAFE_IN_EMAIL.search(email):
        raise ConfigError(f"email must be an address (name@domain, at most {MAX_EMAIL} characters, "
                          f"no spaces or control characters): {quoted(email)}")
    if len(data["password"]) > MAX_TEXT:
        raise ConfigError(f"password must be at most {MAX_TEXT} characters")
    if not isinstance(data.get("sub", ""), str):
        raise ConfigError("sub must be a string")
    for field in ("claims", "custom_attributes"):
        if not isinstance(data.get(field, {}), dict):
            raise ConfigError(f"{field} must be an object")
        _check_json(field, data.get(field, {}))
    # Only the standard claims: anything else (or sub, email, ...) would override what the
    # mock itself answers in userinfo; custom_attributes is the place for the rest.
    not_standard = sorted(set(data.get("claims", {})) - (USER_CLAIM_NAMES - {"email", "email_verified"}))
    if not_standard:
        raise ConfigError(f"claims may hold OIDC standard claims only, not {names(not_standard)} "
                          "(put your own under custom_attributes)")
    _check_str_list("roles", data.get("roles", []))
    if not isinstance(data.get("email_verified", True), bool):
        raise ConfigError("email_verified must be true or false")
    if "updated_at" in data:
        _check_whole("updated_at", data["updated_at"], 0, LATEST_TIMESTAMP, "of seconds since 1970, before 2100,")
    return User(**data)


def sub_taken(user: User, other: User) -> str:
    """The message for a `user` whose sub `other` (another email) holds already."""
    return (f"sub {quoted(user.sub)} is already the sub of {quoted(other.email)}: each user needs "
            "their own (a token names its user by sub alone)")


@dataclasses.dataclass
class MockConfig:
    clients: dict[str, Client]
    users: dict[str, User]  # by lower-cased email
    signing_key_pem: bytes | None = None

    @classmethod
    def demo(cls) -> "MockConfig":
        return cls(
            clients={c.client_id: c for c in demo_clients()},
            users={u.email.lower(): u for u in demo_users()},
        )

    @classmethod
    def from_file(cls, path: str | Path) -> "MockConfig":
        path = Path(path)
        try:
            text = path.read_bytes()
            data = tomllib.loads(text.decode()) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        try:
            return cls.from_dict(data, base_dir=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any, base_dir: Path = Path(".")) -> "MockConfig":
        if not isinstance(data, dict):
            raise ConfigError("the config must be an object")
        unknown = sorted(set(data) - {"demo_data", "signing_key", "clients", "users"})
        if unknown:
            raise ConfigError(f"unknown config key(s): {names(unknown)}")
        if not isinstance(data.get("demo_data", True), bool):
            raise ConfigError("demo_data must be true or false")
        for field in ("clients", "users"):
            if not isinstance(data.get(field, []), list):
                raise ConfigError(f"{field} must be a list (in TOML: [[{field}]] tables)")
        config = cls.demo() if data.get("demo_data", True) else cls(clients={}, users={})
        for index, item in enumerate(data.get("clients", [])):
            client = _in_list("clients", index, client_from_dict, item)
            config.clients[client.client_id] = client
        from_file: dict[str, int] = {}  # lower-cased email: the index of the file's user who is it now
        for index, item in enumerate(data.get("users", [])):
            user = _in_list("users", index, user_from_dict, item)
            config.users[user.email.lower()] = user
            from_file[user.email.lower()] = index
        # Checked once all are read: a user may take the sub of a demo user the file replaces.
        for key, index in sorted(from_file.items(), key=lambda item: item[1]):
            user = config.users[key]
            other = config.sub_holder(user)
            # Of two users in the file, the later one took the sub: the message names it.
            if other is not None and from_file.get(other.email.lower(), -1) < index:
                raise ConfigError(f"users[{index}]: {sub_taken(user, other)}")
        if "signing_key" in data:
            if not isinstance(data["signing_key"], str) or not data["signing_key"]:
                raise ConfigError("signing_key must be the path of a PEM file")
            try:
                config.signing_key_pem = (base_dir / data["signing_key"]).read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read signing_key: {exc}") from exc
            # Checked now, so a bad key fails here and not when the server starts.
            try:
                SigningKey.from_pem(config.signing_key_pem)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise ConfigError(f"signing_key {quoted(data['signing_key'])}: {exc}") from None
        return config

    def copy(self) -> "MockConfig":
        return copy.deepcopy(self)

    def find_user(self, email: str) -> User | None:
        return self.users.get(email.strip().lower())

    def user_by_sub(self, sub: str) -> User | None:
        return next((u for u in self.users.values() if u.sub == sub), None)

    def sub_holder(self, user: User) -> User | None:
        """The user of another email who already has `user`'s sub (so `user` cannot be added)."""
        return next((u for u in self.users.values()
                     if u.sub == user.sub and u.email.lower() != user.email.lower()), None)
