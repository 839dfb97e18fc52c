"""The error envelope of `/api/*` and `/proxy/*`:

    {error_code, message, provider, endpoint_group, request_id, docs_url, retry_after?}

On `/proxy/*` the client is an SDK, so the same body also carries its protocol's
own envelope (`error: {...}` for OpenAI and Gemini, `type: "error"` for
Anthropic): the SDK raises the matching exception and a script reads `error_code`.
"""

from __future__ import annotations

import orjson

from addons.upstream.retry_policy import retry_after_seconds

from transforms.errors import BridgeError

# code -> (HTTP status, neutral error kind for the client protocol's envelope, what it means)
CODES: dict[str, tuple[int, str, str]] = {
    "INVALID_JSON": (400, "invalid_request", "The body is not valid JSON or a field is wrong; the message names it."),
    "FORBIDDEN_ORIGIN": (403, "permission", "A web page from another origin called the bridge; list the origin in "
                                            "[server] cors_origins to allow it."),
    "UNSUPPORTED_MEDIA_TYPE": (415, "invalid_request", "The body is not sent as application/json, or its "
                                                       "Content-Encoding is not supported."),
    "REQUEST_TOO_LARGE": (413, "request_too_large", "The body (or its inflated size) exceeds [server] max_request_bytes."),
    "MISSING_TOKEN": (400, "invalid_request", "The URL has no token after /proxy/; use the proxyUrl exactly as generated."),
    "INVALID_TOKEN": (401, "authentication", "The token was altered, sealed with a secret this bridge no longer lists, "
                                             "or is of an unknown version; generate a new URL."),
    "UNAUTHORIZED": (401, "authentication", "This bridge has access tokens: send 'Authorization: Bearer <token>'."),
    "UNSUPPORTED_ENDPOINT": (400, "invalid_request", "The endpoint group cannot be served for this provider in this "
                                                     "endpoints.mode; the message says why."),
    "RATE_LIMITED": (429, "rate_limit", "The provider is rate limiting; retry after retry_after seconds."),
    "UPSTREAM_ERROR": (502, "api_error", "The provider failed or refused the request; its message is included."),
    "UPSTREAM_TIMEOUT": (504, "timeout", "The provider did not answer in time."),
    "RETRY_EXHAUSTED": (503, "overloaded", "Every attempt failed (connection errors, timeouts, 429 or 5xx); retry later."),
    "SECRET_NOT_SET": (503, "api_error", "The bridge has no proxy-URL secret: set BRIDGE_URL_SECRET or "
                                         "--set bridge_url_secret=..., then restart."),
    "INTERNAL_ERROR": (500, "api_error", "The bridge failed; the message says where."),
}
ERRORS_PATH = "/api/errors"


class ProxyFailure(Exception):
    def __init__(self, code: str, message: str, *, endpoint_group: str | None = None, retry_after: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.endpoint_group = endpoint_group
        self.retry_after = retry_after
        self.status = status or CODES[code][0]

    def as_bridge_error(self) -> BridgeError:
        return BridgeError(CODES[self.code][1], self.message, status=self.status, retry_after=self.retry_after, code=self.code)


def code_for(error: BridgeError) -> tuple[str, int]:
    """The code and status a neutral error is reported with (upstream errors among them)."""
    if error.code in CODES:
        return error.code, error.status
    if error.status == 429:
        return "RATE_LIMITED", 429
    if error.kind == "timeout":
        return "UPSTREAM_TIMEOUT", 504
    if error.status >= 500:
        return "UPSTREAM_ERROR", 502
    return "UPSTREAM_ERROR", error.status  # the provider's own 4xx keeps its status: SDKs must not retry it


def envelope(code: str, message: str, *, request_id: str, provider: str | None, endpoint_group: str | None,
             docs_url: str, retry_after: str | None = None) -> dict:
    body = {"error_code": code, "message": message, "provider": provider, "endpoint_group": endpoint_group,
            "request_id": request_id, "docs_url": docs_url}
    if retry_after is not None:
        body["retry_after"] = _number(retry_after)
    return body


def merged(client_body: bytes, fields: dict) -> bytes:
    """The client protocol's error body with the envelope's fields added at the top level."""
    try:
        data = orjson.loads(client_body)
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return orjson.dumps({**data, **fields})


def reference() -> dict:
    """`GET /api/errors`: every code, its status and what to do."""
    return {code: {"status": status, "meaning": meaning} for code, (status, _kind, meaning) in CODES.items()}


def _number(value: str) -> int | float | str:
    """Seconds as a number; an HTTP date becomes the seconds until it."""
    seconds = retry_after_seconds({"retry-after": value})
    if seconds is None:
        return value
    if not value.strip().replace(".", "", 1).isdigit():
        seconds = float(max(1, round(seconds)))  # a date: whole seconds from now
    return int(seconds) if float(seconds).is_integer() else seconds
