"""End to end: the official google-genai SDK as a Gemini client, through a real mitmdump, to every
upstream protocol: Gemini (passthrough), Anthropic, OpenAI Chat and OpenAI Responses (translated)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
MODELS = ["gem-sim", "claude-sim", "gpt-sim", "resp-sim"]
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}}})])


@pytest.fixture
def client(bridge):
    return genai.Client(api_key="client-key", http_options=types.HttpOptions(base_url=bridge.base_url, api_version="v1beta"))


def generate(client, model, contents, stream, **config):
    cfg = types.GenerateContentConfig(max_output_tokens=4000, **config)
    if not stream:
        return [client.models.generate_content(model=model, contents=contents, config=cfg)]
    return list(client.models.generate_content_stream(model=model, contents=contents, config=cfg))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_text_and_usage(client, model, stream):
    chunks = generate(client, model, "hi", stream)
    assert "".join(c.text or "" for c in chunks) == SIM_TEXT
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.prompt_token_count > 0 and chunks[-1].usage_metadata.candidates_token_count > 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_parallel_function_call_round(client, model, stream):
    chunks = generate(client, model, "[sim:tools]", stream, tools=[WEATHER])
    parts = [p for c in chunks for p in c.candidates[0].content.parts or []]
    calls = [p.function_call for p in parts if p.function_call]
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "London"})]
    history = [types.Content(role="user", parts=[types.Part(text="[sim:tools]")]),
               types.Content(role="model", parts=parts),
               types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                   name=c.name, id=c.id, response={"content": f"sunny in {c.args['city']}"})) for c in calls])]
    second = generate(client, model, history, stream, tools=[WEATHER])
    assert "".join(c.text or "" for c in second) == "Tool results received: sunny in Paris; sunny in London"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_reasoning(client, simulator, model, stream):
    chunks = generate(client, model, "[sim:thinking]", stream,
                      thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=2048))
    sent = simulator.requests[-1].json  # the ask reached the upstream in its own terms
    asked = {"gem-sim": lambda s: s["generationConfig"]["thinkingConfig"]["thinking_budget"] == 2048,
             "claude-sim": lambda s: s["thinking"] == {"type": "enabled", "budget_tokens": 2048},
             "gpt-sim": lambda s: s["reasoning_effort"] == "low",
             "resp-sim": lambda s: s["reasoning"]["effort"] == "low"}[model]
    assert asked(sent), sent
    parts = [p for c in chunks for p in c.candidates[0].content.parts or []]
    assert any(p.thought and p.text for p in parts) and any(not p.thought and p.text for p in parts), [(p.thought, p.text) for p in parts]


@pytest.mark.parametrize("model", MODELS)
def test_errors(client, model):
    with pytest.raises(errors.ClientError) as info:
        generate(client, model, "[sim:error429]", False)
    assert info.value.code == 429


@pytest.mark.parametrize("model", ["claude-sim", "gem-sim"])
def test_array_framing_without_alt_sse(bridge, model):
    r = httpx.post(f"{bridge.base_url}/v1beta/models/{model}:streamGenerateContent", headers={"x-goog-api-key": "k"},
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, timeout=20)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    chunks = orjson.loads(r.content)
    assert "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]) == SIM_TEXT


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_thinking_signature_survives_a_tool_loop_through_a_gemini_client(bridge, simulator, stream):
    """Anthropic's signed thinking reaches a Gemini client as a thought part's thoughtSignature and,
    handed back, goes upstream as the signed thinking block Anthropic requires in a tool loop."""
    raw = httpx.post(f"{bridge.base_url}/v1beta/models/claude-sim:generateContent", headers={"x-goog-api-key": "k"}, timeout=20, json={
        "contents": [{"role": "user", "parts": [{"text": "[sim:thinking]"}]}],
        "generationConfig": {"maxOutputTokens": 4000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}}})
    parts = raw.json()["candidates"][0]["content"]["parts"]
    thought = next(p for p in parts if p.get("thought"))
    assert thought["thoughtSignature"]
    follow = {"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": parts},
                           {"role": "user", "parts": [{"text": "hi"}]}],
              "generationConfig": {"maxOutputTokens": 4000, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}}}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    r = httpx.post(f"{bridge.base_url}/v1beta/models/claude-sim:{method}", headers={"x-goog-api-key": "k"}, json=follow, timeout=20)
    assert r.status_code == 200, r.text
    sent = simulator.requests[-1].json["messages"][1]["content"]
    assert sent[0] == {"type": "thinking", "thinking": thought["text"], "signature": thought["thoughtSignature"]}
