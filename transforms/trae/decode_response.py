"""A whole Trae answer -> neutral `ChatResponse`.

Trae always streams, so a non-streaming client's answer is the SSE body folded
into one response. A JSON body instead of SSE is an error, which Trae sends
sometimes with HTTP 200.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError
from transforms.ir import ChatResponse, events_to_response
from transforms.sse import SSEDecoder
from transforms.trae.decode_stream import TraeStreamDecoder
from transforms.trae.errors import error_from_payload


def decode_trae_body(body: bytes, *, provider: str = "trae") -> ChatResponse:
    """Raises the answer's `BridgeError` when Trae reported one."""
    if body.lstrip()[:1] in (b"{", b"["):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        raise _json_error(data, body, provider)
    sse = SSEDecoder()
    decoder = TraeStreamDecoder(provider=provider)
    events = []
    for sse_event in (*sse.feed(body), *sse.close()):
        events.extend(decoder.decode(sse_event))
    events.extend(decoder.close())
    return events_to_response(events)


def decode_trae_object(body: dict, *, provider: str = "trae") -> ChatResponse:
    """A Trae answer parsed as one JSON object is never a response: always its error."""
    raise _json_error(body, orjson.dumps(body), provider)


def _json_error(data: object, body: bytes, provider: str) -> BridgeError:
    return error_from_payload(data, status=200, provider=provider) or BridgeError(
        "api_error",
        f"{provider} upstream: Trae answered JSON, not an SSE stream: {body[:200].decode('utf-8', 'replace')}",
        status=502,
    )
