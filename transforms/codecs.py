"""The protocol registry: one client codec and one upstream codec per protocol,
and a passthrough for each protocol that is both.

The proxy glue looks codecs up by protocol name and never needs to know a
pair: any client codec composes with any upstream codec through the neutral
representation. Same protocol on both sides is a passthrough instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import orjson

from transforms.anthropic import endpoint as anthropic_endpoint
from transforms.anthropic import passthrough as anthropic_passthrough
from transforms.anthropic.check_request import check_request as check_messages_request
from transforms.anthropic.decode_request import decode_messages_request
from transforms.anthropic.decode_response import decode_messages_response
from transforms.anthropic.decode_stream import AnthropicStreamDecoder
from transforms.anthropic.encode_request import encode_messages_request
from transforms.anthropic.encode_response import encode_message
from transforms.anthropic.encode_stream import AnthropicStreamEncoder
from transforms.anthropic.errors import decode_error as decode_anthropic_error
from transforms.anthropic.errors import encode_error as encode_anthropic_error
from transforms.azure_openai import endpoint as azure_endpoint
from transforms.azure_openai.encode_request import encode_azure_chat_request
from transforms.bedrock import endpoint as bedrock_endpoint
from transforms.bedrock.encode_request import encode_invoke_request
from transforms.bedrock.errors import decode_error as decode_bedrock_error
from transforms.bedrock.event_stream import EventStreamFraming
from transforms.errors import BridgeError
from transforms.model_ids import anthropic_model_ids, gemini_model_ids, openai_model_ids
from transforms.trae.model_list import model_names as trae_model_names
from transforms.ir import ChatRequest, ChatResponse
from transforms.openai_chat import endpoint as openai_chat_endpoint
from transforms.openai_chat import passthrough as openai_chat_passthrough
from transforms.openai_chat.check_request import check_request as check_chat_request
from transforms.openai_chat.decode_error import decode_error as decode_openai_chat_error
from transforms.openai_chat.decode_request import decode_chat_request
from transforms.openai_chat.decode_response import decode_chat_completion
from transforms.openai_chat.decode_stream import OpenAIChatStreamDecoder
from transforms.openai_chat.encode_request import encode_chat_request
from transforms.openai_chat.encode_response import encode_chat_completion
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.openai_chat.errors import encode_error as encode_openai_chat_error
from transforms.openai_responses import endpoint as responses_endpoint
from transforms.openai_responses.check_request import check_request as check_responses_request
from transforms.openai_responses.item_references import referenced_ids, resolve_item_references
from transforms.openai_responses.item_references import unresolved as unresolved_item_references
from transforms.openai_responses.item_references import output_items as responses_output_items
from transforms.openai_responses.compaction import read_compaction as read_responses_compaction
from transforms.openai_responses.compaction import unreadable as unreadable_compactions
from transforms.openai_responses.decode_request import decode_responses_request
from transforms.openai_responses.decode_response import decode_responses_response
from transforms.openai_responses.decode_stream import ResponsesStreamDecoder
from transforms.openai_responses.usage import usage_of as responses_usage_of
from transforms.passthrough import UsageOf
from transforms.openai_responses.encode_request import encode_responses_request
from transforms.openai_responses.encode_response import encode_response as encode_responses_response
from transforms.openai_responses.encode_stream import ResponsesStreamEncoder
from transforms.gemini import endpoint as gemini_endpoint
from transforms.gemini import passthrough as gemini_passthrough
from transforms.gemini.check_request import check_request as check_gemini_request
from transforms.gemini.decode_request import decode_gemini_request
from transforms.gemini.decode_response import decode_gemini_response
from transforms.gemini.encode_response import encode_error as encode_gemini_error
from transforms.gemini.encode_response import encode_gemini_response
from transforms.gemini.encode_stream import GeminiStreamEncoder
from transforms.gemini.decode_stream import GeminiStreamDecoder
from transforms.gemini.encode_request import encode_gemini_request
from transforms.gemini.errors import decode_error as decode_gemini_error
from transforms.passthrough import with_model
from transforms.stream import ByteStream, StreamDecoder, StreamEncoder
from transforms.trae import endpoint as trae_endpoint
from transforms.trae.decode_response import decode_trae_body, decode_trae_object
from transforms.trae.decode_stream import TraeStreamDecoder
from transforms.trae.encode_request import encode_trae_request
from transforms.trae.queue import QueueProbe
from transforms.trae.errors import decode_error as decode_trae_error
from transforms.upstream_options import UpstreamOptions


@dataclass(frozen=True, slots=True)
class ClientCodec:
    """How a protocol's clients talk to the bridge."""

    name: str
    decode_request: Callable[[bytes | dict], ChatRequest]
    encode_response: Callable[..., dict]  # (ChatResponse, ChatRequest, *, created) -> body
    stream_encoder: Callable[..., StreamEncoder]  # (ChatRequest, *, created)
    encode_error: Callable[[BridgeError], tuple[int, bytes]]
    # the Content-Type of a stream sent to this client
    stream_content_type: Callable[[ChatRequest], str] = lambda _request: "text/event-stream"
    # request path -> the fields a client puts in the URL rather than the body (Gemini's model and method)
    url_fields: Callable[[str], dict | None] | None = None
    # (client body, as `transforms.translation.client_body` gives it) -> None, or a 400 naming the client's
    # field: tool calls and results that do not pair up, numbers out of range, a model name unfit for a URL
    check_request: Callable[[dict], None] = lambda _body: None
    # Responses' item_reference: (client body, item id -> held item or None) -> the body with the held ones in
    # place, and (client body) -> None or a 400 naming a reference an upstream of another protocol cannot take
    resolve_references: Callable[[dict, Callable[[str], dict | None]], dict] | None = None
    unresolved_references: Callable[[dict], None] = lambda _body: None
    reference_ids: Callable[[dict], list[str]] = lambda _body: []  # the ids a body's references name
    # (the client's whole answer, or its finished stream encoder) -> the output items it holds, for references
    output_items: Callable[[object], list[dict]] | None = None
    # Responses' compaction: (path, client body, the bridge's encrypted_content -> summary or None) ->
    # CompactionInput: what is asked (/responses/compact, a compaction_trigger) and the body with the bridge's
    # own compaction items opened into summary messages (transforms/openai_responses/compaction.py)
    read_compaction: Callable[[str, dict, Callable[[str], str | None]], object] | None = None


