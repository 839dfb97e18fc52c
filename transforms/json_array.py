"""Incremental framing of a streamed JSON array (`[{...},{...}]`), the shape Gemini streams take
without `alt=sse`: bytes split anywhere in, each complete element out, as an SSE-like event so the
same stream decoders read both framings."""

from __future__ import annotations

from transforms.sse import SSEEvent

_OPEN, _CLOSE, _QUOTE, _BACKSLASH, _ARRAY_OPEN, _ARRAY_CLOSE = b"{[", b"}]", 34, 92, 91, 93


class JSONArrayFraming:
    __slots__ = ("_buffer", "_scan", "_start", "_depth", "_in_string", "_escaped", "_opened", "_closed")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan = 0  # next byte to look at
        self._start = -1  # start of the element being read
        self._depth = 0  # nesting inside the element
        self._in_string = False
        self._escaped = False
        self._opened = False
        self._closed = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer
        buffer += chunk
        events: list[SSEEvent] = []
        i = self._scan
        while i < len(buffer) and not self._closed:
            c = buffer[i]
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif c == _BACKSLASH:
                    self._escaped = True
                elif c == _QUOTE:
                    self._in_string = False
            elif c == _QUOTE:
                self._in_string = True
            elif not self._opened:
                self._opened = c == _ARRAY_OPEN
            elif c in _OPEN:
                if self._depth == 0:
                    self._start = i
                self._depth += 1
            elif c in _CLOSE:
                if self._depth == 0:
                    self._closed = c == _ARRAY_CLOSE
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        events.append(SSEEvent(None, bytes(buffer[self._start : i + 1]), b""))
            i += 1
        # drop what is consumed, keeping an element in progress
        keep = self._start if self._depth > 0 else i
        del buffer[:keep]
        self._scan = i - keep
        if self._depth > 0:
            self._start = 0
        return events

    def close(self) -> list[SSEEvent]:
        return []
