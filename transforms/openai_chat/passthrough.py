"""OpenAI Chat client to an OpenAI-compatible upstream: same protocol, so no
decode/encode round trip. Only `model` changes on the way up, and usage is
always requested so the bridge can account for it; the usage-only chunk is
dropped again on the way down when the client did not ask for it.
"""

from __future__ import annotations

import orjson

from transforms.ir import Usage
from transforms.openai_chat.decode_usage import decode_usage
from transforms.sse import SSEDecoder


def passthrough_request(body: dict, *, upstream_model: str) -> bytes:
    """The client's body as is, but for `model` and, when streaming, include_usage."""
    body = dict(body)
    body["model"] = upstream_model
    if body.get("stream"):
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return orjson.dumps(body)


def client_wants_usage(body: dict) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


class UsageChunkFilter:
    """Forwards the upstream SSE event by event, byte for byte, minus the usage-only
    chunk (`"choices": []`) the client did not ask for."""

    __slots__ = ("_sse",)

    def __init__(self) -> None:
        self._sse = SSEDecoder(keep_raw=True)

    def feed(self, chunk: bytes) -> bytes:
        # Fast path: a chunk of whole events with no empty choices array goes out untouched.
        if chunk.endswith(b"\n\n") and not self._sse.pending and not _may_be_usage_only(chunk):
            return chunk
        return b"".join(event.raw for event in self._sse.feed(chunk) if not _is_usage_only(event.data))

    def close(self) -> bytes:
        return b"".join(event.raw for event in self._sse.close() if not _is_usage_only(event.data))


def _may_be_usage_only(data: bytes) -> bool:
    # Once include_usage is on, every chunk carries "usage": null, so test for the
    # empty choices array instead: only the usage chunk (and Azure's first) has one.
    return b'"choices":[]' in data or b'"choices": []' in data


def _is_usage_only(data: bytes) -> bool:
    if not _may_be_usage_only(data):
        return False
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


def usage_of(data: dict, _so_far: Usage | None) -> Usage | None:
    """A whole answer's or a chunk's usage (the last chunk's, include_usage being always on upstream)."""
    usage = data.get("usage")
    return decode_usage(usage) if isinstance(usage, dict) else None
