"""One call translated, client protocol to upstream protocol and back, as pure functions.

The proxy glue and the `.flow` regression tests both call these, so a
recording is checked against exactly the code that serves traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from transforms.codecs import CLIENT_CODECS, PASSTHROUGHS, UPSTREAM_CODECS, ClientCodec, UpstreamCodec, loads_object
from transforms.errors import BridgeError, invalid
from transforms.ir import ChatRequest, response_to_events
from transforms.json_array import JSONArrayFraming
from transforms.json_body import parse_json_object as parse_request_body
from transforms.json_body import too_deep
from transforms.passthrough import UsageReading, whole_usage
from transforms.stream import ByteStream, StreamTranslator
from transforms.upstream_options import UpstreamOptions


def client_body(client: ClientCodec, path: str, body: dict) -> dict:
    """The client's request as its protocol means it: Gemini clients put the model and the
    method in the URL, which join the body's fields here."""
    if client.url_fields is not None:
        fields = client.url_fields(path)
        if fields is not None:
            return {**body, **fields}
    return body


def is_passthrough(client: ClientCodec, upstream: UpstreamCodec) -> bool:
    return client.name == upstream.name


def upstream_body(
    client: ClientCodec, upstream: UpstreamCodec, request: ChatRequest, client_body: dict, *,
    upstream_model: str, options: UpstreamOptions = UpstreamOptions(),
) -> bytes:
    try:
        if is_passthrough(client, upstream):
            return PASSTHROUGHS[client.name].request_body(client_body, upstream_model=upstream_model)
        return orjson.dumps(upstream.encode_request(request, upstream_model=upstream_model, options=options))
    except RecursionError:
        raise too_deep(client_body) from None
    except orjson.JSONEncodeError as exc:
        if "ecursion" in str(exc):
            raise too_deep(client_body) from None
        raise invalid("The request holds a number the bridge cannot pass on: integers must fit in 64 bits.") from None


def stream_translator(
    client: ClientCodec, upstream: UpstreamCodec, request: ChatRequest, client_body: dict, *,
    created: int, provider: str, json_array: bool = False,
) -> ByteStream:
    """`json_array`: the upstream streams a JSON array rather than SSE (Gemini without alt=sse).
    An upstream whose streams are framed otherwise (Bedrock) says so in its codec."""
    if is_passthrough(client, upstream) and not json_array:
        passthrough = PASSTHROUGHS[client.name]
        stream = passthrough.stream(client_body)
        # the usage is read on the way (the exchange log, the metrics, the usage ledger)
        return UsageReading(stream, passthrough.usage_of) if passthrough.usage_of is not None else stream
    if json_array:
        framing = JSONArrayFraming()
    else:
        framing = upstream.stream_framing() if upstream.stream_framing is not None else None
    return StreamTranslator(upstream.stream_decoder(provider=provider), client.stream_encoder(request, created=created), framing)


def translate_answer(
    client: ClientCodec, upstream: UpstreamCodec, request: ChatRequest, *,
    status: int, body: bytes, created: int, provider: str, retry_after: str | None = None,
    seen: dict | None = None,
) -> tuple[int, str, bytes]:
    """A whole upstream answer (success or error) -> (status, content type, client body). `seen`, when
    given, gets the answer's `usage` (ir.Usage) and `finish_reason` when it was decoded."""
    if status >= 400:
        error = upstream.decode_error(status, body, provider=provider, retry_after=retry_after)
        error_status, error_body = client.encode_error(error)
        return error_status, "application/json", error_body
    if is_passthrough(client, upstream) and not request.stream:
        usage = whole_usage(PASSTHROUGHS[client.name].usage_of, body) if seen is not None else None
        if usage is not None:
            seen["usage"] = usage
        return status, "application/json", body
    try:
        if upstream.decode_body is not None:  # a whole answer that is not one JSON object (Trae's SSE)
            answer = upstream.decode_body(body, provider=provider)
        else:
            answer = upstream.decode_response(loads_object(body))
    except (ValueError, KeyError, TypeError):
        raise BridgeError(
            "api_error",
            f"Provider '{provider}' answered {status} with a body that is not a {upstream.name} response.",
            status=502,
        ) from None
    if seen is not None:
        seen["usage"], seen["finish_reason"] = answer.usage, answer.finish_reason
    if request.stream:
        # the upstream answered a streaming request with one JSON body: stream it anyway
        encoder = client.stream_encoder(request, created=created)
        events = b"".join(encoder.encode(e) for e in response_to_events(answer)) + encoder.close()
        return 200, client.stream_content_type(request), events
    return 200, "application/json", orjson.dumps(client.encode_response(answer, request, created=created))


@dataclass(frozen=True, slots=True)
class Translation:
    """How one upstream answer becomes the client's: everything the answer's translation needs, fixed
    when the request was translated (a stream translator is made per answer, never shared)."""

    client: ClientCodec
    upstream: UpstreamCodec
    request: ChatRequest
    client_body: dict
    created: int
    provider: str

    @property
    def passthrough(self) -> bool:
        return is_passthrough(self.client, self.upstream)

    def stream(self, *, json_array: bool = False) -> ByteStream:
        return stream_translator(self.client, self.upstream, self.request, self.client_body,
                                 created=self.created, provider=self.provider, json_array=json_array)

    def answer(self, status: int, body: bytes, retry_after: str | None = None,
               seen: dict | None = None) -> tuple[int, str, bytes]:
        return translate_answer(self.client, self.upstream, self.request, status=status, body=body,
                                created=self.created, provider=self.provider, retry_after=retry_after, seen=seen)

    def streams(self, content_type: str) -> str | None:
        """The framing of a successful answer that is translated as it arrives ("sse", "json-array"), else None."""
        if not self.request.stream:
            return None
        if content_type.startswith("text/event-stream") or (
                self.upstream.stream_framing is not None and content_type.startswith("application/vnd.amazon.eventstream")):
            return "sse"  # SSE, or the upstream's own stream framing (Bedrock's AWS event stream)
        if self.upstream.streams_json_array and content_type.startswith("application/json"):
            return "json-array"  # Gemini without alt=sse
        return None


__all__ = ["Translation", "client_body", "CLIENT_CODECS", "UPSTREAM_CODECS", "parse_request_body", "stream_translator", "translate_answer", "upstream_body"]