@dataclass(frozen=True, slots=True)
class UpstreamCodec:
    """How the bridge talks to a protocol's upstreams."""

    name: str
    url: Callable[..., str]  # (base_url, model, stream, options) -> endpoint URL
    headers: Callable[[str | None], dict[str, str]]  # api key -> auth and version headers
    encode_request: Callable[..., dict]  # (ChatRequest, *, upstream_model, options: UpstreamOptions) -> body
    decode_response: Callable[[dict], ChatResponse]
    stream_decoder: Callable[..., StreamDecoder]  # (*, provider)
    decode_error: Callable[..., BridgeError]  # (status, body, *, provider, retry_after)
    # (body bytes, *, provider) -> response: for upstreams whose whole answer is not one JSON object (Trae's is SSE)
    decode_body: Callable[..., ChatResponse] | None = None
    # () -> the framing of a stream that is not SSE (Bedrock's AWS event stream): an object with
    # feed(bytes) -> list[SSEEvent] and close() -> list[SSEEvent], used instead of the SSE decoder
    stream_framing: Callable[[], object] | None = None
    # a stream request may be answered with a streamed JSON array (Gemini without alt=sse): translated as it comes
    streams_json_array: bool = False
    # () -> a probe telling a queued answer from a real one (Trae queues requests under load); the relay
    # sends a queued request again
    queue_probe: Callable[[], object] | None = None
    # base_url -> the URL of the protocol's own token counting (Anthropic's count_tokens); None: estimated locally
    counts_tokens: Callable[[str], str] | None = None
    # base_url -> where the provider lists its models natively (a proxy URL's models group)
    models_url: Callable[[str], str] | None = None
    # (base_url, model, api_version) -> where the provider embeds (a proxy URL's embeddings group)
    embeddings_url: Callable[[str, str, str | None], str] | None = None
    # (body, *, provider) -> the model ids in the answer to `models_url` (raises when it is an error): the
    # provider's own list, which GET /v1/models adds as `<provider>/<model>` (addons/model_discovery.py)
    model_ids: Callable[..., list[str]] | None = None
    # every request is signed with AWS SigV4 (Bedrock): the provider needs AWS credentials
    aws_signed: bool = False
    # reached only with an IDE's own login (Trae), never with a key: a proxy URL cannot target it
    login_only: bool = False


