"""The "LLM Exchange" content view: the four bodies of one bridged call, in the order they passed.

A bridged flow holds two HTTP messages but four bodies: the Request tab's message is the request as
sent upstream, the Response tab's the answer as the client got it; the client's own request and the
upstream's own answer are in `flow.metadata["llm_bridge"]`. This view shows them side by side:

- Request tab: ① the client's request (method, path, protocol, its redacted headers, its transcript),
  then ② the upstream request (provider, protocol, model, its transcript);
- Response tab: ③ the upstream's answer (status, headers, for a stream its events and bytes, its
  transcript), then ④ the client's answer (status, transcript).

A part cut at the memory cap (the metadata's `truncated` list) says so under its heading. Offered for
bridged flows only, below "auto"'s choices (priority 1.5): pick it in the view menu.
"""

from __future__ import annotations

from mitmproxy import contentviews

from addons.views.chat_view import bridge_metadata, client_answer, message_kind
from addons.views.sse_view import chunks_of
from transforms.transcript import stream_events, transcript

PRIORITY = 1.5
# the metadata's `truncated` names -> the part they belong to
PART_NAMES = {
    1: ("client_request", "client_request.body", "client_request_body"),
    2: ("upstream_request", "upstream_request_body", "request", "request_body"),
    3: ("upstream_body", "upstream_chunks", "upstream_response"),
    4: ("client_body", "client_chunks", "client_response", "response", "response_body"),
}


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _headers(pairs: object) -> list[str]:
    if not isinstance(pairs, list) or not pairs:
        return ["headers: (none recorded)"]
    lines = ["headers:"]
    for pair in pairs:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            lines.append(f"  {_text(pair[0])}: {_text(pair[1])}")
    return lines


def _cut(meta: dict, part: int) -> list[str]:
    truncated = meta.get("truncated")
    if isinstance(truncated, str):
        truncated = [truncated]
    if not isinstance(truncated, (list, tuple)):
        return []
    names = [str(name) for name in truncated if str(name) in PART_NAMES[part]]
    return [f"(cut at the memory cap: {', '.join(names)} — the rest was not kept)"] if names else []


RULE = "─" * 72  # between the parts (mitmweb's page drops blank lines)


def _transcript(protocol: object, kind: str, body: bytes) -> str:
    if not isinstance(protocol, str) or not protocol:
        return "(protocol not recorded)"
    try:
        return transcript(protocol, kind, body)
    except ValueError as exc:  # a protocol the transcript does not know
        return f"({exc})"


def request_side(flow, meta: dict) -> str:
    client = meta.get("client_request") if isinstance(meta.get("client_request"), dict) else {}
    client_protocol = meta.get("client_protocol") or "?"
    lines = [f"① client request (as the client sent it): {client.get('method') or '?'} "
             f"{client.get('path') or '?'} · {client_protocol}"]
    lines += _cut(meta, 1)
    lines += _headers(client.get("headers"))
    body = client.get("body")
    lines += ["", _transcript(meta.get("client_protocol"), "request",
                              bytes(body) if isinstance(body, (bytes, bytearray)) else b"")]

    upstream_protocol = meta.get("upstream_protocol") or "?"
    lines += ["", RULE, f"② upstream request (as sent to {meta.get('provider') or '?'}, {upstream_protocol}, "
                      f"model {meta.get('upstream_model') or '?'})"]
    lines += _cut(meta, 2)
    request = flow.request
    lines.append(f"{request.method} {request.pretty_url}")
    attempts = meta.get("attempts")
    if isinstance(attempts, (list, tuple)) and attempts:
        lines.append("attempts:")
        lines += [f"  {_text(attempt)}" for attempt in attempts]
    elif isinstance(attempts, (str, bytes)) and attempts:  # the relay's summary, e.g. "3; 503, 429"
        lines.append(f"attempts: {_text(attempts)}")
    lines += ["", _transcript(meta.get("upstream_protocol"), "request", request.content or b"")]
    return "\n".join(lines)


def response_side(flow, data: bytes, meta: dict) -> str:
    status = meta.get("upstream_status")
    lines = [f"③ upstream response (as received: {status if status is not None else 'no answer recorded'})"]
    lines += _cut(meta, 3)
    lines += _headers(meta.get("upstream_headers"))
    chunks = chunks_of(meta.get("upstream_chunks"))
    if chunks is not None:
        body = b"".join(chunk for _, chunk in chunks)
        events = len(stream_events(body))
        lines.append(f"stream: {events} event{'' if events == 1 else 's'}, {len(body)} bytes in "
                     f"{len(chunks)} chunk{'' if len(chunks) == 1 else 's'} over "
                     f"{chunks[-1][0] - chunks[0][0]:.4f} s")
    else:
        raw = meta.get("upstream_body")
        body = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
    if chunks is not None or body:
        lines += ["", _transcript(meta.get("upstream_protocol"), "response", body)]
    else:
        lines += ["", "(no upstream body recorded)"]

    response = flow.response
    lines += ["", RULE, f"④ client response (as sent: {response.status_code if response is not None else '?'})"]
    lines += _cut(meta, 4)
    lines += ["", _transcript(meta.get("client_protocol"), "response", client_answer(data, meta))]
    return "\n".join(lines)


class LLMExchangeContentview(contentviews.Contentview):
    name = "LLM Exchange"
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        try:
            meta = bridge_metadata(metadata.flow)
            kind = message_kind(metadata)
            if meta is None or kind is None:
                return "(not a flow the bridge handled)"
            if kind == "request":
                return request_side(metadata.flow, meta)
            return response_side(metadata.flow, data, meta)
        except Exception as exc:  # noqa: BLE001 - mitmweb answers 500 when a view raises
            return f"(LLM Exchange could not show this flow: {type(exc).__name__}: {exc})"

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        try:
            return PRIORITY if bridge_metadata(metadata.flow) is not None and message_kind(metadata) else -1
        except Exception:  # noqa: BLE001
            return -1
