"""End to end: the official google-genai SDK as a Gemini client, through a real mitmdump, to every
upstream protocol: Gemini (passthrough), Anthropic, OpenAI Chat and OpenAI Responses (translated)."""

from __future__ import annotations

import base64

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


# --- what the Gemini CLI sends (issue 14): topK and includeThoughts on every request -------------------------

GEMINI_CLI_CONFIG = {"temperature": 0, "topP": 1, "topK": 64, "thinkingConfig": {"includeThoughts": True}}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_the_gemini_clis_generation_config_works_to_every_upstream(bridge, simulator, model, stream):
    """`includeThoughts` alone asks for no reasoning (only to be shown what the model thinks anyway), so no
    upstream is asked for reasoning, and `topK` is not refused beside thinking."""
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    r = httpx.post(f"{bridge.base_url}/v1beta/models/{model}:{method}", headers={"x-goog-api-key": "k"}, timeout=20,
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": GEMINI_CLI_CONFIG})
    assert r.status_code == 200, r.text
    sent = simulator.requests[-1].json
    assert "thinking" not in sent and "reasoning_effort" not in sent and "reasoning" not in sent, sent
    if model == "claude-sim":
        assert sent["top_k"] == 64


def test_the_gemini_clis_thinking_level_with_top_k_reaches_anthropic_without_top_k(bridge, simulator):
    config = {**GEMINI_CLI_CONFIG, "temperature": 1, "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}}
    r = httpx.post(f"{bridge.base_url}/v1beta/models/claude-sim:generateContent", headers={"x-goog-api-key": "k"},
                   timeout=20, json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": config})
    assert r.status_code == 200, r.text
    sent = simulator.requests[-1].json
    assert sent["thinking"]["type"] == "enabled" and "top_k" not in sent  # dropped, with a log line
    assert "dropped what claude cannot run: top_k 64" in bridge.log()


def test_a_tool_result_finds_its_call_when_the_call_carried_a_thought_signature(bridge, simulator):
    """The Gemini CLI hands back the functionCall with its thoughtSignature and answers it by the plain id."""
    signature = base64.b64encode(b"opaque-signature").decode()
    contents = [
        {"role": "user", "parts": [{"text": "[sim:tools]"}]},
        {"role": "model", "parts": [{"functionCall": {"id": "call_7", "name": "get_weather", "args": {"city": "Paris"}},
                                     "thoughtSignature": signature}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "call_7", "name": "get_weather",
                                                         "response": {"output": "sunny"}}}]},
    ]
    r = httpx.post(f"{bridge.base_url}/v1beta/models/gpt-sim:generateContent", headers={"x-goog-api-key": "k"},
                   timeout=20, json={"contents": contents, "generationConfig": GEMINI_CLI_CONFIG})
    assert r.status_code == 200, r.text
    messages = simulator.requests[-1].json["messages"]
    call_id = messages[1]["tool_calls"][0]["id"]
    assert messages[2] == {"role": "tool", "tool_call_id": call_id, "content": "sunny"}


@pytest.mark.parametrize("model", ["claude/claude-sonnet-4-5", "claude%2Fclaude-sonnet-4-5"])
def test_a_provider_model_id_works_on_gemini_paths(bridge, simulator, model):
    r = httpx.post(f"{bridge.base_url}/v1beta/models/{model}:generateContent", headers={"x-goog-api-key": "k"},
                   timeout=20, json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert r.status_code == 200, r.text
    assert simulator.requests[-1].json["model"] == "claude-sonnet-4-5"


def test_the_google_sdk_with_a_provider_model_id(client):
    chunks = generate(client, "claude/claude-sonnet-4-5", "hi", False)
    assert "".join(c.text or "" for c in chunks) == SIM_TEXT


@pytest.mark.parametrize(("path", "status"), [
    ("/v1beta/models/no-such-model:generateContent", 404),
    ("/v1beta/models/claude-sim:countEverything", 404),
    ("/v1beta/models", 404),
])
def test_every_error_on_a_gemini_path_is_in_googles_envelope(bridge, path, status):
    r = httpx.post(f"{bridge.base_url}{path}", headers={"x-goog-api-key": "k"}, timeout=20,
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) >= {"code", "message", "status"} and error["code"] == status, error
