"""Neutral stream events -> Gemini stream chunks (the client side).

With `alt=sse`: `data: <GenerateContentResponse>\\r\\n\\r\\n` per chunk, as Google
frames it. Without: one JSON array, written element by element. Text and
thought deltas go out at once; a function call goes out whole when its
arguments are complete (Gemini clients expect complete calls), usage and the
finish reason on the last chunk.
"""

from __future__ import annotations

import orjson

from transforms.gemini.call_ids import to_gemini_signature
from transforms.gemini.encode_response import FINISH, call_part, chunk, error_object
from transforms.ir import (
    ChatRequest, ResponseFinished, ResponseStarted, StreamEvent, StreamFailed, TextDelta, ThinkingDelta, ToolCallDelta,
    ToolCallStarted,
)


class GeminiStreamEncoder:
    __slots__ = ("_request", "_sse", "_id", "_calls", "_first", "_ended")

    def __init__(self, request: ChatRequest, *, created: int = 0) -> None:
        self._request = request
        self._sse = request.client_options.get("sse", True)
        self._id = ""
        self._calls: dict[int, list] = {}  # ordinal -> [id, name, argument fragments]
        self._first = True
        self._ended = False

    def encode(self, event: StreamEvent) -> bytes:
        cls = type(event)
        if cls is TextDelta:
            return self._chunk([{"text": event.text}]) if event.text else b""
        if cls is ToolCallDelta:
            if event.index in self._calls:
                self._calls[event.index][2].append(event.arguments)
            return b""
        if cls is ThinkingDelta:
            part: dict = {"text": event.text, "thought": True}
            if event.signature:  # another upstream's signature rides on a thought part, and comes back on it
                part["thoughtSignature"] = to_gemini_signature(event.signature)
            return self._chunk([part]) if event.text or event.signature else b""
        if cls is ToolCallStarted:  # sent whole, together with its siblings, as Gemini does
            self._calls[event.index] = [event.id, event.name, []]
            return b""
        if cls is ResponseStarted:
            self._id = event.id
            return b""
        if cls is ResponseFinished:
            parts = self._pending_parts()
            return self._emit(chunk(parts or [{"text": ""}], self._request.model, self._id,
                                    FINISH.get(event.finish_reason, "STOP"), event.usage))
        if cls is StreamFailed:
            self._ended = True
            return self._emit(error_object(event.error))
        raise TypeError(f"unknown stream event {event!r}")

    def close(self) -> bytes:
        if self._sse or self._first:
            return b"" if self._sse else b"[]"
        return b"]"

    def _pending_parts(self) -> list[dict]:
        parts = []
        for call_id, name, fragments in self._calls.values():
            text = "".join(fragments)
            parts.append(call_part(call_id, name, orjson.loads(text) if text else {}))
        self._calls.clear()
        return parts

    def _flush_calls(self) -> bytes:
        parts = self._pending_parts()
        return self._chunk(parts) if parts else b""

    def _chunk(self, parts: list[dict]) -> bytes:
        # calls finished before this text go out first, so the order of parts is kept
        return self._flush_calls() + self._emit(chunk(parts, self._request.model, self._id))

    def _emit(self, body: dict) -> bytes:
        data = orjson.dumps(body)
        if self._sse:
            return b"data: " + data + b"\r\n\r\n"
        prefix = b"[" if self._first else b",\r\n"
        self._first = False
        return prefix + data + b"\n"
