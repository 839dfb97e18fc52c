"""Anthropic Messages clients: request decoding, OpenAI Chat upstream encoding and
decoding, and the Anthropic event grammar sent back."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.anthropic.decode_request import decode_messages_request
from transforms.anthropic.encode_response import encode_message
from transforms.anthropic.encode_stream import AnthropicStreamEncoder
from transforms.anthropic.errors import encode_error
from transforms.errors import BridgeError
from transforms.openai_chat.decode_response import decode_chat_completion
from transforms.openai_chat.decode_stream import OpenAIChatStreamDecoder
from transforms.openai_chat.encode_request import encode_chat_request
from transforms.stream import StreamTranslator
from transforms.upstream_options import UpstreamOptions

BASE = {"model": "claude-sonnet-5-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]}


def to_openai(options: UpstreamOptions = UpstreamOptions(), **body) -> dict:
    return encode_chat_request(decode_messages_request({**BASE, **body}), upstream_model="gpt-x", options=options)


def rejected(**body) -> BridgeError:
    with pytest.raises(BridgeError) as info:
        decode_messages_request(orjson.dumps({**BASE, **body}))
    return info.value


# --- request: Anthropic -> neutral -> OpenAI Chat ------------------------------------


def test_system_forms_flattened_and_cache_control_dropped():
    system = [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "two"}]
    out = to_openai(system=system, messages=[
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "per-turn"}]},  # Claude Code's per-turn system message
    ])
    assert out["messages"][0] == {"role": "system", "content": "one\n\ntwo\n\nper-turn"}
    assert "cache_control" not in orjson.dumps(out).decode()
    assert to_openai(system="plain")["messages"][0] == {"role": "system", "content": "plain"}


def test_content_blocks_and_images():
    out = to_openai(messages=[
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
        {"role": "assistant", "content": "plain string answer"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ])
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    assert out["messages"][1] == {"role": "assistant", "content": "plain string answer"}  # string assistant content kept
    assert out["messages"][2] == {"role": "user", "content": "a\n\nb"}


def test_tool_use_and_results_become_tool_messages_right_after_the_assistant_turn():
    out = to_openai(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "let me look", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "w", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "no data"},
                         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QQ"}}]},
            {"type": "text", "text": "and tomorrow?"}]},
    ])
    assistant, first, second, user = out["messages"][1:]
    assert assistant["content"] == "Checking."
    assert [(c["id"], orjson.loads(c["function"]["arguments"])) for c in assistant["tool_calls"]] == [
        ("toolu_1", {"city": "Paris"}), ("toolu_2", {"city": "Rome"})]
    assert "reasoning_content" not in assistant
    assert first == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    assert second == {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no data"}
    assert user["content"] == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,QQ"}},
                               {"type": "text", "text": "and tomorrow?"}]


def test_reasoning_handed_back_for_upstreams_that_need_it():
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "think", "signature": ""},
                                                  {"type": "tool_use", "id": "t", "name": "w", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]
    out = to_openai(UpstreamOptions(quirks=frozenset({"reasoning-content-history"})), messages=messages)
    assert out["messages"][1]["reasoning_content"] == "think"


def test_tools_choice_and_options():
    tools = [{"name": "w", "description": "weather", "input_schema": {"type": "object", "properties": {}}},
             {"name": "later", "input_schema": {"type": "object"}, "defer_loading": True}]
    out = to_openai(tools=tools, tool_choice={"type": "any", "disable_parallel_tool_use": True},
                    stop_sequences=["END"], temperature=0.3, top_p=0.9, top_k=5, metadata={"user_id": "u1"},
                    context_management={"edits": []})
    assert out["tools"] == [{"type": "function", "function": {"name": "w", "description": "weather",
                                                             "parameters": {"type": "object", "properties": {}}}}]
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)
    assert (out["stop"], out["temperature"], out["top_p"], out["user"]) == (["END"], 0.3, 0.9, "u1")
    assert "top_k" not in out and "context_management" not in out
    assert to_openai(UpstreamOptions(quirks=frozenset({"top-k"})), top_k=5)["top_k"] == 5
    assert to_openai(tools=tools[:1], tool_choice={"type": "tool", "name": "w"})["tool_choice"] == {
        "type": "function", "function": {"name": "w"}}
    assert to_openai(tools=tools[:1], tool_choice={"type": "none"})["tool_choice"] == "none"


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [({"type": "enabled", "budget_tokens": 2048}, None, "low"), ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
     ({"type": "enabled", "budget_tokens": 32000}, None, "high"), ({"type": "adaptive"}, {"effort": "low"}, "low"),
     ({"type": "adaptive"}, {"effort": "max"}, "high"), ({"type": "adaptive"}, {"effort": "xhigh"}, "high"),
     ({"type": "adaptive", "display": "omitted"}, {"effort": "medium"}, "medium"),  # as Claude Code 2.1.332 sends
     ({"type": "adaptive"}, None, "medium"),
     ({"type": "disabled"}, None, None)],
)
def test_thinking_becomes_reasoning_effort(thinking, output_config, effort):
    out = to_openai(thinking=thinking, **({"output_config": output_config} if output_config else {}))
    assert out.get("reasoning_effort") == effort
    assert "reasoning_effort" not in to_openai(UpstreamOptions(quirks=frozenset({"no-reasoning-effort"})), thinking=thinking)


def test_max_tokens_clamped_and_named_as_the_upstream_wants():
    assert to_openai(max_tokens=128000)["max_tokens"] == 128000
    assert to_openai(UpstreamOptions(max_output_tokens=16384), max_tokens=128000)["max_tokens"] == 16384
    assert to_openai(UpstreamOptions(quirks=frozenset({"max-completion-tokens"})))["max_completion_tokens"] == 1024


def test_stream_asks_for_usage():
    assert to_openai(stream=True)["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("body", "named"),
    [({"max_tokens": None}, "max_tokens: Field required"), ({"max_tokens": "9"}, "max_tokens"),
     ({"messages": []}, "messages"), ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
     ({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]}, "messages.0.content.0.type"),
     ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"), ({"model": ""}, "model"),
     ({"thinking": {"type": "sometimes"}}, "thinking.type")],
)
def test_bad_input_names_the_field(body, named):
    error = rejected(**body)
    assert error.status == 400 and named in error.message


def test_documents_and_server_tools_refused_for_openai_upstreams():
    doc = {"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}
    with pytest.raises(BridgeError, match="messages.0.content.0.type"):
        to_openai(messages=[doc])
    with pytest.raises(BridgeError, match="tools.0.type"):
        to_openai(tools=[{"type": "web_search_20250305", "name": "web_search"}])


# --- response: OpenAI Chat -> neutral -> Anthropic ------------------------------------


def test_whole_completion_to_message():
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "tool_calls",
                  "message": {"role": "assistant", "content": "Checking.", "reasoning_content": "hmm",
                              "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]}}],
                  "usage": {"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 60}}}
    request = decode_messages_request(BASE)
    message = encode_message(decode_chat_completion(completion), request)
    assert message["id"] == "msg_chatcmpl-1" and message["model"] == "claude-sonnet-5-5" and message["type"] == "message"
    assert message["content"] == [{"type": "thinking", "thinking": "hmm", "signature": ""}, {"type": "text", "text": "Checking."},
                                  {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}}]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 40, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60}


@pytest.mark.parametrize(("finish", "extra", "stop_reason", "sequence"),
                         [("stop", {}, "end_turn", None), ("stop", {"stop_reason": "END"}, "stop_sequence", "END"),
                          ("length", {}, "max_tokens", None), ("tool_calls", {}, "tool_use", None),
                          ("content_filter", {}, "refusal", None)])
def test_finish_reasons(finish, extra, stop_reason, sequence):
    completion = {"id": "c", "choices": [{"index": 0, "finish_reason": finish, "message": {"content": "x"}, **extra}]}
    message = encode_message(decode_chat_completion(completion), decode_messages_request(BASE))
    assert (message["stop_reason"], message["stop_sequence"]) == (stop_reason, sequence)


def test_invalid_tool_arguments_from_the_model_are_kept():
    completion = {"id": "c", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "tool_calls": [{"id": "t", "function": {"name": "w", "arguments": "{broken"}}]}}]}
    assert decode_chat_completion(completion).parts[0].arguments == {"_raw_arguments": "{broken"}


@pytest.mark.parametrize(("kind", "status", "error_type"),
                         [("invalid_request", 400, "invalid_request_error"), ("authentication", 401, "authentication_error"),
                          ("not_found", 404, "not_found_error"), ("rate_limit", 429, "rate_limit_error"),
                          ("overloaded", 529, "overloaded_error"), ("api_error", 500, "api_error")])
def test_error_envelope(kind, status, error_type):
    out_status, body = encode_error(BridgeError(kind, "why"))
    assert out_status == status
    assert orjson.loads(body) == {"type": "error", "error": {"type": error_type, "message": "why"}}


# --- stream: OpenAI Chat chunks -> Anthropic events ------------------------------------


def chunk(delta=None, finish=None, usage=None, choices=True) -> bytes:
    data = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []}
    if usage is not None:
        data["usage"] = usage
    return b"data: " + orjson.dumps(data) + b"\n\n"


STREAM = b"".join([
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Need "}), chunk({"reasoning_content": "weather."}),
    chunk({"content": "Let me "}), chunk({"content": "check ✓."}),
    # arguments before the name: held, not lost
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]}),
    chunk({"tool_calls": [{"index": 0, "id": "call_A", "type": "function", "function": {"name": "w", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_B", "type": "function", "function": {"name": "w", "arguments": "{\"city\": \"Rome\"}"}}]}),
    chunk({}, "tool_calls"),
    chunk(choices=False, usage={"prompt_tokens": 50, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 10}}),
    b"data: [DONE]\n\n",
])


def anthropic_stream(body: bytes, pieces=None) -> bytes:
    translator = StreamTranslator(OpenAIChatStreamDecoder(provider="p"), AnthropicStreamEncoder(decode_messages_request(BASE)))
    return b"".join(translator.feed(p) for p in (pieces or [body])) + translator.close()


def events(out: bytes) -> list[tuple[str, dict]]:
    result = []
    for block in out.split(b"\n\n"):
        if block:
            name, data = block.split(b"\n", 1)
            assert data.startswith(b"data: ")
            parsed = orjson.loads(data[6:])
            assert parsed["type"] == name[7:].decode()  # the event name always equals the payload type
            result.append((parsed["type"], parsed))
    return result


def test_event_grammar():
    out = events(anthropic_stream(STREAM))
    names = [n for n, _ in out]
    assert names == ["message_start", "ping",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    starts = [e["content_block"]["type"] for n, e in out if n == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use", "tool_use"]
    # every delta belongs to the block opened last, with matching delta types
    open_index, kinds = None, {"thinking": "thinking_delta", "text": "text_delta", "tool_use": "input_json_delta"}
    for name, e in out:
        if name == "content_block_start":
            open_index, open_kind = e["index"], e["content_block"]["type"]
        elif name == "content_block_delta":
            assert e["index"] == open_index and e["delta"]["type"] == kinds[open_kind]
            if e["delta"]["type"] == "input_json_delta":
                assert e["delta"]["partial_json"]  # never empty
        elif name == "content_block_stop":
            assert e["index"] == open_index
    message_start = out[0][1]["message"]
    assert message_start["usage"]["input_tokens"] > 0  # estimated until the upstream reports
    final = dict(out)["message_delta"]
    assert final["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert final["usage"] == {"input_tokens": 40, "output_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 10}
    args = {}
    for name, e in out:
        if name == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
            args[e["index"]] = args.get(e["index"], "") + e["delta"]["partial_json"]
    assert [orjson.loads(a) for a in args.values()] == [{"city": "Paris"}, {"city": "Rome"}]


def test_mid_stream_error_becomes_an_error_event():
    body = chunk({"content": "Par"}) + b'data: {"error": {"message": "upstream fell over", "type": "server_error"}}\n\n'
    out = events(anthropic_stream(body))
    assert out[-1][0] == "error" and out[-1][1]["error"]["message"] == "p upstream: upstream fell over"


def test_cut_stream_becomes_an_error_event():
    out = events(anthropic_stream(chunk({"content": "Par"})))
    assert out[-1][0] == "error" and "ended before" in out[-1][1]["error"]["message"]


def test_every_split_point_gives_the_same_events():
    whole = anthropic_stream(STREAM)
    for i in range(0, len(STREAM) + 1):
        assert anthropic_stream(STREAM, [STREAM[:i], STREAM[i:]]) == whole, i


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=15))
def test_random_splits(cuts):
    cuts = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)])]
    assert anthropic_stream(STREAM, pieces) == anthropic_stream(STREAM)


def test_tool_schema_cleaning_is_a_provider_quirk_and_never_touches_arguments():
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
              "properties": {"format": {"type": "string", "format": "uri"}}}
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {"format": "x", "$schema": "kept"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]
    tools = [{"name": "w", "input_schema": schema}]
    assert to_openai(tools=tools, messages=messages)["tools"][0]["function"]["parameters"] == schema  # off by default
    out = to_openai(UpstreamOptions(quirks=frozenset({"clean-tool-schemas"})), tools=tools, messages=messages)
    cleaned = out["tools"][0]["function"]["parameters"]
    assert "$schema" not in cleaned and "additionalProperties" not in cleaned and "format" in cleaned["properties"]
    assert orjson.loads(out["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"format": "x", "$schema": "kept"}


def test_a_long_metadata_user_id_goes_on_hashed_and_a_short_one_as_it_is():
    """Claude Code's `metadata.user_id` is a JSON string with its device, account and session ids: an
    OpenAI-compatible provider gets its SHA-256 as `user`, a short id goes as it is."""
    import hashlib

    def user(user_id):
        return decode_messages_request(orjson.dumps({"model": "m", "max_tokens": 5, "metadata": {"user_id": user_id},
                                                     "messages": [{"role": "user", "content": "hi"}]})).user

    claude_code = '{"device_id":"' + "d" * 64 + '","account_uuid":"a","session_id":"s"}'
    assert user(claude_code) == hashlib.sha256(claude_code.encode()).hexdigest()
    assert user("alice") == "alice" and user("") is None


def test_a_per_turn_effort_in_a_system_message_sets_this_calls_reasoning_effort():
    """Claude Code's per-turn control (`per-turn-control-2026-07-01`): `output_config.effort` on a mid-conversation
    system message holds from that turn on, over the request's own."""
    def effort(*efforts):
        messages = [{"role": "user", "content": "hi"}]
        for e in efforts:
            messages += [{"role": "system", "content": "turn", "output_config": {"effort": e}},
                         {"role": "user", "content": "again"}]
        return decode_messages_request(orjson.dumps({
            "model": "m", "max_tokens": 5, "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "messages": messages})).reasoning_effort

    assert effort() == "high" and effort("low") == "low" and effort("high", "low") == "low"
