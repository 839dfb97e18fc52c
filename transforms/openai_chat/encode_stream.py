"""Neutral stream events -> OpenAI `chat.completion.chunk` SSE bytes.

Everything constant for the response (id, created, model) is serialised once,
when the response starts; each event then costs one small orjson.dumps.
"""

from __future__ import annotations

import orjson

from transforms.ir import (
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStarted,
)
from transforms.openai_chat.errors import encode_error_chunk
from transforms.openai_chat.finish_reason import openai_finish_reason
from transforms.openai_chat.usage import openai_usage

DONE = b"data: [DONE]\n\n"
_OPEN_DELTA = b',"choices":[{"index":0,"delta":'
_CLOSE_DELTA = b',"logprobs":null,"finish_reason":null}]}\n\n'


class ChatCompletionChunkEncoder:
    __slots__ = ("_model", "_created", "_include_usage", "_head", "_finished", "_failed")

    def __init__(self, *, model: str, created: int, include_usage: bool) -> None:
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._head = b""  # 'data: {"id":...,"model":...' once the response id is known
        self._finished = False
        self._failed = False

    def encode(self, event: StreamEvent) -> bytes:
        cls = type(event)
        if cls is TextDelta:
            return self._delta(b'{"content":' + orjson.dumps(event.text) + b"}")
        if cls is ToolCallDelta:
            return self._delta(
                b'{"tool_calls":[{"index":%d,"function":{"arguments":%b}}]}'
                % (event.index, orjson.dumps(event.arguments))
            )
        if cls is ThinkingDelta:
            if not event.text:
                return b""  # signatures and redacted reasoning have no place in OpenAI Chat
            return self._delta(b'{"reasoning_content":' + orjson.dumps(event.text) + b"}")
        if cls is ToolCallStarted:
            call = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            return self._delta(b'{"tool_calls":[' + orjson.dumps(call) + b"]}")
        if cls is ResponseStarted:
            return self._start(event.id)
        if cls is ResponseFinished:
            return self._finish(event)
        if cls is StreamFailed:
            self._failed = True
            return encode_error_chunk(event.error)
        raise TypeError(f"unknown stream event {event!r}")

    def close(self) -> bytes:
        """End of stream. A failed stream ends after its error chunk, without [DONE]."""
        return b"" if self._failed else DONE

    def _start(self, response_id: str) -> bytes:
        self._head = (
            b'data: {"id":'
            + orjson.dumps(response_id)
            + b',"object":"chat.completion.chunk","created":%d,"model":' % self._created
            + orjson.dumps(self._model)
        )
        return self._delta(b'{"role":"assistant","content":""}')

    def _delta(self, delta: bytes) -> bytes:
        return self._head + _OPEN_DELTA + delta + _CLOSE_DELTA

    def _finish(self, event: ResponseFinished) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        reason = orjson.dumps(openai_finish_reason(event.finish_reason))
        out = self._head + _OPEN_DELTA + b'{},"logprobs":null,"finish_reason":' + reason + b"}]}\n\n"
        if self._include_usage:
            # as OpenAI sends it: a last chunk with no choices, only usage
            out += self._head + b',"choices":[],"usage":' + orjson.dumps(openai_usage(event.usage)) + b"}\n\n"
        return out
