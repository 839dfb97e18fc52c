"""Is Trae holding this request in its queue? Decided from the answer's first event.

When Trae is busy it answers with a `request_wait_in_queue` event and ends the
stream; the request must be sent again. The proxy feeds a `QueueProbe` the first
upstream bytes (split anywhere) before any reaches the client: `Queued` means
retry, `Ready` means forward `probe.buffered` and then stream as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from transforms.sse import SSEDecoder

QUEUE_EVENT = "request_wait_in_queue"
MAX_PROBE_BYTES = 64 * 1024  # no first event by then: not a queue answer, stop holding bytes back


@dataclass(frozen=True, slots=True)
class Queued:
    position: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Ready:
    pass


class QueueProbe:
    __slots__ = ("_sse", "_answer", "buffered")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._answer: Queued | Ready | None = None
        self.buffered = b""  # the bytes fed until the answer, to forward once Ready

    def feed(self, chunk: bytes) -> Queued | Ready | None:
        """None: not known yet, feed more. Once answered, the answer stays and bytes are no longer kept."""
        if self._answer is not None:
            return self._answer
        self.buffered += chunk
        if self.buffered.lstrip()[:1] in (b"{", b"["):  # a JSON (error) body, not SSE
            return self._decide(Ready())
        events = self._sse.feed(chunk)
        if events:
            return self._decide(_classify(events[0].event, events[0].data))
        if len(self.buffered) > MAX_PROBE_BYTES:
            return self._decide(Ready())
        return None

    def close(self) -> Queued | Ready:
        """The upstream body ended: decide from what came (an unterminated last event counts)."""
        if self._answer is not None:
            return self._answer
        events = self._sse.close()
        return self._decide(_classify(events[0].event, events[0].data) if events else Ready())

    @property
    def answer(self) -> Queued | Ready | None:
        return self._answer

    def _decide(self, answer: Queued | Ready) -> Queued | Ready:
        self._answer = answer
        return answer


def _classify(name: str | None, data: bytes) -> Queued | Ready:
    if name != QUEUE_EVENT:
        return Ready()
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        payload = None
    payload = payload if isinstance(payload, dict) else {}
    position = payload.get("position")
    if isinstance(position, str) and position.isdigit():
        position = int(position)
    message = payload.get("message")
    return Queued(
        position if isinstance(position, int) and not isinstance(position, bool) else None,
        message if isinstance(message, str) else "",
    )
