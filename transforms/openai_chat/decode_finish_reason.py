"""OpenAI Chat `finish_reason` -> neutral finish reason.

OpenAI does not say which stop sequence ended a turn; vLLM (`stop_reason`)
and SGLang (`matched_stop`) do, and then the turn ended on a stop sequence.
"""

from __future__ import annotations

from transforms.ir import FinishReason

FINISH_REASON: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def decode_finish_reason(choice: dict) -> tuple[FinishReason | None, str | None]:
    """(finish reason, matched stop sequence) of a choice."""
    reason = choice.get("finish_reason")
    if reason is None:
        return None, None
    matched = choice.get("stop_reason", choice.get("matched_stop"))
    if reason == "stop" and isinstance(matched, str):
        return "stop_sequence", matched
    return FINISH_REASON.get(reason, "stop"), None
