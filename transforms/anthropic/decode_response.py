"""Anthropic Messages response body -> neutral `ChatResponse`."""

from __future__ import annotations

from transforms.anthropic.stop_reason import finish_reason
from transforms.ir import ChatResponse, TextPart, ThinkingPart, ToolCallPart, Usage


def decode_messages_response(body: dict) -> ChatResponse:
    parts: list[TextPart | ThinkingPart | ToolCallPart] = []
    for block in body.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(block.get("text", "")))
        elif kind == "thinking":
            parts.append(ThinkingPart(block.get("thinking", ""), block.get("signature")))
        elif kind == "redacted_thinking":
            parts.append(ThinkingPart(redacted=block.get("data")))
        elif kind == "tool_use":
            parts.append(ToolCallPart(block["id"], block["name"], block.get("input") or {}))
        # server-side tool blocks (server_tool_use, web_search_tool_result, ...) ran on
        # Anthropic's side: they are not calls for the client to make.
    return ChatResponse(
        id=body.get("id", ""),
        model=body.get("model", ""),
        parts=parts,
        finish_reason=finish_reason(body.get("stop_reason")),
        usage=decode_usage(body.get("usage") or {}),
        stop_sequence=body.get("stop_sequence"),
    )


def decode_usage(usage: dict, into: Usage | None = None) -> Usage:
    """Anthropic usage object -> Usage; fields absent from `usage` keep `into`'s values
    (message_delta repeats only some of message_start's counts)."""
    result = into if into is not None else Usage()
    if (v := usage.get("input_tokens")) is not None:
        result.input_tokens = v
    if (v := usage.get("output_tokens")) is not None:
        result.output_tokens = v
    if (v := usage.get("cache_read_input_tokens")) is not None:
        result.cache_read_tokens = v
    if (v := usage.get("cache_creation_input_tokens")) is not None:
        result.cache_write_tokens = v
    if isinstance(creation := usage.get("cache_creation"), dict):
        result.cache_write_long_tokens = creation.get("ephemeral_1h_input_tokens") or 0
    return result
