"""Neutral `ChatResponse` -> OpenAI Responses `response` object (the client side)."""

from __future__ import annotations

import orjson

from transforms.ir import ChatRequest, ChatResponse, TextPart, ThinkingPart, ToolCallPart
from transforms.openai_responses.reasoning_signature import unpack
from transforms.openai_responses.usage import encode_usage


def response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("resp_") else f"resp_{upstream_id or 'bridge'}"


def reasoning_item(item_id: str, summary: str, signature: str | None) -> dict:
    _, encrypted = unpack(signature)
    item = {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": summary}] if summary else []}
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def message_item(item_id: str, text: str) -> dict:
    return {"id": item_id, "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str) -> dict:
    return {"id": item_id, "type": "function_call", "status": "completed", "call_id": call_id, "name": name, "arguments": arguments}


def response_object(rid: str, request: ChatRequest, created: int, status: str, output: list[dict], usage: dict | None,
                    incomplete: str | None = None) -> dict:
    return {
        "id": rid, "object": "response", "created_at": created, "status": status, "model": request.model,
        "output": output, "usage": usage, "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": None, "parallel_tool_calls": request.parallel_tool_calls is not False,
        "tool_choice": "auto", "tools": [], "store": False, "text": {"format": {"type": "text"}},
    }


def encode_response(response: ChatResponse, request: ChatRequest, *, created: int) -> dict:
    rid = response_id(response.id)
    output: list[dict] = []
    for n, part in enumerate(response.parts):
        if isinstance(part, ThinkingPart):
            output.append(reasoning_item(part.id or f"rs_{rid}_{n}", part.text, part.signature))
        elif isinstance(part, TextPart):
            if output and output[-1]["type"] == "message":  # several text blocks read as one answer
                output[-1]["content"][0]["text"] += part.text
            else:
                output.append(message_item(f"msg_{rid}_{n}", part.text))
        elif isinstance(part, ToolCallPart):
            output.append(function_call_item(f"fc_{part.id}", part.id, part.name, orjson.dumps(part.arguments).decode()))
    incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(response.finish_reason or "")
    return response_object(rid, request, created, "incomplete" if incomplete else "completed", output,
                           encode_usage(response.usage), incomplete)
