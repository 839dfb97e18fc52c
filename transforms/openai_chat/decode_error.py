"""An OpenAI-compatible upstream's error response -> neutral `BridgeError`.

Compatible providers do not all use OpenAI's envelope; anything else keeps its
text so the person reading it still learns what went wrong.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, body_summary, kind_for_status


def decode_error(status: int, body: bytes, *, provider: str, retry_after: str | None = None) -> BridgeError:
    message = None
    param = None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message, param = error.get("message"), error.get("param")
    elif isinstance(error, str):
        message = error
    elif isinstance(data, dict) and isinstance(data.get("message"), str):
        message = data["message"]
    if not isinstance(message, str) or not message:
        text = body_summary(body)
        message = f"HTTP {status}: {text}"
    return BridgeError(
        kind_for_status(status),
        f"{provider} upstream: {message}",
        status=status,
        param=param if isinstance(param, str) else None,
        retry_after=retry_after,
    )
