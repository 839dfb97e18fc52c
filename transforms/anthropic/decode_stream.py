"""Anthropic Messages SSE events -> neutral stream events.

One instance per response. Content blocks are numbered by Anthropic across all
block types; client-visible tool calls are renumbered 0, 1, ... so a client
protocol can index them. Server-side tool blocks are skipped whole.
"""

from __future__ import annotations

import orjson

from transforms.anthropic.decode_response import decode_usage
from transforms.anthropic.errors import decode_error_event
from transforms.anthropic.stop_reason import finish_reason
from transforms.errors import BridgeError
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
from transforms.sse import SSEEvent

_TEXT, _THINKING, _TOOL, _SKIPPED = range(4)
_NOTHING: tuple = ()


class AnthropicStreamDecoder:
    __slots__ = ("_provider", "_blocks", "_tool_count", "_usage", "_finished", "_done")

    def __init__(self, *, provider: str = "anthropic") -> None:
        self._provider = provider
        self._blocks: dict[int, tuple[int, int]] = {}  # block index -> (kind, tool ordinal)
        self._tool_count = 0
        self._usage = Usage()
        self._finished = False
        self._done = False

    def decode(self, event: SSEEvent) -> tuple[StreamEvent, ...] | list[StreamEvent]:
        data = orjson.loads(event.data)
        kind = data.get("type")
        if kind == "content_block_delta":  # by far the most frequent: checked first
            delta = data["delta"]
            block = self._blocks.get(data["index"])
            if block is None:
                return _NOTHING
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                return (TextDelta(delta["text"]),) if block[0] == _TEXT else _NOTHING
            if delta_type == "input_json_delta":
                fragment = delta.get("partial_json", "")
                if block[0] != _TOOL or not fragment:
                    return _NOTHING
                return (ToolCallDelta(block[1], fragment),)
            if delta_type == "thinking_delta":
                return (ThinkingDelta(delta.get("thinking", "")),)
            if delta_type == "signature_delta":
                return (ThinkingDelta(signature=delta.get("signature")),)
            return _NOTHING  # citations_delta and future delta types carry nothing for clients
        if kind == "content_block_start":
            return self._block_start(data["index"], data["content_block"])
        if kind == "message_start":
            message = data["message"]
            decode_usage(message.get("usage") or {}, self._usage)
            return (ResponseStarted(message.get("id", ""), message.get("model", ""), self._usage),)
        if kind == "message_delta":
            decode_usage(data.get("usage") or {}, self._usage)
            delta = data.get("delta") or {}
            self._finished = True
            return (
                ResponseFinished(
                    finish_reason(delta.get("stop_reason")), self._usage, delta.get("stop_sequence")
                ),
            )
        if kind == "message_stop":
            self._done = True
            return _NOTHING
        if kind == "error":
            self._done = True
            return (StreamFailed(decode_error_event(data, provider=self._provider)),)
        return _NOTHING  # ping, content_block_stop, and event types added later

    def close(self) -> tuple[StreamEvent, ...]:
        """End of the upstream body: a stream cut before the model finished is an error."""
        if self._finished or self._done:
            return _NOTHING
        return (
            StreamFailed(
                BridgeError("api_error", f"{self._provider} upstream: the stream ended before the response was complete.")
            ),
        )

    def _block_start(self, index: int, block: dict) -> tuple[StreamEvent, ...]:
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = (_TEXT, -1)
            text = block.get("text")
            return (TextDelta(text),) if text else _NOTHING
        if kind == "thinking":
            self._blocks[index] = (_THINKING, -1)
            return (ThinkingDelta(block["thinking"]),) if block.get("thinking") else _NOTHING
        if kind == "redacted_thinking":
            self._blocks[index] = (_THINKING, -1)
            return (ThinkingDelta(redacted=block.get("data")),)
        if kind == "tool_use":
            ordinal = self._tool_count
            self._tool_count += 1
            self._blocks[index] = (_TOOL, ordinal)
            started = ToolCallStarted(ordinal, block["id"], block["name"])
            if block.get("input"):  # some upstreams send the whole input in the start block
                return (started, ToolCallDelta(ordinal, orjson.dumps(block["input"]).decode()))
            return (started,)
        self._blocks[index] = (_SKIPPED, -1)
        return _NOTHING
