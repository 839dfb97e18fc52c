"""A request body's size and encoding, checked before the bridge reads it as JSON.

A compressed body is inflated here with a bound: the output stops one byte past
`[server] max_request_bytes`, so a small gzip bomb costs no more memory than an
honest body of the limit's size.
"""

from __future__ import annotations

import zlib

import brotli
import zstandard

from transforms.errors import BridgeError

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024  # Anthropic's own limit for a Messages request

# Content-Encoding token -> bounded inflater (mitmproxy decodes these same ones, unbounded)
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPTED_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate", "br", "zstd")


def too_large(what: str, limit: int) -> BridgeError:
    """`what`: the body's size as known, e.g. "The request body is 52428800 bytes"."""
    return BridgeError(
        "request_too_large",
        f"{what}; this bridge accepts at most {limit} bytes ([server] max_request_bytes). "
        "Send less context, or raise the limit.",
        code="REQUEST_TOO_LARGE",
    )


def declared_length(headers) -> int | None:
    """Content-Length as a number (mitmproxy has already refused a malformed one)."""
    value = headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def check_encoding(value: str) -> list[str]:
    """The encodings a Content-Encoding header lists, in the order they were applied; an
    unknown one is the client's 415."""
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    for coding in codings:
        if coding not in ACCEPTED_ENCODINGS:
            shown = coding if coding.isprintable() and len(coding) <= 40 else "(unprintable)"
            raise BridgeError(
                "invalid_request",
                f"Content-Encoding '{shown}' is not supported; send the body uncompressed, "
                f"or as {', '.join(ACCEPTED_ENCODINGS[1:])}.",
                status=415, code="UNSUPPORTED_MEDIA_TYPE",
            )
    return codings


def inflate(body: bytes, codings: list[str], limit: int) -> bytes:
    """The body with its encodings undone, last applied first. Each step is first measured piece by
    piece, keeping nothing, and only inflated for keeps once it is known to fit: a bomb costs one
    piece of memory, not the limit's worth (which the allocator might not hand back)."""
    for coding in reversed(codings):
        if coding == "identity":
            continue
        try:
            size = 0
            for piece in _pieces(body, coding):
                size += len(piece)
                if size > limit:
                    raise too_large(f"The request body inflates ({coding}) to more than {limit} bytes", limit)
            body = _whole(body, coding)
        except (zlib.error, brotli.error, zstandard.ZstdError, ValueError):
            raise BridgeError(
                "invalid_request", f"The request body is not valid {coding} data (Content-Encoding: {coding})."
            ) from None
    return body


PIECE = 256 * 1024


def _whole(body: bytes, coding: str) -> bytes:
    """The inflated body, once it is known to fit; ValueError when the data ends early."""
    if coding == "zstd":  # (its stream reader in _pieces does not tell a cut frame from an ended one)
        inflater = zstandard.ZstdDecompressor().decompressobj()
        out = inflater.decompress(body)
        if not inflater.eof:
            raise ValueError("truncated")
        return out
    return b"".join(_pieces(body, coding))


def _pieces(body: bytes, coding: str):
    """The inflated body, at most PIECE bytes at a time; ValueError when the data ends early."""
    if coding in _ZLIB_WBITS:
        inflater = zlib.decompressobj(_ZLIB_WBITS[coding])
        data = body
        while not inflater.eof:
            piece = inflater.decompress(data, PIECE)
            data = inflater.unconsumed_tail
            if not piece and not data:
                piece = inflater.flush()
                if not inflater.eof:
                    raise ValueError("truncated")
            yield piece
    elif coding == "br":
        inflater = brotli.Decompressor()
        piece = inflater.process(body, output_buffer_limit=PIECE)
        while True:
            yield piece
            if inflater.is_finished():
                return
            piece = inflater.process(b"", output_buffer_limit=PIECE)
            if not piece and not inflater.is_finished():
                raise ValueError("truncated")  # all input used, and the stream has not ended
    else:  # zstd: a stream reader reads at most what is asked for, whatever the frame claims
        with zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True) as reader:
            while piece := reader.read(PIECE):
                yield piece


class BoundedBody:
    """A body streamed in with no declared length, kept up to the limit and measured past it:
    `feed` is mitmproxy's request stream callable (it passes nothing on)."""

    __slots__ = ("limit", "size", "_parts")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        self.size += len(chunk)
        if self.size <= self.limit:
            self._parts.append(chunk)
        elif self._parts:
            self._parts.clear()  # too large: what came so far is dropped, the rest only counted
        return []  # (never b"": mid-stream that would end an HTTP/1 chunked body)

    @property
    def overflowed(self) -> bool:
        return self.size > self.limit

    def body(self) -> bytes:
        return b"".join(self._parts)
