"""OpenAI Responses `response` object -> neutral `ChatResponse` (the upstream side)."""

from __future__ import annotations

from transforms.ir import ChatResponse, FinishReason, TextPart, ThinkingPart, ToolCallPart
from transforms.openai_chat.decode_response import parse_arguments
from transforms.openai_responses.reasoning_signature import pack
from transforms.openai_responses.usage import decode_usage

INCOMPLETE_REASON: dict[str, FinishReason] = {"max_output_tokens": "length", "content_filter": "content_filter"}


def decode_responses_response(body: dict) -> ChatResponse:
    parts: list = []
    refused = False
    for item in body.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            for content in item.get("content") or ():
                if content.get("type") == "output_text":
                    parts.append(TextPart(content.get("text") or ""))
                elif content.get("type") == "refusal":
                    parts.append(TextPart(content.get("refusal") or ""))
                    refused = True
        elif kind == "reasoning":
            summary = "\n\n".join(s.get("text", "") for s in item.get("summary") or ())
            parts.append(ThinkingPart(summary, pack(item.get("id"), item.get("encrypted_content")), None, item.get("id")))
        elif kind == "function_call":
            parts.append(ToolCallPart(item.get("call_id") or "", item.get("name") or "", parse_arguments(item.get("arguments"))))
        # built-in tools (web_search_call, ...) ran upstream: not calls for the client
    return ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        parts=parts,
        finish_reason=finish_reason(body, refused, any(isinstance(p, ToolCallPart) for p in parts)),
        usage=decode_usage(body.get("usage") or {}),
    )


def finish_reason(body: dict, refused: bool, called_tools: bool) -> FinishReason:
    if body.get("status") == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE_REASON.get(reason, "length")
    if refused:
        return "content_filter"
    return "tool_calls" if called_tools else "stop"
