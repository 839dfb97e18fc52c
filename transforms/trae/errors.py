"""A Trae error -> neutral `BridgeError`.

Trae reports errors as JSON with a numeric code, in one of three envelopes:
`{"code", "message"}`, `{"error": {"code", "message"}}` or ByteDance's
`{"ResponseMetadata": {"Error": {"Code", "Message"}}}`; sometimes with HTTP 200.
The codes Trae is known to use get a message saying what to do about them.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, ErrorKind, body_summary, kind_for_status

# code -> (kind, status, what it means)
KNOWN_CODES: dict[int, tuple[ErrorKind, int, str]] = {
    1001: ("authentication", 401, "Trae rejected the IDE token (code 1001): the token is invalid or expired"),
    4001: (
        "invalid_request",
        400,
        (
            "Trae rejected the request parameters (code 4001 'param is invalid'); usually the model name is not "
            "available for the configured IDE version (x-ide-version)"
        ),
    ),
    4008: ("rate_limit", 429, "Trae quota exceeded (code 4008)"),
    4011: ("rate_limit", 429, "Trae rate limit (code 4011); retry later"),
}


def decode_error(status: int, body: bytes, *, provider: str, retry_after: str | None = None) -> BridgeError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    error = error_from_payload(data, status=status, provider=provider, retry_after=retry_after)
    if error is not None:
        return error
    message = _message(data.get("message")) if isinstance(data, dict) and status >= 400 else None
    if message is not None:  # a message without a code
        return BridgeError(kind_for_status(status), f"{provider} upstream: Trae error: {message} (HTTP {status})",
                           status=status, retry_after=retry_after)
    text = body_summary(body)
    return BridgeError(
        kind_for_status(status) if status >= 400 else "api_error",
        f"{provider} upstream: HTTP {status}: {text}",
        status=status if status >= 400 else 502,
        retry_after=retry_after,
    )


def error_in_json(body: bytes, *, provider: str = "trae") -> BridgeError | None:
    """The error a successful-looking (HTTP 200) JSON body carries, or None when it carries none."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return error_from_payload(data, status=200, provider=provider)


def error_from_payload(
    data: object, *, status: int, provider: str, retry_after: str | None = None
) -> BridgeError | None:
    """A parsed error body (or SSE `error` event) -> BridgeError; None when it holds no error.
    `status` is the HTTP status it came with: 200 for errors inside a successful answer."""
    code, message = _code_and_message(data)
    if code is None and message is None:
        return None
    said = f" (Trae said: {message})" if message else ""
    known = KNOWN_CODES.get(code) if isinstance(code, int) else None
    if known is not None:
        kind, known_status, meaning = known
        return BridgeError(kind, f"{provider} upstream: {meaning}{said}", status=known_status, retry_after=retry_after)
    shown = f"Trae error code {code}" if code is not None else "Trae error"
    text = f": {message}" if message else ""
    if status >= 400:
        kind, status_out = kind_for_status(status), status
    else:  # an error inside a 200 answer, with a code this bridge does not know
        kind, status_out = "api_error", 502
    return BridgeError(kind, f"{provider} upstream: {shown}{text} (HTTP {status})", status=status_out, retry_after=retry_after)


def _code_and_message(data: object) -> tuple[int | str | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    metadata = data.get("ResponseMetadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("Error"), dict):
        inner = metadata["Error"]
        return _code(inner.get("Code")), _message(inner.get("Message"))
    if isinstance(data.get("error"), dict):
        inner = data["error"]
        return _code(inner.get("code")), _message(inner.get("message"))
    if isinstance(data.get("error"), str):
        return _code(data.get("code")), _message(data["error"])
    code = _code(data.get("code"))
    if code is None or code == 0:  # code 0 is Trae's "success"
        return None, None
    return code, _message(data.get("message") or data.get("msg"))


def _code(value: object) -> int | str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else value
    return str(value)


def _message(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
