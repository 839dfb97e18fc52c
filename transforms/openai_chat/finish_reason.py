"""Neutral finish reason -> OpenAI Chat `finish_reason`."""

from __future__ import annotations

OPENAI_FINISH_REASON: dict[str | None, str | None] = {
    "stop": "stop",
    "stop_sequence": "stop",  # OpenAI does not say which stop sequence matched
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "pause": "stop",
    None: None,
}


def openai_finish_reason(reason: str | None) -> str | None:
    return OPENAI_FINISH_REASON.get(reason, "stop")
