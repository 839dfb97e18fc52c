"""A per-response stream translator: upstream bytes in, client bytes out.

    upstream bytes -> SSEDecoder -> <protocol> stream decoder -> neutral events
                   -> <protocol> stream encoder -> client bytes

`feed` never raises: a failure inside decoding or encoding becomes the client
protocol's own error event and the stream ends there, so a client is never left
hanging on a broken translation.
"""

from __future__ import annotations

from typing import Protocol

from transforms.errors import BridgeError, describe_failure
from transforms.ir import ResponseFinished, StreamEvent, StreamFailed
from transforms.sse import SSEDecoder, SSEEvent


class StreamDecoder(Protocol):
    def decode(self, event: SSEEvent) -> tuple[StreamEvent, ...] | list[StreamEvent]: ...
    def close(self) -> tuple[StreamEvent, ...] | list[StreamEvent]: ...


class StreamEncoder(Protocol):
    def encode(self, event: StreamEvent) -> bytes: ...
    def close(self) -> bytes: ...


class ByteStream(Protocol):
    """What the proxy glue drives: `feed` per upstream chunk, `close` once at the end."""

    def feed(self, chunk: bytes) -> bytes: ...
    def close(self) -> bytes: ...


class StreamTranslator:
    __slots__ = ("_sse", "_decoder", "_encoder", "_ended", "finished")

    def __init__(self, decoder: StreamDecoder, encoder: StreamEncoder, framing=None) -> None:
        self._sse = framing if framing is not None else SSEDecoder()  # or a JSON-array framing
        self._decoder = decoder
        self._encoder = encoder
        self._ended = False  # after a failure everything further is swallowed
        self.finished: ResponseFinished | None = None  # the stream's last event: finish reason and usage

    @property
    def encoder(self) -> StreamEncoder:
        return self._encoder

    def feed(self, chunk: bytes) -> bytes:
        if self._ended:
            return b""
        try:
            return self._translate(self._sse.feed(chunk))
        except Exception as exc:  # noqa: BLE001 - any bug must reach the client as an error, not a hang
            return self._fail(exc)

    def close(self) -> bytes:
        if self._ended:
            return b""
        try:
            out = self._translate(self._sse.close())
            if self._ended:
                return out
            encode = self._encoder.encode
            for event in self._decoder.close():
                if type(event) is ResponseFinished:
                    self.finished = event
                out += encode(event)
            self._ended = True
            return out + self._encoder.close()
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc)

    def _translate(self, events: list[SSEEvent]) -> bytes:
        if not events:
            return b""
        decode, encode = self._decoder.decode, self._encoder.encode
        out = []
        try:
            for sse_event in events:
                if not sse_event.data:
                    continue  # a bare `data` line: an event with nothing in it (valid SSE, no JSON to read)
                for event in decode(sse_event):
                    out.append(encode(event))
                    kind = type(event)
                    if kind is ResponseFinished:
                        self.finished = event
                    elif kind is StreamFailed:
                        self._ended = True
                        return b"".join(out) + self._encoder.close()
        except Exception as exc:  # noqa: BLE001 - what this chunk's good events gave is kept: splits must not matter
            return b"".join(out) + self._fail(exc)
        return b"".join(out)

    def _fail(self, exc: Exception) -> bytes:
        self._ended = True
        error = BridgeError("api_error", f"llm-bridge could not translate the upstream stream: {describe_failure(exc)}.")
        return self._encoder.encode(StreamFailed(error)) + self._encoder.close()
