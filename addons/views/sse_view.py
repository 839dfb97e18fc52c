"""The "SSE" content view: a `text/event-stream` body, one block per event.

Each block is a header line (as a YAML comment: the event's number, its `event:` name, and when known
its arrival time after the stream's first byte) and the event's data, pretty-printed when it is JSON.
The times come from the bridge's metadata: `client_chunks` for the client's answer, `upstream_chunks`
for the upstream's (a passthrough hands the upstream's bytes on unchanged, so they match the Response
tab too). An event's time is that of the chunk in which its last byte arrived.
"""

from __future__ import annotations

import json

from mitmproxy import contentviews

from addons.views.chat_view import bridge_metadata, client_answer, message_kind
from transforms.sse import SSEDecoder

PRIORITY = 2
CONTENT_TYPE = "text/event-stream"

Chunks = list[tuple[float, bytes]]


def chunks_of(raw: object) -> Chunks | None:
    """`[[t, bytes], ...]` from the metadata, or None when it is not that."""
    if not isinstance(raw, list) or not raw:
        return None
    try:
        return [(float(t), bytes(chunk)) for t, chunk in raw]
    except (TypeError, ValueError):
        return None


def matching_chunks(data: bytes, *candidates: object) -> Chunks | None:
    """The first chunk list whose bytes are `data` (or a part of it cut short at either end's cap)."""
    for raw in candidates:
        chunks = chunks_of(raw)
        if chunks is None:
            continue
        joined = b"".join(chunk for _, chunk in chunks)
        if joined and (data.startswith(joined) or joined.startswith(data)):
            return chunks
    return None


def timed_events(data: bytes, chunks: Chunks | None) -> list[tuple[str | None, bytes, float | None]]:
    """(event name, data, seconds after the first byte or None) for each event of `data`."""
    decoder = SSEDecoder()
    events: list[tuple[str | None, bytes, float | None]] = []
    offset = 0
    last_time = None
    if chunks:
        start = chunks[0][0]
        for t, chunk in chunks:
            if offset >= len(data):
                break
            piece = data[offset: offset + len(chunk)]
            offset += len(piece)
            last_time = t - start
            events.extend((e.event, e.data, last_time) for e in decoder.feed(piece))
    if offset < len(data):
        last_time = None  # bytes the chunks do not cover: their times are unknown
        events.extend((e.event, e.data, None) for e in decoder.feed(data[offset:]))
    events.extend((e.event, e.data, last_time) for e in decoder.close())
    return events


def render_events(data: bytes, chunks: Chunks | None = None) -> str:
    events = timed_events(data, chunks)
    if not events:
        text = data[:2000].decode("utf-8", "replace")
        return f"# no SSE event in these {len(data)} bytes\n{text}" if data.strip() else "# an empty body"
    summary = f"# SSE: {len(events)} event{'' if len(events) == 1 else 's'}, {len(data)} bytes"
    times = [t for _, _, t in events if t is not None]
    if times:
        summary += f", over {max(times):.4f} s"
    blocks = [summary]
    for number, (name, payload, time) in enumerate(events, 1):
        head = f"# {number}"
        if name:
            head += f" · event: {name}"
        if time is not None:
            head += f" · +{time:.4f} s"
        blocks.append(f"{head}\n{_pretty(payload)}")
    return "\n\n".join(blocks)


def _pretty(payload: bytes) -> str:
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return payload.decode("utf-8", "replace")


class SSEContentview(contentviews.Contentview):
    name = "SSE"
    syntax_highlight = "yaml"

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        try:
            meta = bridge_metadata(metadata.flow)
            chunks = None
            if meta is not None and message_kind(metadata) == "response":
                data = client_answer(data, meta)
                chunks = matching_chunks(data, meta.get("client_chunks"), meta.get("upstream_chunks"))
            return render_events(data, chunks)
        except Exception as exc:  # noqa: BLE001 - mitmweb answers 500 when a view raises
            return f"# SSE could not show this body: {type(exc).__name__}: {exc}"

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        return PRIORITY if (metadata.content_type or "").lower() == CONTENT_TYPE else -1
