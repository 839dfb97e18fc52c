"""OpenAI Chat SSE chunks -> neutral stream events (the upstream side).

One instance per response. Usage arrives in a chunk of its own after the
finish reason (include_usage), so the finish is reported at `[DONE]` or at
the end of the body. Argument fragments of a tool call that arrive before its
name are held until the name comes, not lost.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, kind_for_status
from transforms.ir import (
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStarted,
    Usage,
)
from transforms.openai_chat.decode_finish_reason import decode_finish_reason
from transforms.openai_chat.decode_usage import decode_usage
from transforms.sse import SSEEvent

_NOTHING: tuple = ()


class _PendingCall:
    __slots__ = ("id", "name", "fragments", "ordinal")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.fragments: list[str] = []
        self.ordinal = -1  # set once started


class OpenAIChatStreamDecoder:
    __slots__ = ("_provider", "_started", "_calls", "_tool_count", "_finish", "_stop_sequence", "_usage", "_done")

    def __init__(self, *, provider: str = "openai") -> None:
        self._provider = provider
        self._started = False
        self._calls: dict[int, _PendingCall] = {}
        self._tool_count = 0
        self._finish = None
        self._stop_sequence = None
        self._usage = Usage()
        self._done = False

    def decode(self, event: SSEEvent) -> tuple[StreamEvent, ...] | list[StreamEvent]:
        data = event.data
        if data == b"[DONE]":
            return self._complete()
        if self._done:
            return _NOTHING
        chunk = orjson.loads(data)
        if "error" in chunk and not chunk.get("choices"):
            self._done = True
            return (StreamFailed(_stream_error(chunk["error"], self._provider)),)
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(ResponseStarted(chunk.get("id") or "", chunk.get("model") or "", self._usage))
        if chunk.get("usage"):
            self._usage = decode_usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1 is refused before translation; ignore stray choices
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                events.append(ThinkingDelta(reasoning))
            content = delta.get("content")
            if content:
                events.append(TextDelta(content))
            for call in delta.get("tool_calls") or ():
                self._tool_call(call, events)
            if choice.get("finish_reason"):
                self._finish, self._stop_sequence = decode_finish_reason(choice)
        return events

    def close(self) -> tuple[StreamEvent, ...]:
        if self._done:
            return _NOTHING
        if self._finish is not None:  # some servers omit [DONE]
            return self._complete()
        self._done = True
        return (StreamFailed(BridgeError("api_error", f"{self._provider} upstream: the stream ended before the response was complete.")),)

    def _tool_call(self, call: dict, events: list[StreamEvent]) -> None:
        pending = self._calls.setdefault(call.get("index", 0), _PendingCall())
        pending.id = pending.id or call.get("id") or ""
        function = call.get("function") or {}
        pending.name = pending.name or function.get("name") or ""
        fragment = function.get("arguments") or ""
        if pending.ordinal < 0:
            if fragment:
                pending.fragments.append(fragment)
            if not pending.name:
                return  # hold the fragments until the name arrives
            pending.ordinal = self._tool_count
            self._tool_count += 1
            events.append(ToolCallStarted(pending.ordinal, pending.id, pending.name))
            if pending.fragments:
                events.append(ToolCallDelta(pending.ordinal, "".join(pending.fragments)))
                pending.fragments.clear()
        elif fragment:
            events.append(ToolCallDelta(pending.ordinal, fragment))

    def _complete(self) -> tuple[StreamEvent, ...]:
        if self._done:
            return _NOTHING
        self._done = True
        finished = ResponseFinished(self._finish or "stop", self._usage, self._stop_sequence)
        if not self._started:  # an empty answer: [DONE] with no chunk before it
            self._started = True
            return (ResponseStarted("", "", self._usage), finished)
        return (finished,)


def _stream_error(error: object, provider: str) -> BridgeError:
    if isinstance(error, dict):
        message = error.get("message") or "the upstream stream reported an error"
        status = error.get("code") if isinstance(error.get("code"), int) else 500
    else:
        message, status = str(error), 500
    return BridgeError(kind_for_status(status), f"{provider} upstream: {message}")
