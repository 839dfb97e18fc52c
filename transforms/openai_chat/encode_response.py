"""Neutral `ChatResponse` -> OpenAI `chat.completion` body."""

from __future__ import annotations

import orjson

from transforms.ir import ChatResponse, TextPart, ThinkingPart, ToolCallPart
from transforms.openai_chat.finish_reason import openai_finish_reason
from transforms.openai_chat.usage import openai_usage


def encode_chat_completion(response: ChatResponse, *, model: str, created: int) -> dict:
    """`model` is the name the client asked for; `created` is supplied by the caller
    (this library reads no clock)."""
    texts = [p.text for p in response.parts if isinstance(p, TextPart)]
    reasoning = [p.text for p in response.parts if isinstance(p, ThinkingPart) and p.text]
    calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
    message: dict = {
        "role": "assistant",
        # several text blocks read as one answer: joined with no separator
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
            }
            for call in calls
        ]
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": openai_finish_reason(response.finish_reason),
            }
        ],
        "usage": openai_usage(response.usage),
    }
