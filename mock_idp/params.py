"""Reading request parameters strictly: bounded, UTF-8 only, first value wins (as Authgear)."""

from __future__ import annotations

import re
import urllib.parse

from starlette.requests import Request

MAX_BODY = 64 * 1024
MAX_FIELDS = 100
FORM_TYPE = "application/x-www-form-urlencoded"


# ASCII digits only: str.isdigit() also accepts "²" and "١", which int() then rejects or reads;
# at most 18 of them, so int() stays fast and the value fits Authgear's int64.
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def is_whole_number(value: str) -> bool:
    return WHOLE_NUMBER.fullmatch(value) is not None


class BadParameters(ValueError):
    """The request cannot be read as parameters: too large, not UTF-8, too many fields."""


def parse(raw: bytes) -> dict[str, str]:
    """Parses urlencoded bytes; a repeated parameter keeps its first value."""
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadParameters("the parameters are not valid UTF-8 form encoding") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise BadParameters("the parameters contain a NUL character")
        params.setdefault(name, value)
    return params


def query_params(request: Request) -> dict[str, str]:
    return parse(request.scope.get("query_string", b""))


async def body_bytes(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadParameters("the request body is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadParameters("the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def form_params(request: Request) -> dict[str, str]:
    """The body's parameters if it is a form; any other body is read as empty (as Authgear does)."""
    body = await body_bytes(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        return {}
    return parse(body)
