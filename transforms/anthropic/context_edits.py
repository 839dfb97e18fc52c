"""Anthropic's context editing (`context_management.edits`), applied by the bridge when the upstream is not
Anthropic: the upstream then sees the trimmed context Claude would have seen, and the client is told what was
cleared as Anthropic tells it (`context_management.applied_edits` on the message and on `message_delta`).

- `clear_tool_uses_20250919`: once the input passes `trigger` (default 100 000 input tokens), the oldest tool
  results are replaced by a placeholder, keeping the last `keep` tool uses (default 3) and any tool named in
  `exclude_tools`, until at least `clear_at_least` tokens are gone; `clear_tool_inputs` also empties the calls'
  arguments (all, or those of the tools it names).
- `clear_thinking_20251015`: thinking of earlier assistant turns is dropped, keeping the last `keep` thinking
  turns (default 1; `"all"` keeps everything).
Tokens are the bridge's estimate (transforms/token_estimate.py).
"""

from __future__ import annotations

from transforms.errors import invalid
from transforms.ir import ChatRequest, Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from transforms.token_estimate import estimate_input_tokens

CLEAR_TOOL_USES = "clear_tool_uses_20250919"
CLEAR_THINKING = "clear_thinking_20251015"
CLEARED = "[Tool result cleared to save context]"
DEFAULT_TRIGGER = 100_000
DEFAULT_KEEP_TOOL_USES = 3


def parse_edits(context_management: object) -> list[dict]:
    if context_management is None:
        return []
    edits = context_management.get("edits") if isinstance(context_management, dict) else None
    if not isinstance(edits, list) or not all(isinstance(e, dict) for e in edits):
        raise invalid("context_management.edits: must be an array of edit objects.", "context_management.edits")
    return edits


def apply_edits(request: ChatRequest, edits: list[dict]) -> list[dict]:
    """Apply `edits` to `request.messages` in place, in order; the applied edits as Anthropic reports them."""
    applied = []
    for edit in edits:
        before = estimate_input_tokens(request)
        if edit.get("type") not in (CLEAR_TOOL_USES, CLEAR_THINKING):  # (server-side compaction, newer edits)
            request.dropped.append(f"context edit '{edit.get('type')}' (only Anthropic applies it)")
        elif edit["type"] == CLEAR_THINKING:
            turns = _clear_thinking(request.messages, edit.get("keep"))
            if turns:
                applied.append({"type": CLEAR_THINKING, "cleared_thinking_turns": turns,
                                "cleared_input_tokens": max(before - estimate_input_tokens(request), 0)})
        else:
            uses = _clear_tool_uses(request, edit, before)
            if uses:
                applied.append({"type": CLEAR_TOOL_USES, "cleared_tool_uses": uses,
                                "cleared_input_tokens": max(before - estimate_input_tokens(request), 0)})
    return applied


def _value(setting: object, default: int) -> int:
    if isinstance(setting, dict) and isinstance(setting.get("value"), int):
        return setting["value"]
    return default


def _clear_tool_uses(request: ChatRequest, edit: dict, tokens: int) -> int:
    if tokens < _value(edit.get("trigger"), DEFAULT_TRIGGER):
        return 0
    excluded = set(edit.get("exclude_tools") or ())
    names = {p.id: p.name for m in request.messages for p in m.parts if isinstance(p, ToolCallPart)}
    results = [(m, i, p) for m in request.messages for i, p in enumerate(m.parts) if isinstance(p, ToolResultPart)]
    keep = _value(edit.get("keep"), DEFAULT_KEEP_TOOL_USES)  # the most recent tool uses, whichever their tool
    clearable = [(m, i, p) for m, i, p in results[:max(len(results) - keep, 0)]
                 if names.get(p.tool_call_id) not in excluded
                 and not (len(p.content) == 1 and isinstance(p.content[0], TextPart) and p.content[0].text == CLEARED)]
    at_least = _value(edit.get("clear_at_least"), 0)
    inputs = edit.get("clear_tool_inputs", False)
    emptied: list[tuple[ToolCallPart, dict]] = []
    for message, index, result in clearable:
        message.parts[index] = ToolResultPart(result.tool_call_id, [TextPart(CLEARED)], result.is_error)
        if inputs is True or (isinstance(inputs, list) and names.get(result.tool_call_id) in inputs):
            emptied += _empty_arguments(request.messages, result.tool_call_id)
    if clearable and at_least and tokens - estimate_input_tokens(request) < at_least:
        # Anthropic clears nothing rather than less than asked: everything goes back
        for message, index, result in clearable:
            message.parts[index] = result
        for call, arguments in emptied:
            call.arguments = arguments
        return 0
    return len(clearable)


def _empty_arguments(messages: list[Message], call_id: str) -> list[tuple[ToolCallPart, dict]]:
    emptied = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolCallPart) and part.id == call_id:
                emptied.append((part, part.arguments))
                part.arguments = {}
    return emptied


def _clear_thinking(messages: list[Message], keep: object) -> int:
    if keep == "all":
        return 0
    turns = [m for m in messages if m.role == "assistant" and any(isinstance(p, ThinkingPart) for p in m.parts)]
    kept = _value(keep, 1)
    cleared = turns[:max(len(turns) - kept, 0)]
    for message in cleared:
        message.parts = [p for p in message.parts if not isinstance(p, ThinkingPart)]
    return len(cleared)
