"""Answers the bridge writes into a flow: its own JSON answers, a translated body in place of the
upstream's, and errors in the client protocol's envelope (a sentence a person can act on)."""

from __future__ import annotations

import logging

from mitmproxy import http

from addons.guards.header_values import header_fields
from transforms.codecs import ClientCodec
from transforms.errors import BridgeError, describe_failure
from transforms.ir import StreamFailed

log = logging.getLogger(__name__)

METADATA_KEY = "llm_bridge"  # flow.metadata[METADATA_KEY]: what recordings and replays keep of a call

# upstream header -> the name it is handed on under
_PASSED_HEADERS = {b"x-request-id": "x-request-id", b"request-id": "x-request-id", b"retry-after": "retry-after"}


def json_response(status: int, body: bytes, extra: dict[str, str] | None = None) -> http.Response:
    headers = {"content-type": "application/json", **(extra or {})}
    return http.Response.make(status, body, header_fields(headers))


def replace_answer(flow: http.HTTPFlow, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
    fields = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    fields += header_fields(extra)
    flow.response.status_code = status
    flow.response.reason = b""
    flow.response.headers = http.Headers(fields)
    flow.response.raw_content = body


def no_sdk_retry(error: BridgeError) -> dict[str, str]:
    """The bridge already tried every attempt: the official SDKs honour x-should-retry and stop."""
    return {"x-should-retry": "false"} if error.code == "RETRY_EXHAUSTED" else {}


def answer_error(flow: http.HTTPFlow, client: ClientCodec, error: BridgeError, extra: dict[str, str] | None = None) -> None:
    status, body = client.encode_error(error)
    put_error(flow, status, body, error, extra or {})
    log.info(f"llm-bridge: {status} {error.kind}: {error.message}")


def put_error(flow: http.HTTPFlow, status: int, body: bytes, error: BridgeError, extra: dict[str, str]) -> None:
    """An error envelope as the flow's answer (in place of the upstream's, if there was one), with the
    headers an SDK reads: retry-after, and x-should-retry when the bridge already spent the attempts."""
    extra = {**extra, **no_sdk_retry(error)}
    if error.retry_after:
        extra["retry-after"] = error.retry_after
    if flow.response is None:
        flow.response = json_response(status, body, extra)
    else:
        replace_answer(flow, status, body, "application/json", extra)


def passed_headers(upstream: http.Headers, provider: str, upstream_model: str) -> dict[str, str]:
    """The few upstream headers worth handing on, plus where the answer came from."""
    headers = {"x-llm-bridge-provider": provider, "x-llm-bridge-upstream-model": upstream_model}
    for name, value in upstream.fields:  # one pass over the raw fields
        passed = _PASSED_HEADERS.get(name.lower())
        if passed is not None:
            headers.setdefault(passed, value.decode("latin-1"))
    return headers


def kept_headers(headers: http.Headers) -> dict[str, str]:
    return {name: headers[name] for name in ("retry-after", "x-request-id", "request-id") if name in headers}


def stream_error_bytes(encoder, exc: Exception) -> bytes:
    """The client protocol's error event and a clean end, for a stream whose translation failed."""
    log.error(f"llm-bridge: stream translation failed: {exc!r}")
    error = BridgeError("api_error", f"llm-bridge failed while streaming: {describe_failure(exc)}.")
    return encoder.encode(StreamFailed(error)) + encoder.close()
