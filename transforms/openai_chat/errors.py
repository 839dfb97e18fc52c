"""Neutral `BridgeError` -> OpenAI error envelope `{"error": {message, type, param, code}}`."""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError

# type and code as OpenAI's own API uses them
TYPE_AND_CODE: dict[str, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", None),
    "not_found": ("invalid_request_error", "not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded": ("server_error", "overloaded"),
    "timeout": ("timeout_error", "timeout"),
}


def error_object(error: BridgeError) -> dict:
    error_type, code = TYPE_AND_CODE.get(error.kind, ("server_error", None))
    return {"message": error.message, "type": error_type, "param": error.param, "code": code}


def encode_error(error: BridgeError) -> tuple[int, bytes]:
    """(HTTP status, body) for a failure before any response byte was sent."""
    return error.status, orjson.dumps({"error": error_object(error)})


def encode_error_chunk(error: BridgeError) -> bytes:
    """A mid-stream failure: the openai SDKs raise APIError on a chunk carrying `error`."""
    return b"data: " + orjson.dumps({"error": error_object(error)}) + b"\n\n"
