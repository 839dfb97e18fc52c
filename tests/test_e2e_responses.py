"""End to end: the official openai SDK's Responses API through a real mitmdump, translated to an
OpenAI Chat upstream (gpt-sim) and to an Anthropic upstream (claude-sim)."""

from __future__ import annotations

import json

import openai
import pytest

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
MODELS = ["gpt-sim", "claude-sim"]


@pytest.fixture
def client(bridge):
    return openai.OpenAI(base_url=f"{bridge.base_url}/v1", api_key="client-key", max_retries=0, timeout=20)


def respond(client, model, text, stream, **kw):
    kw.setdefault("max_output_tokens", 2048)
    if stream:
        with client.responses.stream(model=model, input=text, **kw) as s:
            return s.get_final_response()
    return client.responses.create(model=model, input=text, **kw)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_text_and_usage(client, model, stream):
    r = respond(client, model, "hi", stream)
    assert r.output_text == SIM_TEXT and r.status == "completed"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_round(client, model, stream):
    r = respond(client, model, "[sim:tools]", stream, tools=[WEATHER])
    calls = [o for o in r.output if o.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "London"})]
    follow_up = [{"role": "user", "content": "[sim:tools]"}, *[o.model_dump(exclude_none=True) for o in r.output],
                 *[{"type": "function_call_output", "call_id": c.call_id, "output": f"sunny in {json.loads(c.arguments)['city']}"} for c in calls]]
    second = respond(client, model, follow_up, stream, tools=[WEATHER])
    assert second.output_text == "Tool results received: sunny in Paris; sunny in London"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_reasoning(client, model, stream):
    r = respond(client, model, "[sim:thinking]", stream, reasoning={"effort": "low"})
    reasoning = [o for o in r.output if o.type == "reasoning"]
    assert reasoning and reasoning[0].summary[0].text
    assert r.output_text


@pytest.mark.parametrize("model", MODELS)
def test_max_tokens_is_incomplete(client, model):
    assert respond(client, model, "[sim:max_tokens]", False).incomplete_details.reason == "max_output_tokens"
    # streamed, it ends with response.incomplete as OpenAI's does (the SDK's get_final_response
    # only accepts response.completed, so the events are read directly)
    with client.responses.stream(model=model, input="[sim:max_tokens]", max_output_tokens=2048) as s:
        last = list(s)[-1]
    assert last.type == "response.incomplete" and last.response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_errors(client, model, stream):
    with pytest.raises(openai.RateLimitError):
        respond(client, model, "[sim:error429]", stream)


def test_codex_websocket_attempt_is_refused_at_once(bridge):
    import httpx

    r = httpx.get(f"{bridge.base_url}/v1/responses", headers={"upgrade": "websocket", "connection": "upgrade"}, timeout=5)
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
