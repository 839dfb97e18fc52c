"""End to end: the official anthropic SDK -> a real mitmdump running the bridge -> the simulator.

`gpt-sim` is an OpenAI-compatible upstream (translated); `claude-sim` an Anthropic one (passthrough).
"""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def client(bridge):
    return anthropic.Anthropic(base_url=bridge.base_url, api_key="client-key-never-forwarded", max_retries=0, timeout=20)


def ask(client, text, model="gpt-sim", stream=False, **kw):
    kw.setdefault("max_tokens", 1024)
    messages = kw.pop("messages", [{"role": "user", "content": text}])
    if stream:
        with client.messages.stream(model=model, messages=messages, **kw) as s:
            return s.get_final_message()
    return client.messages.create(model=model, messages=messages, **kw)


@pytest.mark.parametrize("stream", [False, True])
def test_text(client, stream):
    m = ask(client, "hi", stream=stream)
    assert [b.type for b in m.content] == ["text"] and m.content[0].text == SIM_TEXT
    assert (m.role, m.model, m.stop_reason, m.stop_sequence) == ("assistant", "gpt-sim", "end_turn", None)
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_thinking(client, stream):
    m = ask(client, "[sim:thinking]", stream=stream, thinking={"type": "enabled", "budget_tokens": 2048})
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert m.content[0].thinking and m.content[1].text


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_use(client, simulator, stream):
    m = ask(client, "[sim:tools]", stream=stream, tools=[WEATHER])
    uses = [b for b in m.content if b.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [
        ("call_sim_01", "get_weather", {"city": "Paris"}), ("call_sim_02", "get_weather", {"city": "London"})]
    assert m.stop_reason == "tool_use"
    sent = simulator.requests[-1].json
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_tool_round_trip_keeps_ids(client, simulator):
    first = ask(client, "[sim:tools]", tools=[WEATHER])
    results = [{"type": "tool_result", "tool_use_id": b.id, "content": f"sunny in {b.input['city']}"}
               for b in first.content if b.type == "tool_use"]
    messages = [{"role": "user", "content": "[sim:tools]"}, {"role": "assistant", "content": first.content},
                {"role": "user", "content": results}]
    second = ask(client, None, stream=True, tools=[WEATHER], messages=messages)
    assert second.content[0].text == "Tool results received: sunny in Paris; sunny in London"
    sent = simulator.requests[-1].json["messages"]  # the simulator checked tool_call_id pairing
    assert [m.get("tool_call_id") for m in sent if m["role"] == "tool"] == ["call_sim_01", "call_sim_02"]


@pytest.mark.parametrize(("scenario", "kw", "stop_reason", "sequence"), [
    ("text", {}, "end_turn", None),
    ("max_tokens", {}, "max_tokens", None),
    ("refusal", {}, "refusal", None),
    ("tools", {"tools": [WEATHER]}, "tool_use", None),
    ("stop_sequence vllm=1", {"stop_sequences": ["STOP"]}, "stop_sequence", "STOP"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_each_stop_reason(client, scenario, kw, stop_reason, sequence, stream):
    m = ask(client, f"[sim:{scenario}]", stream=stream, **kw)
    assert (m.stop_reason, m.stop_sequence) == (stop_reason, sequence)


@pytest.mark.parametrize("stream", [False, True])
def test_cached_usage(client, stream):
    usage = ask(client, "[sim:cached]", stream=stream).usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (212, 1000, 9)


def test_message_start_carries_input_usage(bridge):
    with httpx.stream("POST", f"{bridge.base_url}/v1/messages", json={
            "model": "gpt-sim", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
        body = r.read()
    first = body.split(b"\n\n")[0]
    assert first.startswith(b"event: message_start") and b'"input_tokens":0' not in first
    assert body.split(b"\n\n")[1].startswith(b"event: ping")
    assert body.rstrip().endswith(b'data: {"type":"message_stop"}')


@pytest.mark.parametrize(("scenario", "exception", "status"), [
    ("error400", anthropic.BadRequestError, 400), ("error401", anthropic.AuthenticationError, 401),
    ("error404", anthropic.NotFoundError, 404), ("error429", anthropic.RateLimitError, 429),
    ("error529", anthropic.APIStatusError, 529)])
def test_errors_in_the_anthropic_envelope(client, scenario, exception, status):
    with pytest.raises(exception) as info:
        ask(client, f"[sim:{scenario}]")
    assert info.value.status_code == status
    assert info.value.body["type"] == "error" and info.value.body["error"]["message"].startswith("oai upstream:")


def test_mid_stream_failure_is_an_error_event(client):
    with pytest.raises(anthropic.APIStatusError, match="simulated mid-stream failure"):
        ask(client, "[sim:midstream_error]", stream=True)


def test_client_key_is_not_forwarded(client, simulator):
    ask(client, "hi")
    headers = simulator.requests[-1].headers
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert not any("client-key-never-forwarded" in v for v in headers.values())


# --- passthrough to an Anthropic upstream ---------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_passthrough_keeps_body_and_beta_headers(client, simulator, stream):
    m = client.beta.messages.create(
        model="claude-sim", max_tokens=2000, messages=[{"role": "user", "content": "[sim:thinking]"}],
        thinking={"type": "enabled", "budget_tokens": 1024}, betas=["interleaved-thinking-2025-05-14"], stream=False,
    ) if not stream else None
    if stream:
        with client.beta.messages.stream(model="claude-sim", max_tokens=2000, betas=["interleaved-thinking-2025-05-14"],
                                         messages=[{"role": "user", "content": "[sim:thinking]"}],
                                         thinking={"type": "enabled", "budget_tokens": 1024}) as s:
            m = s.get_final_message()
    assert [b.type for b in m.content] == ["thinking", "text"] and m.content[0].signature  # signed: passed through
    sent = simulator.requests[-1]
    assert sent.path == "/v1/messages" and sent.json["model"] == "claude-sonnet-4-5"
    assert sent.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY


def test_count_tokens(client, simulator):
    estimate = client.messages.count_tokens(model="gpt-sim", messages=[{"role": "user", "content": "hello " * 100}])
    assert 100 < estimate.input_tokens < 300
    forwarded = client.messages.count_tokens(model="claude-sim", messages=[{"role": "user", "content": "hi"}])
    assert simulator.requests[-1].path == "/v1/messages/count_tokens"
    assert forwarded.input_tokens == len(simulator.requests[-1].body) // 4 + 1


def test_count_tokens_for_a_model_the_bridge_does_not_serve_is_a_404(client):
    """As on every other endpoint (it used to answer 200 with an estimate)."""
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    error = missing.value.body["error"]
    assert error["type"] == "not_found_error" and "Configured models: " in error["message"] and "claude-sim" in error["message"]


@pytest.mark.parametrize(("body", "status", "error_type", "named"), [
    (b"{oops", 400, "invalid_request_error", "not valid JSON"),
    (b'{"model":"gpt-sim","messages":[{"role":"user","content":"x"}]}', 400, "invalid_request_error", "max_tokens: Field required"),
    (b'{"model":"gpt-sim","max_tokens":5,"messages":[{"role":"robot","content":"x"}]}', 400, "invalid_request_error", "messages.0.role"),
    (b'{"model":"gpt-sim","max_tokens":5,"messages":[{"role":"user","content":[{"type":"hologram"}]}]}', 400, "invalid_request_error", "messages.0.content.0.type"),
    (b'{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}', 404, "not_found_error", "'nope' does not exist"),
])
def test_bad_input_never_reaches_the_upstream(bridge, simulator, body, status, error_type, named):
    before = len(simulator.requests)
    r = httpx.post(f"{bridge.base_url}/v1/messages?beta=true", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == error_type
    assert named in r.json()["error"]["message"]
    assert len(simulator.requests) == before
