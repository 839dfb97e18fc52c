"""Neutral request -> Anthropic Messages: every field of the OpenAI Chat client's request."""

import orjson
import pytest

from transforms.anthropic.encode_request import encode_messages_request
from transforms.anthropic.thinking_budget import BUDGET_BY_EFFORT
from transforms.errors import BridgeError
from transforms.openai_chat.decode_request import decode_chat_request
from transforms.upstream_options import UpstreamOptions

USER = {"role": "user", "content": "hi"}


def translate(max_tokens=None, max_output_tokens=None, **body):
    body.setdefault("model", "alias")
    body.setdefault("messages", [USER])
    options = UpstreamOptions(max_tokens=max_tokens, max_output_tokens=max_output_tokens)
    return encode_messages_request(decode_chat_request(orjson.dumps(body)), upstream_model="claude-sonnet-4-5", options=options)


def test_system_developer_and_role_merging():
    out = translate(messages=[
        {"role": "system", "content": "sys"},
        {"role": "developer", "content": "dev"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d"},
        {"role": "user", "content": "e"},
    ])
    assert out["system"] == "sys\n\ndev"
    assert out["model"] == "claude-sonnet-4-5"
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
        {"role": "user", "content": [{"type": "text", "text": "e"}]},
    ]


def test_images():
    out = translate(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]}])
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        # an image by URL counts as 1600 tokens: long enough for the bridge to mark a cache breakpoint
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}, "cache_control": {"type": "ephemeral"}},
    ]


TOOLS = [{"type": "function", "function": {"name": "w", "description": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def test_tools_and_tool_choice():
    out = translate(tools=TOOLS)
    assert out["tools"] == [{"name": "w", "description": "weather", "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert "tool_choice" not in out
    assert translate(tools=TOOLS, tool_choice="auto")["tool_choice"] == {"type": "auto"}
    assert translate(tools=TOOLS, tool_choice="none")["tool_choice"] == {"type": "none"}
    assert translate(tools=TOOLS, tool_choice="required")["tool_choice"] == {"type": "any"}
    named = {"type": "function", "function": {"name": "w"}}
    assert translate(tools=TOOLS, tool_choice=named)["tool_choice"] == {"type": "tool", "name": "w"}
    assert translate(tools=TOOLS, parallel_tool_calls=False)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert translate(tools=TOOLS, tool_choice="required", parallel_tool_calls=False)["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    no_params = [{"type": "function", "function": {"name": "now"}}]
    assert translate(tools=no_params)["tools"][0]["input_schema"] == {"type": "object", "properties": {}}


def test_tool_use_and_results_pair_up():
    out = translate(messages=[
        USER,
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "toolu_A", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_B", "type": "function", "function": {"name": "w", "arguments": '{"city":"Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_A", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_B", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "and?"},
    ])
    assert out["messages"][1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_A", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_B", "name": "w", "input": {"city": "Rome"}},
    ]
    assert out["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_A", "content": [{"type": "text", "text": "sunny"}]},
        {"type": "tool_result", "tool_use_id": "toolu_B", "content": [{"type": "text", "text": "rain"}]},
        {"type": "text", "text": "and?"},
    ]}


def test_invalid_tool_arguments_name_the_message():
    with pytest.raises(BridgeError) as info:
        translate(messages=[USER, {"role": "assistant", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "w", "arguments": "{not json"}}]}])
    assert info.value.status == 400
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"
    assert "messages[1]" in info.value.message


def test_sampling_and_limits():
    out = translate(max_completion_tokens=300, temperature=0.2, top_p=0.8, stop=["X", "Y"], user="alice", top_k=4)
    assert (out["max_tokens"], out["temperature"], out["top_p"], out["top_k"]) == (300, 0.2, 0.8, 4)
    assert out["stop_sequences"] == ["X", "Y"]
    assert out["metadata"] == {"user_id": "alice"}
    assert translate(max_tokens=77)["max_tokens"] == 77
    assert translate()["max_tokens"] == 64000  # the model's own limit (claude-sonnet-4 family)
    assert translate(max_tokens=1234)["max_tokens"] == 1234  # a configured default
    assert translate(max_tokens=1234, max_completion_tokens=9)["max_tokens"] == 9  # the client wins
    assert translate(max_output_tokens=8192, max_completion_tokens=100000)["max_tokens"] == 8192  # the model's cap


@pytest.mark.parametrize("effort", list(BUDGET_BY_EFFORT))
def test_reasoning_effort_becomes_a_thinking_budget(effort):
    out = translate(reasoning_effort=effort)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": BUDGET_BY_EFFORT[effort]}
    assert "thinking" not in translate(reasoning_effort="none")


def test_thinking_budget_fits_under_max_tokens():
    assert translate(reasoning_effort="high", max_tokens=5000)["thinking"]["budget_tokens"] == 4999
    with pytest.raises(BridgeError, match="max_tokens above 1024"):
        translate(reasoning_effort="low", max_tokens=500)



def test_sampling_an_anthropic_model_cannot_take_beside_thinking_is_dropped_not_refused():
    """The Gemini CLI always sends topK beside its thinking config: dropped, and listed for the proxy's log."""
    request = decode_chat_request({"model": "m", "messages": [USER], "reasoning_effort": "low", "temperature": 0.3})
    request.top_k = 64
    out = encode_messages_request(request, upstream_model="claude")
    assert out["thinking"]["type"] == "enabled" and "temperature" not in out and "top_k" not in out
    assert request.dropped == ["temperature 0.3 (Anthropic models take none beside thinking)",
                               "top_k 64 (Anthropic models take none beside thinking)"]
    assert translate(reasoning_effort="low", temperature=1)["temperature"] == 1  # the one value it takes
    assert translate(temperature=0.3)["temperature"] == 0.3  # and without thinking, as sent


def test_thinking_skipped_inside_an_unsigned_tool_loop():
    # Anthropic rejects thinking when the tool-use turn being continued has no signed thinking block
    messages = [USER, {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "ok"}]
    assert "thinking" not in translate(reasoning_effort="high", messages=messages)
    assert "thinking" in translate(reasoning_effort="high", messages=[*messages, {"role": "assistant", "content": "done"}, USER])


def test_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    out = translate(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "JSON object" in translate(response_format={"type": "json_object"})["system"]
    assert "output_config" not in translate(response_format={"type": "text"})


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"),
     ({"presence_penalty": 0.5}, "presence_penalty"), ({"frequency_penalty": 1}, "frequency_penalty"),
     ({"logit_bias": {"1": 2}}, "logit_bias"), ({"seed": 7}, "seed"), ({"temperature": 1.5}, "temperature"),
     ({"made_up": True}, "made_up")],
)
def test_impossible_asks_are_refused(extra, field):
    with pytest.raises(BridgeError) as info:
        translate(**extra)
    assert info.value.status == 400 and info.value.param == field


def test_stream_flag():
    assert translate(stream=True)["stream"] is True
    assert "stream" not in translate()
