"""Claude Code's context editing to upstreams that are not Anthropic (issue 15, point 5): the bridge applies
`clear_tool_uses_20250919` and `clear_thinking_20251015` itself, so the upstream sees the trimmed context, and
reports the applied edits as Anthropic does; through a real mitmdump with the official anthropic SDK."""

from __future__ import annotations

import anthropic
import orjson
import pytest

from transforms.anthropic.context_edits import CLEARED
from transforms.anthropic.decode_request import decode_messages_request

BIG = "line of a large file\n" * 400  # about 2000 tokens each


def conversation(results: int) -> list[dict]:
    messages = [{"role": "user", "content": "Read the files."}]
    for n in range(results):
        messages += [{"role": "assistant", "content": [{"type": "thinking", "thinking": f"plan {n}", "signature": f"sig{n}"},
                                                      {"type": "tool_use", "id": f"toolu_{n}", "name": "Read" if n % 2 else "Grep",
                                                       "input": {"file_path": f"f{n}.py"}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": f"{n}: {BIG}"}]}]
    return messages


def decode(messages, *edits):
    return decode_messages_request(orjson.dumps({"model": "m", "max_tokens": 100, "messages": messages,
                                                 "context_management": {"edits": list(edits)}}))


def results_of(request):
    return [p.content[0].text[:2] for m in request.messages for p in m.parts if type(p).__name__ == "ToolResultPart"]


def test_tool_uses_are_cleared_past_the_trigger_keeping_the_last_ones_and_excluded_tools():
    request = decode(conversation(6), {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 5000},
                                       "keep": {"type": "tool_uses", "value": 2}, "exclude_tools": ["Read"], "clear_tool_inputs": True})
    assert results_of(request) == ["[T", "1:", "[T", "3:", "4:", "5:"]  # Grep's 0 and 2 cleared; 4 and 5 kept; Read kept
    calls = {p.id: p.arguments for m in request.messages for p in m.parts if type(p).__name__ == "ToolCallPart"}
    assert calls["toolu_0"] == {} and calls["toolu_4"] == {"file_path": "f4.py"}
    (applied,) = request.client_options["context_management"]["applied_edits"]
    assert applied["type"] == "clear_tool_uses_20250919" and applied["cleared_tool_uses"] == 2
    assert applied["cleared_input_tokens"] > 3000


def test_below_the_trigger_or_short_of_clear_at_least_nothing_is_cleared():
    below = decode(conversation(6), {"type": "clear_tool_uses_20250919"})  # default trigger: 100 000 tokens
    assert CLEARED not in str(results_of(below)) and below.client_options["context_management"] == {"applied_edits": []}
    short = decode(conversation(6), {"type": "clear_tool_uses_20250919", "trigger": {"type": "input_tokens", "value": 1000},
                                     "clear_at_least": {"type": "input_tokens", "value": 50_000}})
    assert results_of(short) == ["0:", "1:", "2:", "3:", "4:", "5:"]


def test_thinking_of_earlier_turns_is_cleared_keeping_the_last_or_all():
    request = decode(conversation(4), {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}})
    thinking = [m for m in request.messages if any(type(p).__name__ == "ThinkingPart" for p in m.parts)]
    assert len(thinking) == 1
    assert request.client_options["context_management"]["applied_edits"][0]["cleared_thinking_turns"] == 3
    assert decode(conversation(4), {"type": "clear_thinking_20251015", "keep": "all"}).client_options[
        "context_management"] == {"applied_edits": []}


def test_an_edit_the_bridge_does_not_know_is_dropped_with_a_note():
    request = decode(conversation(1), {"type": "compact_20260112"})
    assert request.dropped == ["context edit 'compact_20260112' (only Anthropic applies it)"]


@pytest.mark.parametrize("stream", [False, True])
def test_cleared_tool_results_are_absent_upstream_and_the_edits_come_back(bridge, simulator, stream):
    client = anthropic.Anthropic(base_url=bridge.base_url, api_key="x", max_retries=0)
    kwargs = dict(model="gpt-sim", max_tokens=500, messages=conversation(6),
                  tools=[{"name": name, "input_schema": {"type": "object"}} for name in ("Read", "Grep")],
                  extra_body={"context_management": {"edits": [{"type": "clear_tool_uses_20250919",
                                                                "trigger": {"type": "input_tokens", "value": 5000}}]}})
    if stream:
        with client.messages.stream(**kwargs) as events:
            deltas = [e for e in events if e.type == "message_delta"]
        management = deltas[-1].model_extra.get("context_management") or deltas[-1].context_management
    else:
        answer = client.messages.create(**kwargs)
        management = answer.model_extra.get("context_management") if answer.model_extra else None
    sent = orjson.loads(simulator.requests[-1].body)
    tool_messages = [m["content"] for m in sent["messages"] if m["role"] == "tool"]
    assert tool_messages[:3] == [CLEARED] * 3 and all(c.startswith(f"{n}: ") for n, c in zip(range(3, 6), tool_messages[3:]))
    assert sum(BIG in m for m in tool_messages) == 3  # only the last three went up whole
    management = management if isinstance(management, dict) else management.model_dump()
    assert management["applied_edits"][0]["type"] == "clear_tool_uses_20250919"
    assert management["applied_edits"][0]["cleared_tool_uses"] == 3
