"""Neutral stream events -> Anthropic Messages SSE, in the exact grammar the
official SDKs and Claude Code accept:

    message_start (input usage) · ping ·
    per block: content_block_start · *_delta ... · content_block_stop ·
    message_delta (stop_reason, stop_sequence, usage) · message_stop

One block is open at a time; a change of kind (thinking, text, a tool call)
closes the open block first, so text and tool input never share a block.
"""

from __future__ import annotations

import orjson

from transforms.anthropic.encode_response import anthropic_usage, message_id
from transforms.anthropic.errors import encode_error_event
from transforms.anthropic.stop_reason import stop_reason
from transforms.ir import (
    ChatRequest,
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStarted,
)
from transforms.token_estimate import estimate_input_tokens

_TEXT, _THINKING, _TOOL = "text", "thinking", "tool"
PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def _event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


class AnthropicStreamEncoder:
    __slots__ = ("_request", "_input_tokens", "_index", "_open", "_tool_blocks", "_started", "_finished", "_failed")

    def __init__(self, request: ChatRequest, *, created: int = 0) -> None:
        self._request = request
        self._input_tokens: int | None = None
        self._index = -1  # index of the last block opened
        self._open: str | None = None  # kind of the open block
        self._tool_blocks: dict[int, int] = {}  # neutral tool ordinal -> block index
        self._started = False
        self._finished = False
        self._failed = False

    def encode(self, event: StreamEvent) -> bytes:
        cls = type(event)
        if cls is TextDelta:
            if not event.text:
                return b""
            out = self._switch(_TEXT, b'{"type":"text","text":""}')
            return out + self._delta(b'{"type":"text_delta","text":' + orjson.dumps(event.text) + b"}")
        if cls is ToolCallDelta:
            block = self._tool_blocks.get(event.index)
            if block is None or not event.arguments:
                return b""
            data = b'{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%b}}' % (
                block, orjson.dumps(event.arguments))
            return _event(b"content_block_delta", data)
        if cls is ThinkingDelta:
            return self._thinking(event)
        if cls is ToolCallStarted:
            start = orjson.dumps({"type": "tool_use", "id": event.id, "name": event.name, "input": {}})
            out = self._switch(_TOOL, start, force_new=True)
            self._tool_blocks[event.index] = self._index
            return out
        if cls is ResponseStarted:
            return self._start(event)
        if cls is ResponseFinished:
            return self._finish(event)
        if cls is StreamFailed:
            self._failed = True
            return encode_error_event(event.error)
        raise TypeError(f"unknown stream event {event!r}")

    def close(self) -> bytes:
        return b""

    # --- blocks -------------------------------------------------------------

    def _switch(self, kind: str, start_block: bytes, force_new: bool = False) -> bytes:
        if self._open == kind and not force_new:
            return b""
        out = self._close_block()
        self._index += 1
        self._open = kind
        return out + _event(
            b"content_block_start",
            b'{"type":"content_block_start","index":%d,"content_block":%b}' % (self._index, start_block),
        )

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event(b"content_block_stop", b'{"type":"content_block_stop","index":%d}' % self._index)

    def _delta(self, delta: bytes) -> bytes:
        return _event(b"content_block_delta", b'{"type":"content_block_delta","index":%d,"delta":%b}' % (self._index, delta))

    def _thinking(self, event: ThinkingDelta) -> bytes:
        if event.redacted is not None:
            out = self._switch("redacted", orjson.dumps({"type": "redacted_thinking", "data": event.redacted}), force_new=True)
            return out + self._close_block()
        out = b""
        if event.text:
            out += self._switch(_THINKING, b'{"type":"thinking","thinking":"","signature":""}')
            out += self._delta(b'{"type":"thinking_delta","thinking":' + orjson.dumps(event.text) + b"}")
        if event.signature:
            out += self._switch(_THINKING, b'{"type":"thinking","thinking":"","signature":""}')
            out += self._delta(b'{"type":"signature_delta","signature":' + orjson.dumps(event.signature) + b"}")
        return out

    # --- message ------------------------------------------------------------

    def _start(self, event: ResponseStarted) -> bytes:
        if self._started:
            return b""
        self._started = True
        usage = anthropic_usage(event.usage)
        if not usage["input_tokens"] and not usage["cache_read_input_tokens"]:
            # OpenAI-compatible upstreams report usage only at the end; clients size their
            # context from message_start, so they get the local estimate until then
            self._input_tokens = estimate_input_tokens(self._request)
            usage["input_tokens"] = self._input_tokens
        usage["output_tokens"] = max(usage["output_tokens"], 1)
        message = {
            "id": message_id(event.id), "type": "message", "role": "assistant", "model": self._request.model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage,
        }
        return _event(b"message_start", b'{"type":"message_start","message":' + orjson.dumps(message) + b"}") + PING

    def _finish(self, event: ResponseFinished) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        usage = anthropic_usage(event.usage)
        if not usage["input_tokens"] and not usage["cache_read_input_tokens"] and self._input_tokens is not None:
            usage["input_tokens"] = self._input_tokens
        delta = {"stop_reason": stop_reason(event.finish_reason), "stop_sequence": event.stop_sequence}
        message_delta = {"type": "message_delta", "delta": delta, "usage": usage}
        if "context_management" in self._request.client_options:  # the edits the bridge applied (context_edits.py)
            message_delta["context_management"] = self._request.client_options["context_management"]
        return (
            self._close_block()
            + _event(b"message_delta", orjson.dumps(message_delta))
            + _event(b"message_stop", b'{"type":"message_stop"}')
        )
