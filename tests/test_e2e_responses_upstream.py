"""End to end to an OpenAI Responses upstream (resp-sim): from Responses clients (passthrough),
OpenAI Chat clients and Anthropic clients (translated), with the official SDKs."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.conftest import OPENAI_KEY

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"


@pytest.fixture
def oai(bridge):
    return openai.OpenAI(base_url=f"{bridge.base_url}/v1", api_key="client-key", max_retries=0, timeout=20)


@pytest.fixture
def claude(bridge):
    return anthropic.Anthropic(base_url=bridge.base_url, api_key="client-key", max_retries=0, timeout=20)


@pytest.mark.parametrize("stream", [False, True])
def test_responses_client_passthrough(oai, simulator, stream):
    kw = dict(model="resp-sim", input="hi", max_output_tokens=500, metadata={"k": "v"})
    if stream:
        with oai.responses.stream(**kw) as s:
            r = s.get_final_response()
    else:
        r = oai.responses.create(**kw)
    assert r.output_text == SIM_TEXT
    sent = simulator.requests[-1]
    assert sent.path == "/v1/responses" and sent.json["model"] == "gpt-5-mini" and sent.json["metadata"] == {"k": "v"}
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"


CHAT_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.mark.parametrize("stream", [False, True])
def test_chat_client_to_responses_upstream(oai, simulator, stream):
    def ask(messages):
        if stream:
            text, calls, finish = "", {}, None
            for chunk in oai.chat.completions.create(model="resp-sim", messages=messages, tools=[CHAT_TOOL], stream=True):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    for call in choice.delta.tool_calls or []:
                        entry = calls.setdefault(call.index, {"id": call.id, "name": call.function.name, "arguments": ""})
                        entry["arguments"] += call.function.arguments or ""
                    finish = choice.finish_reason or finish
            return text, list(calls.values()), finish
        m = oai.chat.completions.create(model="resp-sim", messages=messages, tools=[CHAT_TOOL]).choices[0]
        calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in m.message.tool_calls or []]
        return m.message.content or "", calls, m.finish_reason

    text, calls, finish = ask([{"role": "user", "content": "[sim:tools]"}])
    assert finish == "tool_calls" and [json.loads(c["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "London"}]
    history = [{"role": "user", "content": "[sim:tools]"},
               {"role": "assistant", "content": text or None, "tool_calls": [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]},
               *[{"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in calls]]
    text, _, finish = ask(history)
    assert text == "Tool results received: sunny; sunny" and finish == "stop"
    sent = simulator.requests[-1].json
    assert [i["type"] for i in sent["input"] if "type" in i][-2:] == ["function_call_output", "function_call_output"]
    assert sent["store"] is False


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_to_responses_upstream_with_reasoning(claude, simulator, stream):
    kw = dict(model="resp-sim", max_tokens=1000, messages=[{"role": "user", "content": "[sim:thinking]"}],
              thinking={"type": "enabled", "budget_tokens": 2000})
    if stream:
        with claude.messages.stream(**kw) as s:
            m = s.get_final_message()
    else:
        m = claude.messages.create(**kw)
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert m.content[0].thinking and m.content[1].text
    assert simulator.requests[-1].json["reasoning"] == {"effort": "low", "summary": "auto"}


@pytest.mark.parametrize("stream", [False, True])
def test_errors_from_a_responses_upstream(oai, claude, stream):
    with pytest.raises(openai.RateLimitError):
        if stream:
            with oai.responses.stream(model="resp-sim", input="[sim:error429]") as s:
                s.get_final_response()
        else:
            oai.chat.completions.create(model="resp-sim", messages=[{"role": "user", "content": "[sim:error429]"}])
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="resp-sim", max_tokens=10, messages=[{"role": "user", "content": "[sim:error429]"}])
