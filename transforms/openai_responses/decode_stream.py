"""OpenAI Responses SSE events -> neutral stream events (the upstream side).

Function calls are renumbered 0, 1, ... by output item. Arguments that arrive
only whole (in `function_call_arguments.done` or the item's `done`) are sent
then; encrypted reasoning arrives on the reasoning item and is carried as the
thinking signature, so it can be handed back on the next turn.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError
from transforms.ir import (
    ResponseFinished, ResponseStarted, StreamEvent, StreamFailed, TextDelta, ThinkingDelta, ToolCallDelta,
    ToolCallStarted, Usage,
)
from transforms.openai_responses.decode_response import finish_reason
from transforms.openai_responses.reasoning_signature import pack
from transforms.openai_responses.usage import decode_usage
from transforms.sse import SSEEvent

_NOTHING: tuple = ()


class ResponsesStreamDecoder:
    __slots__ = ("_provider", "_calls", "_streamed", "_summary_index", "_refused", "_done")

    def __init__(self, *, provider: str = "openai") -> None:
        self._provider = provider
        self._calls: dict[str, int] = {}  # function_call item id -> ordinal
        self._streamed: set[str] = set()  # items whose arguments came as deltas
        self._summary_index: dict[str, int] = {}
        self._refused = False
        self._done = False

    def decode(self, event: SSEEvent) -> tuple[StreamEvent, ...] | list[StreamEvent]:
        data = orjson.loads(event.data)
        kind = data.get("type")
        if kind == "response.output_text.delta":
            return (TextDelta(data.get("delta") or ""),)
        if kind == "response.function_call_arguments.delta":
            ordinal = self._calls.get(data.get("item_id"))
            if ordinal is None or not data.get("delta"):
                return _NOTHING
            self._streamed.add(data["item_id"])
            return (ToolCallDelta(ordinal, data["delta"]),)
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return (ThinkingDelta(data.get("delta") or ""),)
        if kind == "response.reasoning_summary_part.added":
            item, index = data.get("item_id"), data.get("summary_index", 0)
            previous = self._summary_index.get(item)
            self._summary_index[item] = index
            return (ThinkingDelta("\n\n"),) if previous is not None and index != previous else _NOTHING
        if kind == "response.refusal.delta":
            self._refused = True
            return (TextDelta(data.get("delta") or ""),)
        if kind == "response.output_item.added":
            return self._item_added(data.get("item") or {})
        if kind in ("response.function_call_arguments.done", "response.output_item.done"):
            return self._item_done(data)
        if kind == "response.created":
            response = data.get("response") or {}
            return (ResponseStarted(response.get("id") or "", response.get("model") or "", Usage()),)
        if kind in ("response.completed", "response.incomplete"):
            self._done = True
            response = data.get("response") or {}
            reason = finish_reason(response, self._refused, bool(self._calls))
            return (ResponseFinished(reason, decode_usage(response.get("usage") or {})),)
        if kind in ("response.failed", "error"):
            self._done = True
            error = (data.get("response") or {}).get("error") or data.get("error") or data
            message = error.get("message") if isinstance(error, dict) else None
            return (StreamFailed(BridgeError("api_error", f"{self._provider} upstream: {message or 'the response failed'}")),)
        return _NOTHING

    def close(self) -> tuple[StreamEvent, ...]:
        if self._done:
            return _NOTHING
        self._done = True
        return (StreamFailed(BridgeError("api_error", f"{self._provider} upstream: the stream ended before the response was complete.")),)

    def _item_added(self, item: dict) -> tuple[StreamEvent, ...]:
        if item.get("type") != "function_call":
            return _NOTHING
        ordinal = len(self._calls)
        self._calls[item.get("id") or item.get("call_id") or str(ordinal)] = ordinal
        return (ToolCallStarted(ordinal, item.get("call_id") or "", item.get("name") or ""),)

    def _item_done(self, data: dict) -> tuple[StreamEvent, ...]:
        item = data.get("item")
        if item is None:  # function_call_arguments.done
            item_id, arguments = data.get("item_id"), data.get("arguments")
        elif item.get("type") == "reasoning":
            signature = pack(item.get("id"), item.get("encrypted_content"))
            return (ThinkingDelta(signature=signature),) if signature else _NOTHING
        elif item.get("type") == "function_call":
            item_id, arguments = item.get("id"), item.get("arguments")
        else:
            return _NOTHING
        ordinal = self._calls.get(item_id)
        if ordinal is None or item_id in self._streamed or not arguments:
            return _NOTHING
        self._streamed.add(item_id)  # whole arguments, sent once
        return (ToolCallDelta(ordinal, arguments),)
