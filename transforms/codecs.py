"""The protocol registry: one client codec and one upstream codec per protocol.

The proxy glue looks codecs up by protocol name and never needs to know a
pair: any client codec composes with any upstream codec through the neutral
representation. Same protocol on both sides is a passthrough instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import orjson

from transforms.anthropic import endpoint as anthropic_endpoint
from transforms.anthropic.decode_response import decode_messages_response
from transforms.anthropic.decode_stream import AnthropicStreamDecoder
from transforms.anthropic.encode_request import encode_messages_request
from transforms.anthropic.errors import decode_error as decode_anthropic_error
from transforms.errors import BridgeError
from transforms.ir import ChatRequest, ChatResponse
from transforms.openai_chat import endpoint as openai_chat_endpoint
from transforms.openai_chat.decode_error import decode_error as decode_openai_chat_error
from transforms.openai_chat.decode_request import decode_chat_request
from transforms.openai_chat.encode_response import encode_chat_completion
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.openai_chat.errors import encode_error as encode_openai_chat_error
from transforms.stream import StreamDecoder, StreamEncoder


@dataclass(frozen=True, slots=True)
class ClientCodec:
    """How a protocol's clients talk to the bridge."""

    name: str
    decode_request: Callable[[bytes | dict], ChatRequest]
    encode_response: Callable[..., dict]  # (ChatResponse, *, model, created) -> body
    stream_encoder: Callable[..., StreamEncoder]  # (*, model, created, include_usage)
    encode_error: Callable[[BridgeError], tuple[int, bytes]]
    stream_content_type: str = "text/event-stream"


@dataclass(frozen=True, slots=True)
class UpstreamCodec:
    """How the bridge talks to a protocol's upstreams."""

    name: str
    url: Callable[[str], str]  # base_url -> endpoint URL
    headers: Callable[[str | None], dict[str, str]]  # api key -> auth and version headers
    encode_request: Callable[..., dict]  # (ChatRequest, *, upstream_model, max_tokens) -> body
    decode_response: Callable[[dict], ChatResponse]
    stream_decoder: Callable[..., StreamDecoder]  # (*, provider)
    decode_error: Callable[..., BridgeError]  # (status, body, *, provider, retry_after)


def _no_translation(*_args, **_kwargs):
    raise BridgeError("api_error", "no translation into this protocol exists yet")


CLIENT_CODECS: dict[str, ClientCodec] = {
    "openai-chat": ClientCodec(
        name="openai-chat",
        decode_request=decode_chat_request,
        encode_response=encode_chat_completion,
        stream_encoder=ChatCompletionChunkEncoder,
        encode_error=encode_openai_chat_error,
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
    ),
    "openai-chat": UpstreamCodec(
        name="openai-chat",
        url=openai_chat_endpoint.chat_completions_url,
        headers=openai_chat_endpoint.request_headers,
        # OpenAI Chat clients reach OpenAI Chat upstreams by passthrough; the
        # translating direction arrives with the Anthropic client codec.
        encode_request=_no_translation,
        decode_response=_no_translation,
        stream_decoder=_no_translation,
        decode_error=decode_openai_chat_error,
    ),
}


def loads_object(body: bytes) -> dict:
    """Parse an upstream JSON body that must be an object."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
