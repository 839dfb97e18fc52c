"""End to end: the official openai SDK -> a real mitmdump running the bridge -> the simulator."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def client(bridge):
    return openai.OpenAI(base_url=f"{bridge.base_url}/v1", api_key="client-secret-token", max_retries=0, timeout=20)


def ask(client, text, model="claude-sim", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def collect(stream):
    text, reasoning, finish, usage, calls = "", "", None, None, {}
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            text += delta.content or ""
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                entry["id"] = call.id or entry["id"]
                entry["name"] = (call.function and call.function.name) or entry["name"]
                entry["arguments"] += (call.function and call.function.arguments) or ""
            finish = choice.finish_reason or finish
    return {"text": text, "reasoning": reasoning, "finish": finish, "usage": usage, "calls": calls}


# --- translated: OpenAI Chat client -> Anthropic upstream ------------------------------


def test_text_non_stream(client):
    r = ask(client, "hi")
    assert r.choices[0].message.content == SIM_TEXT
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "claude-sim" and r.id.startswith("msg_") and r.created > 1_700_000_000
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0


def test_text_stream(client):
    out = collect(ask(client, "hi", stream=True))
    assert out["text"] == SIM_TEXT and out["finish"] == "stop" and out["usage"] is None


@pytest.mark.parametrize("split", [1, 3, 17])
def test_irregular_upstream_chunking(client, split):
    out = collect(ask(client, f"[sim:tools split={split}]", stream=True, tools=[WEATHER_TOOL]))
    assert [orjson.loads(c["arguments"]) for c in out["calls"].values()] == [{"city": "Paris"}, {"city": "London"}]
    assert collect(ask(client, f"[sim:text split={split}]", stream=True))["text"] == SIM_TEXT


def test_thinking(client):
    out = collect(ask(client, "[sim:thinking]", stream=True))
    assert out["reasoning"] and out["text"]
    message = ask(client, "[sim:thinking]").choices[0].message
    assert message.model_extra["reasoning_content"] == out["reasoning"]
    assert message.content == out["text"]


def test_parallel_tool_calls_stream_and_whole(client):
    out = collect(ask(client, "[sim:tools]", stream=True, tools=[WEATHER_TOOL]))
    assert out["finish"] == "tool_calls"
    assert [(c["id"], c["name"], orjson.loads(c["arguments"])) for c in out["calls"].values()] == [
        ("toolu_sim_01", "get_weather", {"city": "Paris"}), ("toolu_sim_02", "get_weather", {"city": "London"})]
    whole = ask(client, "[sim:tools]", tools=[WEATHER_TOOL]).choices[0]
    assert whole.finish_reason == "tool_calls"
    assert [(c.id, orjson.loads(c.function.arguments)) for c in whole.message.tool_calls] == [
        ("toolu_sim_01", {"city": "Paris"}), ("toolu_sim_02", {"city": "London"})]


def test_tool_loop_round_trip(client, simulator):
    first = ask(client, "[sim:tools]", tools=[WEATHER_TOOL]).choices[0].message
    messages = [{"role": "user", "content": "[sim:tools]"}, first.model_dump(exclude_none=True)]
    for call in first.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"sunny in {orjson.loads(call.function.arguments)['city']}"})
    r = client.chat.completions.create(model="claude-sim", messages=messages, tools=[WEATHER_TOOL])
    assert r.choices[0].message.content == "Tool results received: sunny in Paris; sunny in London"
    sent = simulator.requests[-1].json  # the simulator validated tool_use/tool_result pairing
    assert [b["tool_use_id"] for b in sent["messages"][-1]["content"]] == ["toolu_sim_01", "toolu_sim_02"]


@pytest.mark.parametrize(
    ("scenario", "finish"),
    [("text", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tools", "tool_calls"), ("refusal", "content_filter")],
)
def test_each_stop_reason(client, scenario, finish):
    kw = {"stop": ["STOP"]} if scenario == "stop_sequence" else {}
    kw |= {"tools": [WEATHER_TOOL]} if scenario == "tools" else {}
    assert collect(ask(client, f"[sim:{scenario}]", stream=True, **kw))["finish"] == finish
    assert ask(client, f"[sim:{scenario}]", **kw).choices[0].finish_reason == finish


def test_cached_token_usage(client):
    usage = collect(ask(client, "[sim:cached]", stream=True, stream_options={"include_usage": True}))["usage"]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens) == (1212, 9, 1000)
    whole = ask(client, "[sim:cached]").usage
    assert (whole.prompt_tokens, whole.prompt_tokens_details.cached_tokens) == (1212, 1000)


@pytest.mark.parametrize(
    ("scenario", "exception", "status"),
    [("error400", openai.BadRequestError, 400), ("error401", openai.AuthenticationError, 401),
     ("error404", openai.NotFoundError, 404), ("error429", openai.RateLimitError, 429),
     ("error529", openai.InternalServerError, 503)],
)
@pytest.mark.parametrize("stream", [False, True])
def test_each_error_class(client, scenario, exception, status, stream):
    with pytest.raises(exception) as info:
        collect(ask(client, f"[sim:{scenario}]", stream=True)) if stream else ask(client, f"[sim:{scenario}]")
    assert info.value.status_code == status
    body = info.value.body
    assert body["message"].startswith("claude upstream: simulated")
    if status == 429:
        assert info.value.response.headers["retry-after"] == "7"


def test_mid_stream_error_raises_in_the_sdk(client):
    stream = ask(client, "[sim:midstream_error]", stream=True)
    with pytest.raises(openai.APIError, match="simulated overloaded mid-stream"):
        collect(stream)


# --- passthrough: OpenAI Chat client -> OpenAI-compatible upstream ---------------------


def test_passthrough_injects_usage_and_drops_it_again(client, simulator):
    out = collect(ask(client, "hi", model="gpt-sim", stream=True))
    assert out["text"] == SIM_TEXT and out["usage"] is None
    sent = simulator.requests[-1]
    assert sent.json["model"] == "gpt-4o-mini" and sent.json["stream_options"] == {"include_usage": True}
    asked = collect(ask(client, "hi", model="gpt-sim", stream=True, stream_options={"include_usage": True}))
    assert asked["usage"].total_tokens > 0


def test_passthrough_forwards_the_body_as_is(client, simulator):
    client.chat.completions.create(model="gpt-sim", messages=[{"role": "user", "content": "hi"}], n=1, seed=3,
                                   extra_body={"vendor_option": {"x": 1}})
    sent = simulator.requests[-1].json
    assert sent == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": 1, "seed": 3,
                    "vendor_option": {"x": 1}}


def test_passthrough_whole_and_errors(client):
    assert ask(client, "hi", model="gpt-sim").choices[0].message.content == SIM_TEXT
    with pytest.raises(openai.RateLimitError):
        ask(client, "[sim:error429]", model="gpt-sim")


def test_provider_model_addressing(client, simulator):
    assert ask(client, "hi", model="claude/claude-opus-4-1").choices[0].message.content == SIM_TEXT
    assert simulator.requests[-1].json["model"] == "claude-opus-4-1"


# --- the proxy's own contract -------------------------------------------------------


def test_credentials_client_key_never_forwarded(client, simulator):
    ask(client, "hi")
    sent = simulator.requests[-1]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert "authorization" not in sent.headers
    assert not any("client-secret-token" in v for v in sent.headers.values())
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.headers["host"] == simulator.base_url.removeprefix("http://")
    ask(client, "hi", model="gpt-sim")
    assert simulator.requests[-1].headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_stream_framing(bridge):
    with httpx.stream("POST", f"{bridge.base_url}/v1/chat/completions", json={
            "model": "claude-sim", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        body = r.read()
    assert body.endswith(b"data: [DONE]\n\n")


def test_events_are_not_buffered(client):
    started = time.monotonic()
    arrivals = []
    for chunk in ask(client, "[sim:timed n=5 interval_ms=300]", stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5
    # each event is passed on as it comes: the upstream's 300 ms pacing survives
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(0.2 < gap < 0.5 for gap in gaps), gaps


def test_models_list(client):
    assert sorted(m.id for m in client.models.list()) == ["claude-sim", "gem-sim", "gpt-sim", "resp-sim"]


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [(b"{oops", 400, "not valid JSON"),
     (b'{"model":"claude-sim"}', 400, "'messages' is required"),
     (b'{"model":"claude-sim","messages":[{"role":"user","content":7}]}', 400, "messages[0].content"),
     (b'{"model":"claude-sim","messages":[{"role":"user","content":"x"}],"max_tokens":"lots"}', 400, "'max_tokens'"),
     (b'{"model":"claude-sim","messages":[{"role":"user","content":"x"}],"n":3}', 400, "'n'=3"),
     (b'{"model":"nope","messages":[{"role":"user","content":"x"}]}', 404, "'nope' does not exist")],
)
def test_bad_input_never_reaches_the_upstream(bridge, simulator, body, status, named):
    before = len(simulator.requests)
    r = httpx.post(f"{bridge.base_url}/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert named in r.json()["error"]["message"]
    assert len(simulator.requests) == before


def test_unknown_route_is_404_and_not_forwarded(bridge, simulator):
    before = len(simulator.requests)
    r = httpx.post(f"{bridge.base_url}/v1/embeddings", json={"model": "x", "input": "y"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    assert len(simulator.requests) == before
