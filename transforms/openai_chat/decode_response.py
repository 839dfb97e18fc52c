"""OpenAI Chat `chat.completion` body -> neutral `ChatResponse` (the upstream side)."""

from __future__ import annotations

import orjson

from transforms.ir import ChatResponse, TextPart, ThinkingPart, ToolCallPart
from transforms.openai_chat.decode_finish_reason import decode_finish_reason
from transforms.openai_chat.decode_usage import decode_usage


def decode_chat_completion(body: dict) -> ChatResponse:
    choices = body.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    parts: list = []
    # DeepSeek and most open-model servers call it reasoning_content; OpenRouter and vLLM's newer API, reasoning
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ThinkingPart(reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append(TextPart(content))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(TextPart(message["refusal"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(ToolCallPart(call.get("id") or "", function.get("name") or "", parse_arguments(function.get("arguments"))))
    finish, stop_sequence = decode_finish_reason(choice)
    return ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        parts=parts,
        finish_reason=finish,
        usage=decode_usage(body.get("usage") or {}),
        stop_sequence=stop_sequence,
    )


def parse_arguments(raw: object) -> dict:
    """Tool arguments as an object. A model that wrote invalid JSON keeps its text
    under "_raw_arguments", so nothing is silently lost."""
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}