@dataclass(frozen=True, slots=True)
class Passthrough:
    """Same protocol on both sides: the body as is but for the model, the stream as it comes."""

    request_body: Callable[..., bytes]  # (client body, *, upstream_model) -> upstream body
    stream: Callable[[dict], ByteStream]  # client body -> byte filter
    forwarded_client_headers: tuple[str, ...] = ()
    usage_of: UsageOf | None = None  # (a whole answer, or one stream event, as JSON; usage so far) -> its usage


class Identity:
    """Nothing to change: bytes out as they came in."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def close(self) -> bytes:
        return b""


def openai_models_url(base_url: str) -> str:
    return base_url + "/models"  # OpenAI-compatible bases include /v1


def openai_embeddings_url(base_url: str, model: str = "", api_version: str | None = None) -> str:
    return base_url + "/embeddings"


def _openai_chat_stream_filter(client_body: dict) -> ByteStream:
    if openai_chat_passthrough.client_wants_usage(client_body):
        return Identity()
    return openai_chat_passthrough.UsageChunkFilter()


def _responses_unresolved(body: dict) -> None:
    """What only a Responses upstream can read: item references the bridge does not hold, compaction items
    it did not make."""
    unresolved_item_references(body)
    unreadable_compactions(body)


def _chat_completion_encoder(request: ChatRequest, *, created: int) -> ChatCompletionChunkEncoder:
    return ChatCompletionChunkEncoder(model=request.model, created=created, include_usage=request.include_usage)


def _chat_completion(response: ChatResponse, request: ChatRequest, *, created: int) -> dict:
    return encode_chat_completion(response, model=request.model, created=created)


CLIENT_CODECS: dict[str, ClientCodec] = {
    "openai-chat": ClientCodec(
        name="openai-chat",
        decode_request=decode_chat_request,
        encode_response=_chat_completion,
        stream_encoder=_chat_completion_encoder,
        encode_error=encode_openai_chat_error,
        check_request=check_chat_request,
    ),
    "openai-responses": ClientCodec(
        name="openai-responses",
        decode_request=decode_responses_request,
        encode_response=encode_responses_response,
        stream_encoder=ResponsesStreamEncoder,
        encode_error=encode_openai_chat_error,  # the same envelope as Chat Completions
        check_request=check_responses_request,
        resolve_references=resolve_item_references,
        unresolved_references=_responses_unresolved,
        reference_ids=referenced_ids,
        output_items=responses_output_items,
        read_compaction=read_responses_compaction,
    ),
    "gemini": ClientCodec(
        name="gemini",
        decode_request=decode_gemini_request,
        encode_response=encode_gemini_response,
        stream_encoder=GeminiStreamEncoder,
        encode_error=encode_gemini_error,
        stream_content_type=lambda request: "text/event-stream" if request.client_options.get("sse", True) else "application/json",
        check_request=check_gemini_request,
        url_fields=gemini_endpoint.client_url_fields,
    ),
    "anthropic": ClientCodec(
        name="anthropic",
        decode_request=decode_messages_request,
        encode_response=encode_message,
        stream_encoder=AnthropicStreamEncoder,
        encode_error=encode_anthropic_error,
        check_request=check_messages_request,
    ),
}

UPSTREAM_CODECS: dict[str, UpstreamCodec] = {
    "anthropic": UpstreamCodec(
        name="anthropic",
        url=anthropic_endpoint.messages_url,
        headers=anthropic_endpoint.request_headers,
        encode_request=encode_messages_request,
        decode_response=decode_messages_response,
        stream_decoder=AnthropicStreamDecoder,
        decode_error=decode_anthropic_error,
        counts_tokens=anthropic_endpoint.count_tokens_url,
        models_url=anthropic_endpoint.models_url,
        model_ids=anthropic_model_ids,
    ),
    "openai-chat": UpstreamCodec(
        name="openai-chat",
        url=openai_chat_endpoint.chat_completions_url,
        headers=openai_chat_endpoint.request_headers,
        encode_request=encode_chat_request,
        decode_response=decode_chat_completion,
        stream_decoder=OpenAIChatStreamDecoder,
        decode_error=decode_openai_chat_error,
        models_url=openai_models_url,
        embeddings_url=openai_embeddings_url,
        model_ids=openai_model_ids,
    ),
    "openai-responses": UpstreamCodec(
        name="openai-responses",
        url=responses_endpoint.responses_url,
        headers=responses_endpoint.request_headers,
        encode_request=encode_responses_request,
        decode_response=decode_responses_response,
        stream_decoder=ResponsesStreamDecoder,
        decode_error=decode_openai_chat_error,
        models_url=openai_models_url,
        embeddings_url=openai_embeddings_url,
        model_ids=openai_model_ids,
    ),
    "gemini": UpstreamCodec(
        name="gemini",
        url=gemini_endpoint.generate_url,
        headers=gemini_endpoint.request_headers,
        encode_request=encode_gemini_request,
        decode_response=decode_gemini_response,
        stream_decoder=GeminiStreamDecoder,
        decode_error=decode_gemini_error,
        streams_json_array=True,
        models_url=gemini_endpoint.models_url,
        model_ids=gemini_model_ids,
    ),
    "trae": UpstreamCodec(
        name="trae",
        url=trae_endpoint.chat_url,
        headers=trae_endpoint.request_headers,
        encode_request=encode_trae_request,
        decode_response=decode_trae_object,
        stream_decoder=TraeStreamDecoder,
        decode_error=decode_trae_error,
        decode_body=decode_trae_body,
        queue_probe=QueueProbe,
        login_only=True,
        models_url=trae_endpoint.model_list_url,
        model_ids=trae_model_names,
    ),
    "bedrock": UpstreamCodec(
        name="bedrock",
        url=bedrock_endpoint.invoke_url,
        headers=bedrock_endpoint.request_headers,
        encode_request=encode_invoke_request,
        decode_response=decode_messages_response,  # InvokeModel answers an Anthropic message as is
        stream_decoder=AnthropicStreamDecoder,
        decode_error=decode_bedrock_error,
        stream_framing=EventStreamFraming,
        models_url=openai_models_url,
        aws_signed=True,
    ),
    "azure": UpstreamCodec(
        name="azure",
        url=azure_endpoint.chat_completions_url,
        headers=azure_endpoint.request_headers,
        encode_request=encode_azure_chat_request,
        decode_response=decode_chat_completion,
        stream_decoder=OpenAIChatStreamDecoder,
        decode_error=decode_openai_chat_error,
        models_url=openai_models_url,
        embeddings_url=azure_endpoint.embeddings_url,
    ),
}

PASSTHROUGHS: dict[str, Passthrough] = {
    "openai-chat": Passthrough(openai_chat_passthrough.passthrough_request, _openai_chat_stream_filter,
                               usage_of=openai_chat_passthrough.usage_of),
    "openai-responses": Passthrough(with_model, lambda _client_body: Identity(), usage_of=responses_usage_of),
    "gemini": Passthrough(
        gemini_passthrough.passthrough_request,
        lambda client_body: Identity() if client_body.get("alt_sse", True) else gemini_passthrough.SSEToJSONArray(),
        usage_of=gemini_passthrough.usage_of,
    ),
    "anthropic": Passthrough(
        with_model,
        lambda _client_body: Identity(),
        anthropic_passthrough.FORWARDED_CLIENT_HEADERS,
        usage_of=anthropic_passthrough.usage_of,
    ),
}


def loads_object(body: bytes) -> dict:
    """Parse an upstream JSON body that must be an object."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


__all__ = ["CLIENT_CODECS", "PASSTHROUGHS", "UPSTREAM_CODECS", "Identity", "UpstreamOptions"]
