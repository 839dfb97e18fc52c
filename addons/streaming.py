"""Hooking a per-response byte translator into mitmproxy's response streaming.

Traps handled here (see the project's mitmproxy notes): a stale
Content-Length truncates the body, so it is dropped and HTTP/1 clients get
chunked framing; returning b"" mid-stream ends an HTTP/1 chunked body, so
"nothing yet" is []; an exception escaping the callable hangs the client, so
none escapes; compressed bytes would reach the translator, so they are
inflated first.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Callable

from mitmproxy import http

from addons.guards.header_values import header_fields

from transforms.stream import ByteStream

log = logging.getLogger(__name__)

def prepare_stream_headers(flow: http.HTTPFlow, extra: dict[str, str], content_type: str = "text/event-stream") -> None:
    """Replace the upstream's headers with the client's stream headers."""
    fields = [(b"content-type", content_type.encode() + b"; charset=utf-8"), (b"cache-control", b"no-cache")]
    fields += header_fields(extra)
    if flow.request.http_version.startswith("HTTP/1"):
        fields.append((b"transfer-encoding", b"chunked"))
    flow.response.headers = http.Headers(fields)


class StreamTap:
    """A per-chunk record of a stream, both sides, each chunk with its time since the stream began: what
    recordings, `-w` files and mitmweb keep of a streamed exchange. Each side keeps at most `limit` bytes;
    what comes after is counted, not kept, and the side is marked cut (`truncated`)."""

    __slots__ = ("upstream", "client", "_t0", "limit", "_sizes", "truncated")

    def __init__(self, limit: int = 4 << 20) -> None:
        self.upstream: list[tuple[float, bytes]] = []
        self.client: list[tuple[float, bytes]] = []
        self._t0 = time.monotonic()
        self.limit = limit
        self._sizes = [0, 0]  # bytes kept: upstream, client
        self.truncated: list[str] = []

    def on_upstream(self, chunk: bytes) -> None:
        self._keep(0, self.upstream, chunk, "upstream_chunks")

    def on_client(self, chunk: bytes) -> None:
        self._keep(1, self.client, chunk, "client_chunks")

    def _keep(self, side: int, into: list, chunk: bytes, name: str) -> None:
        if name in self.truncated:
            return  # cut once, kept no further: what is kept has no gap
        if self._sizes[side] + len(chunk) > self.limit:
            self.truncated.append(name)
            return
        self._sizes[side] += len(chunk)
        into.append((round(time.monotonic() - self._t0, 4), chunk))

    def client_body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.client)


def stream_callable(
    translator: ByteStream,
    *,
    content_encoding: str = "",
    on_error: Callable[[Exception], bytes],
    tap: StreamTap | None = None,
) -> Callable[[bytes], bytes | list[bytes]]:
    inflate = _inflater(content_encoding)

    def stream(chunk: bytes) -> bytes | list[bytes]:
        final = not chunk
        try:
            if tap is not None and chunk:
                tap.on_upstream(chunk)
            if inflate is not None:
                chunk = inflate.flush() if final else inflate.decompress(chunk)
                out = translator.feed(chunk) if chunk else b""
                if final:
                    out += translator.close()
            else:
                out = translator.close() if final else translator.feed(chunk)
        except Exception as exc:  # noqa: BLE001 - see module docstring
            log.exception("llm-bridge: stream translation failed")
            out = on_error(exc)
        if tap is not None and out:
            tap.on_client(out)
        if final:
            return out  # a final b"" is dropped by mitmproxy: safe
        return out if out else []

    return stream


def _inflater(content_encoding: str):
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
    if encoding == "deflate":
        return zlib.decompressobj()
    raise ValueError(f"the upstream sent a stream with content-encoding '{content_encoding}', which is not supported")
