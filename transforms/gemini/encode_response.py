"""Neutral `ChatResponse` / events -> Gemini GenerateContentResponse (the client side)."""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError
from transforms.gemini.call_ids import to_gemini_signature, unpack
from transforms.ir import ChatRequest, ChatResponse, TextPart, ThinkingPart, ToolCallPart, Usage

FINISH = {"stop": "STOP", "stop_sequence": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS",
          "content_filter": "SAFETY", "pause": "STOP", None: "STOP"}
STATUS = {400: "INVALID_ARGUMENT", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def usage_metadata(usage: Usage) -> dict:
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    thoughts = usage.reasoning_tokens or 0
    meta = {"promptTokenCount": prompt, "candidatesTokenCount": max(usage.output_tokens - thoughts, 0),
            "totalTokenCount": prompt + usage.output_tokens}
    if usage.cache_read_tokens:
        meta["cachedContentTokenCount"] = usage.cache_read_tokens
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def call_part(call_id: str, name: str, args: dict) -> dict:
    base, signature = unpack(call_id)
    part: dict = {"functionCall": {"id": base, "name": name, "args": args}}
    if signature:
        part["thoughtSignature"] = signature
    return part


def chunk(parts: list[dict], model: str, response_id: str, finish: str | None = None, usage: Usage | None = None) -> dict:
    candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
    if usage is not None:
        body["usageMetadata"] = usage_metadata(usage)
    return body


def encode_gemini_response(response: ChatResponse, request: ChatRequest, *, created: int = 0) -> dict:
    parts: list[dict] = []
    for part in response.parts:
        if isinstance(part, ThinkingPart):
            if part.text or part.signature:
                thought: dict = {"text": part.text, "thought": True}
                if part.signature:
                    thought["thoughtSignature"] = to_gemini_signature(part.signature)
                parts.append(thought)
        elif isinstance(part, TextPart):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, ToolCallPart):
            parts.append(call_part(part.id, part.name, part.arguments))
    return chunk(parts, request.model, response.id, FINISH.get(response.finish_reason, "STOP"), response.usage)


def error_object(error: BridgeError) -> dict:
    return {"error": {"code": error.status, "message": error.message, "status": STATUS.get(error.status, "UNKNOWN")}}


def encode_error(error: BridgeError) -> tuple[int, bytes]:
    return error.status, orjson.dumps(error_object(error))
