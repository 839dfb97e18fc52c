"""An AWS event-stream encoder (`application/vnd.amazon.eventstream`), for the Bedrock front.

A message is: prelude (total length u32, headers length u32, CRC32 of those 8 bytes), headers
(name length u8, name, type 7 = string, value length u16, value), payload, then the CRC32 of
everything before it. Written by hand, from the format, so botocore's parser checks it.
"""

from __future__ import annotations

import base64
import struct
from binascii import crc32

from .common import dumps

STRING = 7  # header value type
CONTENT_TYPE = "application/vnd.amazon.eventstream"
# Bedrock pads each chunk's JSON with a "p" field of varying length, so sizes do not reveal the text
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    prelude += struct.pack("!I", crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack("!I", crc32(body))


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return struct.pack("!B", len(name_bytes)) + name_bytes + struct.pack("!BH", STRING, len(value_bytes)) + value_bytes


def chunk(event_json: bytes) -> bytes:
    """A `chunk` event carrying one Anthropic stream event (its JSON)."""
    payload = {"bytes": base64.b64encode(event_json).decode(), "p": PADDING[: len(event_json) % len(PADDING)]}
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return message(headers, dumps(payload))


def exception(exception_type: str, text: str, **details) -> bytes:
    """An exception message (throttlingException, modelStreamErrorException, ...): it ends the stream."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return message(headers, dumps({"message": text, **details}))


def sse_data(sse: bytes) -> list[bytes]:
    """The `data` of each event in the simulator's own SSE (one `data:` line per event)."""
    return [line[6:].rstrip(b"\r") for line in sse.split(b"\n") if line.startswith(b"data: ")]


def from_sse(sse: bytes) -> bytes:
    """An Anthropic SSE body as Bedrock streams it."""
    return b"".join(chunk(data) for data in sse_data(sse))
