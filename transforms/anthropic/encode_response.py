"""Neutral `ChatResponse` -> Anthropic `message` body (the Anthropic client side)."""

from __future__ import annotations

from transforms.anthropic.stop_reason import stop_reason
from transforms.ir import ChatRequest, ChatResponse, TextPart, ThinkingPart, ToolCallPart, Usage


def encode_message(response: ChatResponse, request: ChatRequest, *, created: int = 0) -> dict:
    content: list[dict] = []
    for part in response.parts:
        if isinstance(part, TextPart):
            if part.text:
                content.append({"type": "text", "text": part.text})
        elif isinstance(part, ThinkingPart):
            if part.redacted is not None:
                content.append({"type": "redacted_thinking", "data": part.redacted})
            else:
                content.append({"type": "thinking", "thinking": part.text, "signature": part.signature or ""})
        elif isinstance(part, ToolCallPart):
            content.append({"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments})
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason(response.finish_reason),
        "stop_sequence": response.stop_sequence,
        "usage": anthropic_usage(response.usage),
        **({"context_management": request.client_options["context_management"]}
           if "context_management" in request.client_options else {}),
    }


def message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else f"msg_{upstream_id or 'bridge'}"


def anthropic_usage(usage: Usage) -> dict:
    encoded = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }
    if usage.cache_write_tokens:
        long = min(usage.cache_write_long_tokens, usage.cache_write_tokens)
        encoded["cache_creation"] = {"ephemeral_5m_input_tokens": usage.cache_write_tokens - long,
                                     "ephemeral_1h_input_tokens": long}
    return encoded
