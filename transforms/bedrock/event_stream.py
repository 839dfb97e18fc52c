"""Bedrock's stream framing (`application/vnd.amazon.eventstream`) -> the Anthropic events inside it.

InvokeModelWithResponseStream answers in the AWS binary event-stream framing: each message
has a prelude, headers and a payload, with CRC32 checksums. A `chunk` event's payload is
`{"bytes": "<base64 of one Anthropic stream event>"}`; that event is handed on as an SSE
event, so the Anthropic stream decoder reads Bedrock streams as it reads Anthropic's own.

Frames are parsed by botocore's own parser, which takes bytes split anywhere. An exception
message, or bytes that are not a valid frame, become an Anthropic `error` event: the decoder
reports it like any upstream error and the stream ends there.
"""

from __future__ import annotations

import base64
import struct

import orjson
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError

from transforms.anthropic.errors import ERROR_TYPE_AND_STATUS
from transforms.bedrock.errors import exception_kind
from transforms.errors import ErrorKind
from transforms.sse import SSEEvent

# prelude (12 bytes) and message CRC (4): botocore does not check that a frame's length covers them
_SMALLEST_FRAME = 16
# what botocore's parser raises on bytes it cannot read beyond its own ParserError:
# short fields, unknown header types, names that are not UTF-8
_CORRUPT = (ParserError, struct.error, KeyError, UnicodeDecodeError)


class EventStreamFraming:
    __slots__ = ("_buffer", "_pending", "_ended")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._pending = 0  # bytes received that no complete message has used yet
        self._ended = False  # after an exception or a corrupt frame nothing more is read

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._ended or not chunk:
            return []
        self._buffer.add_data(chunk)
        self._pending += len(chunk)
        events: list[SSEEvent] = []
        try:
            for message in self._buffer:
                if message.prelude.total_length < _SMALLEST_FRAME:
                    raise ParserError(f"a frame of {message.prelude.total_length} bytes")
                self._pending -= message.prelude.total_length
                event = self._event(message)
                if event is not None:
                    events.append(event)
                if self._ended:
                    break
        except _CORRUPT as exc:
            self._ended = True
            reason = str(exc) if isinstance(exc, ParserError) else f"unreadable frame: {exc!r}"
            events.append(_error_event("api_error", f"the Bedrock event stream is corrupt ({reason}); the answer is incomplete"))
        return events

    def close(self) -> list[SSEEvent]:
        if self._ended or not self._pending:
            return []
        self._ended = True
        return [_error_event("api_error", f"the Bedrock event stream ended inside a frame ({self._pending} bytes of it arrived)")]

    def _event(self, message: EventStreamMessage) -> SSEEvent | None:
        headers = message.headers
        message_type = headers.get(":message-type")
        if message_type == "event":
            if headers.get(":event-type") != "chunk":
                return None  # nothing else carries model output
            return self._chunk(message.payload)
        if message_type == "exception":
            self._ended = True
            return _exception_event(str(headers.get(":exception-type", "unknownException")), message.payload)
        if message_type == "error":  # the framing's own error form: the code and text are headers
            self._ended = True
            code, text = headers.get(":error-code", "error"), headers.get(":error-message", "")
            return _error_event("api_error", f"Bedrock stream error {code}: {text or '(no message)'}")
        return None

    def _chunk(self, payload: bytes) -> SSEEvent:
        try:
            data = base64.b64decode(orjson.loads(payload)["bytes"], validate=True)
            kind = orjson.loads(data)["type"]
        except (ValueError, KeyError, TypeError) as exc:  # bad JSON and bad base64 are ValueErrors
            self._ended = True
            return _error_event("api_error", f"a Bedrock stream chunk is not a base64-encoded Anthropic event ({exc!r})")
        return SSEEvent(kind, data, b"")


def _exception_event(exception_type: str, payload: bytes) -> SSEEvent:
    try:
        details = orjson.loads(payload)
    except orjson.JSONDecodeError:
        details = None
    if not isinstance(details, dict):
        details = {"message": payload[:200].decode("utf-8", "replace")}
    message = str(details.get("message") or details.get("Message") or "(no message)")
    if details.get("originalMessage"):  # modelStreamErrorException: what the model itself said
        message += f" (the model answered {details.get('originalStatusCode', '?')}: {details['originalMessage']})"
    return _error_event(exception_kind(exception_type), f"Bedrock {exception_type}: {message}")


def _error_event(kind: ErrorKind, message: str) -> SSEEvent:
    """An Anthropic `error` event, which the Anthropic stream decoder turns into a failure of that kind."""
    error_type, _ = ERROR_TYPE_AND_STATUS[kind]
    data = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return SSEEvent("error", data, b"")
