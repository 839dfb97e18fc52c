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
                status=415,
            )
    return codings


def inflate(body: bytes, codings: list[str], limit: int) -> bytes:
    """The body with its encodings undone, last applied first; never more than limit + 1 bytes
    are produced at any step."""
    for coding in reversed(codings):
        if coding == "identity":
            continue
        try:
            body = _inflate_one(body, coding, limit)
        except (zlib.error, brotli.error, zstandard.ZstdError, ValueError):
            raise BridgeError(
                "invalid_request", f"The request body is not valid {coding} data (Content-Encoding: {coding})."
            ) from None
        if len(body) > limit:
            raise too_large(f"The request body inflates ({coding}) to more than {limit} bytes", limit)
    return body


def _inflate_one(body: bytes, coding: str, limit: int) -> bytes:
    if coding in _ZLIB_WBITS:
        inflater = zlib.decompressobj(_ZLIB_WBITS[coding])
        out = inflater.decompress(body, limit + 1)
        if len(out) <= limit and not inflater.eof:
            raise ValueError("truncated")
        return out
    if coding == "br":
        inflater = brotli.Decompressor()
        out = inflater.process(body, output_buffer_limit=limit + 1)
        if len(out) <= limit and not inflater.is_finished():
            raise ValueError("truncated")
        return out
    # zstd: a stream reader reads at most what is asked for, whatever the frame claims
    with zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True) as reader:
        return reader.read(limit + 1)
