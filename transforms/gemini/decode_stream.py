"""Gemini streamGenerateContent?alt=sse chunks -> neutral stream events (the upstream side).

Each chunk is a whole GenerateContentResponse: text and thought parts are
deltas, function calls arrive complete (one event pair each), usageMetadata
is cumulative (the last one counts, nothing is added up), and the finish
reason comes on the last chunk. An `{"error": ...}` chunk ends the stream.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, kind_for_status
from transforms.gemini.call_ids import pack
from transforms.gemini.finish_reason import finish_reason
from transforms.gemini.partial_args import apply_partial_args
from transforms.gemini.usage import decode_usage
from transforms.ir import (
    ResponseFinished, ResponseStarted, StreamEvent, StreamFailed, TextDelta, ThinkingDelta, ToolCallDelta,
    ToolCallStarted, Usage,
)
from transforms.sse import SSEEvent

_NOTHING: tuple = ()


class GeminiStreamDecoder:
    __slots__ = ("_provider", "_started", "_calls", "_usage", "_finish", "_blocked", "_done", "_open_call")

    def __init__(self, *, provider: str = "gemini") -> None:
        self._provider = provider
        self._started = False
        self._calls = 0
        self._usage = Usage()
        self._finish: str | None = None
        self._blocked = False
        self._done = False
        self._open_call: tuple[int, dict] | None = None  # a Vertex call whose arguments are still streaming

    def decode(self, event: SSEEvent) -> list[StreamEvent] | tuple:
        if self._done:
            return _NOTHING
        chunk = orjson.loads(event.data)
        if isinstance(chunk, dict) and "error" in chunk:
            self._done = True
            error = chunk["error"] if isinstance(chunk["error"], dict) else {}
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            return (StreamFailed(BridgeError(kind_for_status(status), f"{self._provider} upstream: {error.get('message') or 'stream error'}")),)
        events: list[StreamEvent] = []
        response_id = chunk.get("responseId") or ""
        if not self._started:
            self._started = True
            events.append(ResponseStarted(response_id, chunk.get("modelVersion") or "", self._usage))
        if chunk.get("usageMetadata"):
            self._usage = decode_usage(chunk["usageMetadata"])
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            self._blocked = True
        candidate = (chunk.get("candidates") or [{}])[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            if "functionCall" in part:
                self._function_call(part, response_id, events)
            elif part.get("thought"):
                if part.get("text"):
                    events.append(ThinkingDelta(part["text"]))
            elif part.get("text"):
                events.append(TextDelta(part["text"]))
        if candidate.get("finishReason"):
            self._finish = candidate["finishReason"]
        return events

    def _function_call(self, part: dict, response_id: str, events: list[StreamEvent]) -> None:
        call = part["functionCall"]
        if self._open_call is not None:  # Vertex: partial arguments, or the empty call that closes them
            ordinal, arguments = self._open_call
            if call.get("partialArgs"):
                apply_partial_args(arguments, call["partialArgs"])
            if not call.get("willContinue") and not call.get("name"):
                events.append(ToolCallDelta(ordinal, orjson.dumps(arguments).decode()))
                self._open_call = None
            return
        ordinal = self._calls
        self._calls += 1
        call_id = pack(call.get("id") or f"call_{response_id}_{ordinal}", part.get("thoughtSignature"))
        events.append(ToolCallStarted(ordinal, call_id, call.get("name") or ""))
        if call.get("willContinue"):
            self._open_call = (ordinal, dict(call.get("args") or {}))
        else:
            events.append(ToolCallDelta(ordinal, orjson.dumps(call.get("args") or {}).decode()))

    def close(self) -> tuple[StreamEvent, ...]:
        if self._done:
            return _NOTHING
        self._done = True
        if self._finish is None and not self._blocked:
            return (StreamFailed(BridgeError("api_error", f"{self._provider} upstream: the stream ended before the response was complete.")),)
        events: tuple = ()
        if not self._started:
            events = (ResponseStarted("", "", self._usage),)
        return (*events, ResponseFinished(finish_reason(self._finish, self._calls > 0, self._blocked), self._usage))
