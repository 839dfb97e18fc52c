"""Gemini client to a Gemini upstream: the body as is, the stream as it comes.

The bridge always streams from upstreams with `alt=sse`; a client that asked
for the JSON-array framing gets the same chunks re-framed as an array.
"""

from __future__ import annotations

import orjson

from transforms.gemini.usage import decode_usage
from transforms.ir import Usage
from transforms.sse import SSEDecoder

# keys the proxy glue adds from the URL; not part of Gemini's body
URL_KEYS = ("model", "stream", "alt_sse")


def passthrough_request(body: dict, *, upstream_model: str) -> bytes:
    return orjson.dumps({k: v for k, v in body.items() if k not in URL_KEYS})


class SSEToJSONArray:
    __slots__ = ("_sse", "_first")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._first = True

    def feed(self, chunk: bytes) -> bytes:
        out = []
        for event in self._sse.feed(chunk):
            out.append((b"[" if self._first else b",\r\n") + event.data + b"\n")
            self._first = False
        return b"".join(out)

    def close(self) -> bytes:
        return self.feed(b"") + (b"[]" if self._first else b"]")


def usage_of(data: dict, _so_far: Usage | None) -> Usage | None:
    """usageMetadata: cumulative, each chunk repeats the totals so far (the last one wins)."""
    meta = data.get("usageMetadata")
    return decode_usage(meta) if isinstance(meta, dict) else None
