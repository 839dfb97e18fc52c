"""A Gemini error response `{"error": {code, message, status}}` -> neutral `BridgeError`."""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, body_summary, kind_for_status


def decode_error(status: int, body: bytes, *, provider: str, retry_after: str | None = None) -> BridgeError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and data:  # the array endpoint wraps errors in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not message:
        message = f"HTTP {status}: {body_summary(body)}"
    return BridgeError(kind_for_status(status), f"{provider} upstream: {message}", status=status, retry_after=retry_after)
