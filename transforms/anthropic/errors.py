"""Anthropic error bodies and `error` stream events -> neutral `BridgeError`."""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, ErrorKind, kind_for_status

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
        text = body[:200].decode("utf-8", "replace").strip() or "(empty body)"
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
