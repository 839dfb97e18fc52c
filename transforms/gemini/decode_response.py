"""Gemini GenerateContentResponse -> neutral `ChatResponse` (the upstream side)."""

from __future__ import annotations

from transforms.gemini.call_ids import pack
from transforms.gemini.finish_reason import finish_reason
from transforms.gemini.usage import decode_usage
from transforms.ir import ChatResponse, TextPart, ThinkingPart, ToolCallPart


def decode_gemini_response(body: dict) -> ChatResponse:
    candidate = (body.get("candidates") or [{}])[0]
    response_id = body.get("responseId") or ""
    parts: list = []
    calls = 0
    for part in (candidate.get("content") or {}).get("parts") or ():
        if "functionCall" in part:
            call = part["functionCall"]
            call_id = call.get("id") or f"call_{response_id}_{calls}"
            parts.append(ToolCallPart(pack(call_id, part.get("thoughtSignature")), call.get("name") or "", call.get("args") or {}))
            calls += 1
        elif part.get("thought"):
            parts.append(ThinkingPart(part.get("text") or ""))
        elif part.get("text"):
            parts.append(TextPart(part["text"]))
    blocked = bool((body.get("promptFeedback") or {}).get("blockReason"))
    return ChatResponse(
        id=response_id,
        model=body.get("modelVersion") or "",
        parts=parts,
        finish_reason=finish_reason(candidate.get("finishReason"), calls > 0, blocked) or "stop",
        usage=decode_usage(body.get("usageMetadata") or {}),
    )
