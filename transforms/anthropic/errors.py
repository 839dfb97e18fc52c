"""Anthropic error bodies and `error` stream events -> neutral `BridgeError`."""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, ErrorKind, body_summary, kind_for_status

KIND_BY_ERROR_TYPE: dict[str, ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "api_error": "api_error",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
}

# Statuses an Anthropic client would not understand from another protocol: 529 is Anthropic's own.
STATUS_FOR_CLIENTS = {529: 503}


def decode_error(status: int, body: bytes, *, provider: str, retry_after: str | None = None) -> BridgeError:
    """An upstream error response. The upstream's message is kept, prefixed with the
    provider so a person knows which side failed."""
    error_type, message = _parse(body)
    kind = KIND_BY_ERROR_TYPE.get(error_type or "", kind_for_status(status))
    if message is None:
        text = body_summary(body)
        message = f"HTTP {status}: {text}"
    return BridgeError(
        kind,
        f"{provider} upstream: {message}",
        status=STATUS_FOR_CLIENTS.get(status, status),
        retry_after=retry_after,
    )


def decode_error_event(data: dict, *, provider: str) -> BridgeError:
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    kind = KIND_BY_ERROR_TYPE.get(error.get("type", ""), "api_error")
    message = error.get("message") or "the upstream stream reported an error"
    return BridgeError(kind, f"{provider} upstream: {message}")


def _parse(body: bytes) -> tuple[str | None, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    message = error.get("message")
    return error.get("type"), message if isinstance(message, str) else None


# neutral kind -> (Anthropic error type, Anthropic status)
ERROR_TYPE_AND_STATUS: dict[str, tuple[str, int]] = {
    "invalid_request": ("invalid_request_error", 400),
    "authentication": ("authentication_error", 401),
    "permission": ("permission_error", 403),
    "not_found": ("not_found_error", 404),
    "request_too_large": ("request_too_large", 413),
    "rate_limit": ("rate_limit_error", 429),
    "api_error": ("api_error", 500),
    "overloaded": ("overloaded_error", 529),
    "timeout": ("timeout_error", 504),
}


def error_body(error: BridgeError) -> bytes:
    error_type, _ = ERROR_TYPE_AND_STATUS.get(error.kind, ("api_error", 500))
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": error.message}})


def encode_error(error: BridgeError) -> tuple[int, bytes]:
    """(HTTP status, body) in Anthropic's envelope. Overloaded is Anthropic's 529;
    other statuses are kept when they are the upstream's own."""
    error_type, status = ERROR_TYPE_AND_STATUS.get(error.kind, ("api_error", 500))
    if error.kind not in ("overloaded", "invalid_request", "not_found") and error.status >= 400:
        status = error.status
    elif error.status == 415:  # the bridge's own: a body not sent as JSON
        status = 415
    return status, error_body(error)


def encode_error_event(error: BridgeError) -> bytes:
    return b"event: error\ndata: " + error_body(error) + b"\n\n"
