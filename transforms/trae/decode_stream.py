"""Trae chat SSE -> neutral stream events (the upstream side).

Trae's events: `metadata` (the answer's id), `output` (text in `response`,
reasoning in `reasoning_content`), `done` (the finish reason), `error`, and
`request_wait_in_queue` while the request waits for capacity (the proxy retries
queued requests before the client sees a byte; see queue.py). Trae reports no
token usage on this channel, so usage is zero unless a payload carries some.
Unknown events and data that is not JSON are skipped, as Trae's own clients do.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError
from transforms.ir import (
    FinishReason,
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    StreamFailed,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from transforms.sse import SSEEvent
from transforms.trae.errors import error_from_payload

_NOTHING: tuple = ()


class TraeStreamDecoder:
    __slots__ = ("_provider", "_started", "_answered", "_finish", "_usage", "_queue_position", "_done")

    def __init__(self, *, provider: str = "trae") -> None:
        self._provider = provider
        self._started = False
        self._answered = False  # any text or reasoning seen
        self._finish: str | None = None  # an `output` event's finish_reason, for a `done` without one
        self._usage = Usage()
        self._queue_position: object = None  # set when Trae said the request waits in its queue
        self._done = False

    def decode(self, event: SSEEvent) -> tuple[StreamEvent, ...] | list[StreamEvent]:
        if self._done:
            return _NOTHING
        data = event.data
        if data == b"[DONE]":
            return self._complete(None)
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return _NOTHING
        if not isinstance(payload, dict):
            return _NOTHING
        name = event.event
        if isinstance(payload.get("usage"), dict):
            self._usage = _usage(payload["usage"]) or self._usage
        if name == "output":
            return self._output(payload)
        if name == "metadata":
            return self._start(payload.get("prompt_completion_id"))
        if name == "done":
            return self._complete(payload.get("finish_reason"))
        if name == "error":
            self._done = True
            error = error_from_payload(payload, status=200, provider=self._provider) or BridgeError(
                "api_error",
                f"{self._provider} upstream: Trae reported an error: {data[:200].decode('utf-8', 'replace')}",
                status=502,
            )
            return (StreamFailed(error),)
        if name == "request_wait_in_queue":
            self._queue_position = payload.get("position")
        elif name == "notify_usage":
            self._usage = _usage(payload) or self._usage
        return _NOTHING

    def close(self) -> tuple[StreamEvent, ...]:
        if self._done:
            return _NOTHING
        if self._answered:  # Trae's stream ended without `done`: keep what came
            return self._complete(None)
        self._done = True
        queued = (
            f" (it was waiting in Trae's queue at position {self._queue_position})"
            if self._queue_position is not None else ""
        )
        message = f"{self._provider} upstream: Trae ended the stream without an answer{queued}"
        return (StreamFailed(BridgeError("api_error", message, status=502)),)

    def _start(self, completion_id: object) -> tuple[StreamEvent, ...]:
        if self._started:
            return _NOTHING
        self._started = True
        return (ResponseStarted(str(completion_id) if completion_id else "", "", Usage()),)

    def _output(self, payload: dict) -> list[StreamEvent]:
        events: list[StreamEvent] = list(self._start(None))
        reasoning = payload.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            self._answered = True
            events.append(ThinkingDelta(reasoning))
        text = payload.get("response")
        if isinstance(text, str) and text:
            self._answered = True
            events.append(TextDelta(text))
        if isinstance(payload.get("finish_reason"), str) and payload["finish_reason"]:
            self._finish = payload["finish_reason"]
        return events

    def _complete(self, finish_reason: object) -> tuple[StreamEvent, ...]:
        if self._done:
            return _NOTHING
        self._done = True
        reason = finish_reason if isinstance(finish_reason, str) and finish_reason else self._finish
        return (*self._start(None), ResponseFinished(_finish_reason(reason), self._usage))


def _finish_reason(reason: str | None) -> FinishReason:
    # Trae names only "length" specially; any other reason (or none) is a natural end
    return "length" if reason == "length" else "stop"


def _usage(data: dict) -> Usage | None:
    """Token counts in OpenAI's or Anthropic's names, should Trae send any."""
    prompt = data.get("prompt_tokens", data.get("input_tokens"))
    completion = data.get("completion_tokens", data.get("output_tokens"))
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    return Usage(
        input_tokens=prompt if isinstance(prompt, int) else 0,
        output_tokens=completion if isinstance(completion, int) else 0,
    )
