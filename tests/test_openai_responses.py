"""OpenAI Responses: client-side decoding (Codex's shape), upstream encoding and decoding,
the event stream sent to Responses clients, and real captures decoded without loss."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from transforms.anthropic.decode_request import decode_messages_request
from transforms.anthropic.decode_stream import AnthropicStreamDecoder
from transforms.ir import TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from transforms.openai_chat.decode_request import decode_chat_request
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.openai_responses.decode_request import decode_responses_request
from transforms.openai_responses.decode_response import decode_responses_response
from transforms.openai_responses.decode_stream import ResponsesStreamDecoder
from transforms.openai_responses.encode_request import encode_responses_request
from transforms.openai_responses.encode_stream import ResponsesStreamEncoder
from transforms.stream import StreamTranslator
from tests import anthropic_streams

# the shape Codex sends (../shared/notes/real-clients.md), with placeholder prose
CODEX = {
    "model": "gpt-5-codex", "store": False, "stream": True, "tool_choice": "auto", "parallel_tool_calls": True,
    "reasoning": {"summary": "auto"}, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k",
    "client_metadata": {"x": "y"},
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<system prompt>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment>"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}], "encrypted_content": "gAAA"},
        {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "file.txt"},
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "description": "<d>", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}, "strict": False},
        {"type": "namespace", "name": "multi_agent_v1", "tools": []},
        {"type": "web_search", "external_web_access": False},
    ],
}


def test_codex_request_decodes_and_drops_what_no_upstream_here_runs():
    request = decode_responses_request(CODEX)
    assert request.system == ["<system prompt>"]
    assert [m.role for m in request.messages] == ["user", "user", "assistant", "user"]
    assert request.messages[2].parts == [ThinkingPart("think", "gAAA", None, "rs_1"), ToolCallPart("call_1", "exec_command", {"cmd": "ls"})]
    assert request.messages[3].parts == [ToolResultPart("call_1", [TextPart("file.txt")])]
    assert [t.name for t in request.tools] == ["exec_command"]
    assert request.dropped == ["tools[1] (namespace multi_agent_v1)", "tools[2] (web_search)"]
    assert request.unsupported == [] and request.stream


def test_stateful_requests_are_refused_not_dropped():
    request = decode_responses_request({"model": "m", "input": "hi", "previous_response_id": "resp_1"})
    assert request.unsupported[0][0] == "previous_response_id"


def test_upstream_request_shape():
    chat = decode_chat_request(orjson.dumps({
        "model": "m", "reasoning_effort": "low", "max_completion_tokens": 300, "stream": True,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "ok", "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "call_9", "content": "done"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}))
    body = encode_responses_request(chat, upstream_model="gpt-5")
    assert body["instructions"] == "be brief" and body["store"] is False and body["max_output_tokens"] == 300
    assert body["reasoning"] == {"effort": "low", "summary": "auto"} and body["include"] == ["reasoning.encrypted_content"]
    assert body["input"] == [
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_9", "output": "done"}]
    assert body["tools"] == [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}]


def test_reasoning_round_trips_through_other_protocols():
    # Responses reasoning -> Anthropic client (signature "<id>:<encrypted>") -> back to a Responses upstream
    message = decode_messages_request({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "rs_7:gAAAenc"},
                                          {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "r"}]}]})
    body = encode_responses_request(message, upstream_model="gpt-5")
    assert body["input"][1] == {"type": "reasoning", "id": "rs_7", "encrypted_content": "gAAAenc",
                                "summary": [{"type": "summary_text", "text": "t"}]}


def responses_events(out: bytes) -> list[dict]:
    events = []
    for block in out.split(b"\n\n"):
        if block:
            name, data = block.split(b"\n", 1)
            parsed = orjson.loads(data[6:])
            assert parsed["type"] == name[7:].decode()
            events.append(parsed)
    return events


def test_client_stream_sequence_is_consistent():
    request = decode_responses_request({"model": "m", "input": "hi", "stream": True})
    t = StreamTranslator(AnthropicStreamDecoder(), ResponsesStreamEncoder(request, created=5))
    body = anthropic_streams.THINKING_THEN_TOOLS
    events = responses_events(t.feed(body) + t.close())
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["reasoning", "message", "function_call", "function_call"]
    final = events[-1]["response"]
    assert [o["type"] for o in final["output"]] == added
    assert [o["output_index"] for o in events if o["type"] == "response.output_item.done"] == [0, 1, 2, 3]
    assert [orjson.loads(o["arguments"]) for o in final["output"] if o["type"] == "function_call"] == [{"city": "Paris"}, {"city": "London"}]
    assert final["output"][0]["encrypted_content"] == "EqQBCgIYAhIM"


def test_every_split_point_gives_the_same_events():
    request = decode_responses_request({"model": "m", "input": "hi", "stream": True})
    body = anthropic_streams.THINKING_THEN_TOOLS

    def run(pieces):
        t = StreamTranslator(AnthropicStreamDecoder(), ResponsesStreamEncoder(request, created=5))
        return b"".join(t.feed(p) for p in pieces) + t.close()

    whole = run([body])
    for i in range(0, len(body) + 1, 7):
        assert run([body[:i], body[i:]]) == whole


# --- real captures (../shared/real-streams, read in place; skipped when absent) -----------

ROOT = Path(os.environ.get("LLM_BRIDGE_REAL_STREAMS", Path(__file__).resolve().parents[2] / "shared" / "real-streams"))
CAPTURES = ROOT / "openai-responses"


def _files(pattern):
    return sorted(CAPTURES.glob(pattern)) if CAPTURES.is_dir() else []


def _capture_facts(body: bytes) -> dict:
    text, args, usage = "", {}, None
    for line in body.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        event = orjson.loads(line[5:])
        kind = event["type"]
        if kind == "response.output_text.delta":
            text += event["delta"]
        elif kind == "response.output_item.done" and event["item"]["type"] == "function_call":
            args[event["item"]["call_id"]] = orjson.loads(event["item"]["arguments"] or "{}")
        elif kind in ("response.completed", "response.incomplete"):
            usage = event["response"]["usage"]
    return {"text": text, "args": args, "usage": usage}


@pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"no real captures at {CAPTURES}")
@pytest.mark.parametrize("path", _files("*.sse"), ids=lambda p: p.name)
def test_real_responses_stream_decodes_without_loss(path):
    body = path.read_bytes()
    facts = _capture_facts(body)
    t = StreamTranslator(ResponsesStreamDecoder(), ChatCompletionChunkEncoder(model="m", created=1, include_usage=True))
    out = b"".join(t.feed(body[i:i + 61]) for i in range(0, len(body), 61)) + t.close()
    chunks = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
    assert "error" not in chunks[-1], chunks[-1]
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert "".join(d.get("content") or "" for d in deltas) == facts["text"]
    calls, arguments = {}, {}
    for d in deltas:
        for call in d.get("tool_calls", []):
            if "id" in call:
                calls[call["index"]] = call["id"]
            arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
    assert {calls[i]: orjson.loads(arguments[i] or "{}") for i in calls} == facts["args"]
    if facts["usage"]:
        usage = chunks[-1]["usage"]
        assert usage["prompt_tokens"] == facts["usage"]["input_tokens"]
        assert usage["completion_tokens"] == facts["usage"]["output_tokens"]
        assert usage["prompt_tokens_details"]["cached_tokens"] == (facts["usage"].get("input_tokens_details") or {}).get("cached_tokens", 0)


@pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"no real captures at {CAPTURES}")
@pytest.mark.parametrize("path", [p for p in _files("*.json") if b'"output"' in p.read_bytes()], ids=lambda p: p.name)
def test_real_responses_body_decodes_without_loss(path):
    body = orjson.loads(path.read_bytes())
    response = decode_responses_response(body)
    text = "".join(c["text"] for o in body["output"] if o["type"] == "message" for c in o["content"] if c["type"] == "output_text")
    assert "".join(p.text for p in response.parts if isinstance(p, TextPart)) == text
    calls = [o for o in body["output"] if o["type"] == "function_call"]
    assert [(p.id, p.name) for p in response.parts if isinstance(p, ToolCallPart)] == [(c["call_id"], c["name"]) for c in calls]
    assert response.usage.output_tokens == body["usage"]["output_tokens"]


def test_small_limits_are_raised_to_what_the_responses_api_accepts():
    request = decode_messages_request({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    assert encode_responses_request(request, upstream_model="gpt-5")["max_output_tokens"] == 16


def test_anthropic_signature_round_trips_through_a_responses_client():
    from transforms.anthropic.encode_request import encode_messages_request

    request = decode_responses_request({"model": "m", "input": "hi", "stream": True})
    t = StreamTranslator(AnthropicStreamDecoder(), ResponsesStreamEncoder(request, created=5))
    final = responses_events(t.feed(anthropic_streams.THINKING_THEN_TOOLS) + t.close())[-1]["response"]
    calls = [o for o in final["output"] if o["type"] == "function_call"]
    follow = decode_responses_request({"model": "m", "input": [
        {"role": "user", "content": "q"}, *final["output"],
        *[{"type": "function_call_output", "call_id": c["call_id"], "output": "ok"} for c in calls]]})
    body = encode_messages_request(follow, upstream_model="claude-sonnet-4-5")
    assert body["messages"][1]["content"][0] == {"type": "thinking", "thinking": "Need weather.", "signature": "EqQBCgIYAhIM"}
