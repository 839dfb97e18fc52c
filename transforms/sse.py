"""Incremental Server-Sent Events framing.

`SSEDecoder.feed` takes bytes split anywhere (mid-event, between `\\r` and `\\n`,
inside a UTF-8 sequence) and returns the events completed so far. Lines are
kept as bytes until a whole line is known, so a split UTF-8 character is never
decoded early; `data` is handed on as bytes for orjson.

Parsed as the WHATWG HTML standard's event-stream section says: one leading
byte-order mark is dropped; lines end in CRLF, LF or CR; a line starting with
`:` is a comment; a line without a colon is a field with an empty value (a bare
`data` line adds an empty line of data; any other name is ignored); `id` and
`retry` are read and ignored (the bridge never reconnects a stream); a blank line
dispatches the event when data was given.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes
    raw: bytes  # the event's bytes as received, for byte-exact passthrough


BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    __slots__ = ("_buffer", "_more", "_skip_lf", "_event", "_data", "_raw", "_keep_raw", "_at_start")

    def __init__(self, *, keep_raw: bool = False) -> None:
        self._keep_raw = keep_raw  # only passthrough filters need each event's original bytes
        self._buffer = b""  # the start of a line whose end has not come
        self._more: list[bytes] = []  # later pieces of that line (joined once, when its end comes: a 5 MB
        # event in 64 KB chunks is copied once, not once per chunk)
        self._skip_lf = False  # the previous chunk ended in "\r": a leading "\n" belongs to it
        self._event: str | None = None
        self._data: list[bytes] = []
        self._raw: list[bytes] = []
        self._at_start = True  # a byte-order mark may still come

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._at_start:
            chunk = self._buffer + chunk
            self._buffer = b""
            if len(chunk) < len(BOM) and BOM.startswith(chunk):
                self._buffer = chunk  # maybe the start of a BOM: wait for more
                return []
            self._at_start = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM):]
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        if b"\n" not in chunk and b"\r" not in chunk:
            if self._buffer:
                self._more.append(chunk)
            else:
                self._buffer = chunk
            return []
        if self._more:
            self._more.append(chunk)
            buffer = self._buffer + b"".join(self._more)
            self._more = []
        else:
            buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            lines = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            eol = b"\r\n"  # raw form: a stream framed with CR keeps CRLF (exact for CRLF streams)
        else:
            lines = buffer.split(b"\n")
            eol = b"\n"
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        keep_raw = self._keep_raw
        for line in lines:
            if keep_raw:
                self._raw.append(line + eol)
            if not line:
                if self._data:
                    raw = b"".join(self._raw) if keep_raw else b""
                    events.append(SSEEvent(self._event, b"\n".join(self._data), raw))
                elif keep_raw:  # a comment-only block (keep-alive): forwarded as is
                    events.append(SSEEvent(None, b"", b"".join(self._raw)))
                self._event = None
                self._data = []
                self._raw = []
                continue
            if line[:1] == b":":  # comment / keep-alive
                continue
            name, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
            # "id" and "retry" carry nothing the translators use
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: dispatch an event left unterminated by a missing blank line."""
        if self._at_start:
            self._at_start, self._buffer = False, (b"" if BOM.startswith(self._buffer) else self._buffer)
        if self._buffer or self._more:
            return self.feed(b"\n\n")
        if self._data:
            return self.feed(b"\n")
        return []

    @property
    def pending(self) -> bool:
        """Inside an event: bytes or fields received that no blank line has ended yet."""
        return bool(self._buffer or self._more or self._data or self._raw or self._skip_lf or self._event is not None)


def encode_event(data: bytes, event: str | None = None) -> bytes:
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
