"""Neutral `ChatRequest` -> Azure OpenAI chat request body: OpenAI Chat's, without `model`
(the deployment in the path names it)."""

from __future__ import annotations

from transforms.ir import ChatRequest
from transforms.openai_chat.encode_request import encode_chat_request
from transforms.upstream_options import UpstreamOptions


def encode_azure_chat_request(
    request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions()
) -> dict:
    body = encode_chat_request(request, upstream_model=upstream_model, options=options)
    del body["model"]
    return body
