"""Gemini finishReason / promptFeedback.blockReason -> neutral finish reason."""

from __future__ import annotations

from transforms.ir import FinishReason

# every reason Gemini (and Vertex AI) gives for blocking an answer
FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE",
                      "MODEL_ARMOR", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})


def finish_reason(reason: str | None, called_tools: bool, blocked: bool = False) -> FinishReason | None:
    if blocked or reason in FILTERED:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    if reason is None:
        return None
    # STOP, also after function calls (Gemini says "Model generated function call(s).")
    return "tool_calls" if called_tools else "stop"
