"""Anthropic stop_reason <-> neutral finish reason."""

from __future__ import annotations

from transforms.ir import FinishReason

FINISH_REASON_BY_STOP_REASON: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause",
}


def finish_reason(stop_reason: str | None) -> FinishReason | None:
    if stop_reason is None:
        return None
    # an unknown future reason still ended the turn
    return FINISH_REASON_BY_STOP_REASON.get(stop_reason, "stop")


STOP_REASON_BY_FINISH_REASON: dict[str | None, str] = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "pause": "pause_turn",
    None: "end_turn",
}


def stop_reason(finish: str | None) -> str:
    return STOP_REASON_BY_FINISH_REASON.get(finish, "end_turn")
