"""Errors in neutral terms; each protocol's `errors` module renders its own envelope."""

from __future__ import annotations

import html
import re
from typing import Literal

import orjson

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "api_error",
    "overloaded",
    "timeout",
]

# The HTTP status a kind has when nothing more specific is known.
DEFAULT_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "api_error": 500,
    "overloaded": 503,
    "timeout": 504,
}


def kind_for_status(status: int) -> ErrorKind:
    if status == 401:
        return "authentication"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 413:
        return "request_too_large"
    if status == 429:
        return "rate_limit"
    if status in (503, 529):
        return "overloaded"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "api_error"
    return "invalid_request"


class BridgeError(Exception):
    """A failure to report to the client, in the client's own protocol.

    `param` names the offending request field (e.g. ``messages[2].content``)
    so a person can act on it.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        retry_after: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status if status is not None else DEFAULT_STATUS[kind]
        self.param = param
        self.retry_after = retry_after
        self.code = code  # the bridge's own error code (RETRY_EXHAUSTED ...), shown to proxy-URL clients

    def __repr__(self) -> str:
        return f"BridgeError({self.kind!r}, {self.message!r}, status={self.status})"


def invalid(message: str, param: str | None = None) -> BridgeError:
    return BridgeError("invalid_request", message, param=param)


def error_message(body: bytes) -> str | None:
    """The `message` of a JSON error body in any of the usual envelopes
    (`{error: {message}}`, `{message}`, Gemini's one-element array), or None."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return None
    error = data.get("error", data)
    message = error.get("message") if isinstance(error, dict) else error
    return message if isinstance(message, str) and message else None


def describe_failure(exc: BaseException) -> str:
    """What went wrong while translating, as a phrase for a person (never a Python repr:
    the details belong in the bridge's log)."""
    if isinstance(exc, BridgeError):
        return exc.message
    if isinstance(exc, orjson.JSONDecodeError):
        return "a part of it was not valid JSON"
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and exc.args[0].isidentifier():
        return f"a part of it lacked the field '{exc.args[0]}'"
    if isinstance(exc, RecursionError):
        return "a part of it nested too deeply"
    if isinstance(exc, (KeyError, TypeError, AttributeError, ValueError, IndexError)):
        return "a part of it did not have the expected shape"
    return "an unexpected failure inside the bridge (its log has the details)"


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def body_summary(body: bytes, limit: int = 200) -> str:
    """An error body that is not JSON, as one short line: an HTML page by its title (a proxy's or
    a CDN's error page says nothing more), other text by its start, whitespace folded."""
    head = body[:4096].lstrip()
    if head[:1] == b"<" and re.match(rb"<(!doctype html|html|head|body|\?xml|center|h1)", head, re.IGNORECASE):
        title = _TITLE.search(head)
        if title is not None:
            return f"an HTML page titled '{_one_line(html.unescape(title.group(1).decode('utf-8', 'replace')))[:limit]}'"
        text = _one_line(html.unescape(re.sub(rb"<[^>]*>", b" ", head).decode("utf-8", "replace")))
        return f"an HTML page: {text[:100]}" if text else "an HTML page"
    text = _one_line(body[: limit * 4].decode("utf-8", "replace"))
    if not text:
        return "(empty body)"
    return text if len(text) <= limit else text[:limit] + "..."


def _one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
