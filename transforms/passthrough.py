"""Same protocol on both sides: the client's body goes up as it is, but for the model name."""

from __future__ import annotations

import re
from typing import Callable

import orjson

from transforms.ir import Usage


def with_model(body: dict, *, upstream_model: str) -> bytes:
    return orjson.dumps({**body, "model": upstream_model})


UsageOf = Callable[[dict, Usage | None], Usage | None]  # (a JSON object of the protocol, the usage so far) -> usage


def whole_usage(usage_of: UsageOf | None, body: bytes) -> Usage | None:
    """The usage in a passthrough's whole answer (read, never changed: the client gets the body as it came)."""
    if usage_of is None:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return usage_of(data, None) if isinstance(data, dict) else None


# a usage object (OpenAI's "usage": null in every chunk is not one): only lines that hold one are parsed
_USAGE_OBJECT = re.compile(rb'"usage(?:Metadata)?"\s*:\s*\{')


class UsageReading:
    """A passthrough stream's byte filter, unchanged, that also reads the usage its events carry (`usage`),
    for the exchange log, the metrics and the usage ledger. Only the `data:` lines that hold a usage object
    are parsed (the JSON payloads of these protocols are one line each); the rest costs one regex search."""

    __slots__ = ("_inner", "_usage_of", "_partial", "usage")

    def __init__(self, inner, usage_of: UsageOf) -> None:
        self._inner = inner
        self._usage_of = usage_of
        self._partial = b""  # the stream's last line, while incomplete
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        data = self._partial + chunk if self._partial else chunk
        end = data.rfind(b"\n") + 1
        if _USAGE_OBJECT.search(data, 0, end) is not None:
            self._read(data[:end])
        self._partial = data[end:]
        return self._inner.feed(chunk)

    def close(self) -> bytes:
        if self._partial:
            self._read(self._partial)
            self._partial = b""
        return self._inner.close()

    def _read(self, lines: bytes) -> None:
        for line in lines.splitlines():
            if not line.startswith(b"data:") or _USAGE_OBJECT.search(line) is None:
                continue
            try:
                parsed = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                self.usage = self._usage_of(parsed, self.usage) or self.usage
