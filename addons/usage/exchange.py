"""The facts of one finished exchange, for the metrics and the ledger.

They come from where the exchange log line (addons/recording/exchange_log.py) takes them: the flow's
`llm_bridge` metadata (client protocol, provider, upstream model, usage, attempts, key id: written by
addons/model_calls.py and addons/bridge_addon.py) and the flow's own timestamps. Never a prompt, an
answer, a token or a key: the client's token and the upstream key are ids (addons.upstream.relay.key_id).
"""

from __future__ import annotations

from dataclasses import dataclass

from mitmproxy import http


@dataclass(frozen=True, slots=True)
class Exchange:
    time: float  # unix seconds: when the client's request arrived
    client_token_id: str | None  # the bridge token's id (first 12 hex of its SHA-256), None without one
    client_protocol: str
    provider: str
    upstream_model: str
    key_id: str | None  # the upstream key's id, likewise
    status: int | None  # the client's status; None when the exchange ended without an answer
    failed: bool  # the exchange broke off (the client left, the connection failed), answered or not
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    first_byte_s: float | None  # the answer's first byte, after the request arrived
    duration_s: float | None
    attempts: int

    @property
    def error(self) -> bool:
        return self.failed or self.status is None or self.status >= 400


def first_byte_s(flow: http.HTTPFlow) -> float | None:
    start, response = flow.request.timestamp_start, flow.response
    if response is None or not (start and response.timestamp_start):
        return None
    return max(0.0, response.timestamp_start - start)


def duration_s(flow: http.HTTPFlow) -> float | None:
    start, response = flow.request.timestamp_start, flow.response
    if response is None or not (start and response.timestamp_end):
        return None
    return max(0.0, response.timestamp_end - start)


def attempts_made(meta: dict) -> int:
    """`"3; 503, 429"` -> 3; none noted: one attempt."""
    attempts = meta.get("attempts")
    try:
        return max(1, int(str(attempts).split(";", 1)[0])) if attempts else 1
    except ValueError:
        return 1


def _tokens(usage, name: str) -> int | None:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def finished_exchange(meta: dict | None, flow: http.HTTPFlow, *, client_protocol: str | None = None,
                      client_token_id: str | None = None) -> Exchange:
    """`meta`: the flow's llm_bridge metadata (None: refused before it was routed; `client_protocol` then
    comes from the path)."""
    meta = meta if isinstance(meta, dict) else {}
    usage = meta.get("usage")
    response = flow.response
    return Exchange(
        time=flow.request.timestamp_start or 0.0,
        client_token_id=client_token_id,
        client_protocol=str(meta.get("client_protocol") or client_protocol or ""),
        provider=str(meta.get("provider") or ""),
        upstream_model=str(meta.get("upstream_model") or ""),
        key_id=meta.get("key_id") if isinstance(meta.get("key_id"), str) else None,
        status=response.status_code if response is not None else None,
        failed=flow.error is not None,
        input_tokens=_tokens(usage, "input"),
        output_tokens=_tokens(usage, "output"),
        cache_read_tokens=_tokens(usage, "cached"),
        cache_write_tokens=_tokens(usage, "cache_write"),
        first_byte_s=first_byte_s(flow),
        duration_s=duration_s(flow),
        attempts=attempts_made(meta),
    )
