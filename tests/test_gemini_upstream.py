"""Gemini as an upstream: request encoding, response and stream decoding, thought signatures
carried in tool-call ids, real captures decoded without loss, and end to end with the official
openai and anthropic SDKs through a real mitmdump to the Gemini simulator (a gemini-3 model, so
the simulator refuses a follow-up turn whose thought signature did not come back)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.gemini.call_ids import pack, unpack
from transforms.gemini.decode_response import decode_gemini_response
from transforms.gemini.decode_stream import GeminiStreamDecoder
from transforms.gemini.encode_request import encode_gemini_request
from transforms.ir import TextPart, ThinkingPart, ToolCallPart
from transforms.openai_chat.decode_request import decode_chat_request
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.stream import StreamTranslator

SIGNATURE = base64.b64encode(b"\x12\x34opaque+/signature==").decode()


def test_signature_packing_round_trips_and_stays_a_valid_tool_id():
    packed = pack("call_abc", SIGNATURE)
    assert all(c.isalnum() or c in "_-" for c in packed)
    assert unpack(packed) == ("call_abc", SIGNATURE)
    assert unpack("call_plain") == ("call_plain", None) and pack("x", None) == "x"


def test_request_encoding():
    request = decode_chat_request(orjson.dumps({
        "model": "m", "max_completion_tokens": 500, "temperature": 0.2, "stop": ["END"], "reasoning_effort": "low",
        "tool_choice": {"type": "function", "function": {"name": "w"}},
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"$schema": "x", "type": "object", "additionalProperties": False,
                                                                           "properties": {"city": {"type": ["string", "null"]}}}}}],
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": None, "tool_calls": [{"id": pack("c1", SIGNATURE), "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]},
                     {"role": "tool", "tool_call_id": pack("c1", SIGNATURE), "content": "sunny"}]}))
    body = encode_gemini_request(request, upstream_model="gemini-3-pro-preview")
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"content": "sunny"}}}]}]
    assert body["generationConfig"] == {"maxOutputTokens": 500, "temperature": 0.2, "stopSequences": ["END"],
                                        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["w"]}}
    parameters = body["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "$schema" not in parameters and "additionalProperties" not in parameters
    assert parameters["properties"]["city"] == {"type": "string", "nullable": True}


def test_whole_response_decoding():
    body = {"responseId": "r1", "modelVersion": "gemini-3-pro-preview", "candidates": [{"finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": "plan", "thought": True}, {"text": "Checking."},
        {"functionCall": {"name": "w", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE},
        {"functionCall": {"name": "w", "args": {"city": "Rome"}}}]}}],
        "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 40, "candidatesTokenCount": 20, "thoughtsTokenCount": 7}}
    response = decode_gemini_response(body)
    assert response.parts[:2] == [ThinkingPart("plan"), TextPart("Checking.")]
    calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
    assert [unpack(c.id) for c in calls] == [("call_r1_0", SIGNATURE), ("call_r1_1", None)]
    assert response.finish_reason == "tool_calls"
    assert (response.usage.input_tokens, response.usage.cache_read_tokens, response.usage.output_tokens) == (60, 40, 27)
    blocked = decode_gemini_response({"promptFeedback": {"blockReason": "SAFETY"}, "candidates": []})
    assert blocked.finish_reason == "content_filter"
    assert decode_gemini_response({"candidates": [{"finishReason": "MAX_TOKENS", "content": {"parts": [{"text": "x"}]}}]}).finish_reason == "length"


BLOCKING_REASONS = ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "MODEL_ARMOR",
                    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"]


@pytest.mark.parametrize("reason", BLOCKING_REASONS)
def test_every_blocking_finish_reason_is_a_content_filter_in_each_client(reason):
    """Whole and streamed: OpenAI's `content_filter`, Anthropic's `refusal`, Responses' incomplete content_filter."""
    from transforms.translation import translate_answer

    whole = {"candidates": [{"finishReason": reason, "content": {"role": "model", "parts": [{"text": "x"}]}}]}
    assert decode_gemini_response(whole).finish_reason == "content_filter"
    from transforms.sse import SSEDecoder

    decoder = GeminiStreamDecoder(provider="g")
    (event,) = SSEDecoder().feed(b"data: " + orjson.dumps(whole) + b"\n\n")
    events = [*decoder.decode(event), *decoder.close()]
    assert events[-1].finish_reason == "content_filter"
    expected = {"openai-chat": ("choices", 0, "finish_reason", "content_filter"),
                "anthropic": ("stop_reason", "refusal"),
                "openai-responses": ("incomplete_details", "reason", "content_filter")}
    for protocol, path in expected.items():
        client = CLIENT_CODECS[protocol]
        request = client.decode_request({"model": "m", "max_tokens": 10, "input": "hi",
                                         "messages": [{"role": "user", "content": "hi"}]})
        _, _, body = translate_answer(client, UPSTREAM_CODECS["gemini"], request, status=200,
                                      body=orjson.dumps(whole), created=0, provider="g")
        value = orjson.loads(body)
        for key in path[:-1]:
            value = value[key]
        assert value == path[-1], (protocol, reason)


# --- real captures (../shared/real-streams, read in place; skipped when absent) ------------

ROOT = Path(os.environ.get("LLM_BRIDGE_REAL_STREAMS", Path(__file__).resolve().parents[2] / "shared" / "real-streams"))
CAPTURES = ROOT / "gemini"


def _sse_chunks(body: bytes) -> list[dict]:
    return [orjson.loads(block[5:]) for block in body.replace(b"\r\n", b"\n").split(b"\n\n") if block.startswith(b"data:")]


@pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"no real captures at {CAPTURES}")
@pytest.mark.parametrize("path", sorted(CAPTURES.glob("*.sse")) if CAPTURES.is_dir() else [], ids=lambda p: p.name)
def test_real_gemini_stream_decodes_without_loss(path):
    body = path.read_bytes()
    chunks = _sse_chunks(body)
    parts = [p for c in chunks for cand in c.get("candidates", [])[:1] for p in (cand.get("content") or {}).get("parts", [])]
    text = "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))
    calls = [(p["functionCall"]["name"], p["functionCall"].get("args") or {}, p.get("thoughtSignature")) for p in parts if "functionCall" in p]
    usage = next((c["usageMetadata"] for c in reversed(chunks) if c.get("usageMetadata")), {})
    t = StreamTranslator(GeminiStreamDecoder(), ChatCompletionChunkEncoder(model="m", created=1, include_usage=True))
    out = b"".join(t.feed(body[i:i + 53]) for i in range(0, len(body), 53)) + t.close()
    decoded = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
    assert "error" not in decoded[-1], decoded[-1]
    deltas = [c["choices"][0]["delta"] for c in decoded if c.get("choices")]
    assert "".join(d.get("content") or "" for d in deltas) == text
    got, args = {}, {}
    for d in deltas:
        for call in d.get("tool_calls", []):
            if "id" in call:
                got[call["index"]] = (call["function"]["name"], call["id"])
            args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
    assert [(got[i][0], orjson.loads(args[i]), unpack(got[i][1])[1]) for i in sorted(got)] == calls
    if usage:
        assert decoded[-1]["usage"]["prompt_tokens"] == usage.get("promptTokenCount", 0)
        assert decoded[-1]["usage"]["completion_tokens"] == usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)


# --- end to end through a real mitmdump to the Gemini simulator ----------------------------

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.fixture
def oai(bridge):
    return openai.OpenAI(base_url=f"{bridge.base_url}/v1", api_key="k", max_retries=0, timeout=20)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_client_tool_round_keeps_thought_signatures(oai, simulator, stream):
    def ask(messages):
        if not stream:
            m = oai.chat.completions.create(model="gem-sim", messages=messages, tools=[WEATHER]).choices[0]
            return m.message.content or "", [(c.id, c.function.name, c.function.arguments) for c in m.message.tool_calls or []], m.finish_reason
        text, calls, finish = "", {}, None
        for chunk in oai.chat.completions.create(model="gem-sim", messages=messages, tools=[WEATHER], stream=True):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for c in choice.delta.tool_calls or []:
                    entry = calls.setdefault(c.index, [c.id, c.function.name, ""])
                    entry[2] += c.function.arguments or ""
                finish = choice.finish_reason or finish
        return text, [tuple(v) for v in calls.values()], finish

    text, calls, finish = ask([{"role": "user", "content": "[sim:tools]"}])
    assert finish == "tool_calls" and [json.loads(a) for _, _, a in calls] == [{"city": "Paris"}, {"city": "London"}]
    assert unpack(calls[0][0])[1]  # the first call carries Gemini 3's thought signature, inside its id
    history = [{"role": "user", "content": "[sim:tools]"},
               {"role": "assistant", "content": text or None, "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]},
               *[{"role": "tool", "tool_call_id": i, "content": "sunny"} for i, _, _ in calls]]
    text, _, finish = ask(history)  # the simulator refuses this turn unless the signature came back
    assert text == "Tool results received: sunny; sunny" and finish == "stop"
    sent = simulator.requests[-1]
    assert sent.headers["x-goog-api-key"] == "gemini-sim-key" and ":streamGenerateContent" in sent.path if stream else ":generateContent" in sent.path


def test_calls_another_model_made_reach_gemini_3_with_googles_placeholder_signature(oai, simulator):
    """A conversation begun on another model (Claude Code switched with /model, a gateway falling back) has tool
    calls Gemini never signed: the first call of each step goes up with Google's documented placeholder, which
    Gemini 3 accepts, instead of a 400."""
    history = [{"role": "user", "content": "[sim:tools]"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": f"toolu_{city}", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
                   for city in ("Paris", "London")]},
               *[{"role": "tool", "tool_call_id": f"toolu_{city}", "content": "sunny"} for city in ("Paris", "London")]]
    answer = oai.chat.completions.create(model="gem-sim", messages=history, tools=[WEATHER]).choices[0]
    assert answer.message.content == "Tool results received: sunny; sunny"
    calls = [part for content in orjson.loads(simulator.requests[-1].body)["contents"] for part in content["parts"]
             if "functionCall" in part]
    assert [part.get("thoughtSignature") for part in calls] == ["skip_thought_signature_validator", None]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_to_gemini(bridge, stream):
    client = anthropic.Anthropic(base_url=bridge.base_url, api_key="k", max_retries=0)
    kw = dict(model="gem-sim", max_tokens=4000, messages=[{"role": "user", "content": "[sim:thinking]"}],
              thinking={"type": "enabled", "budget_tokens": 2048})
    if stream:
        with client.messages.stream(**kw) as s:
            m = s.get_final_message()
    else:
        m = client.messages.create(**kw)
    assert [b.type for b in m.content] == ["thinking", "text"] and m.usage.output_tokens > 0


def test_responses_client_to_gemini_and_errors(oai):
    with oai.responses.stream(model="gem-sim", input="hi", max_output_tokens=500) as s:
        assert s.get_final_response().output_text == "Hello from the simulator! Ünïcödé ✓ 🌍"
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="gem-sim", messages=[{"role": "user", "content": "[sim:error429]"}])
    with pytest.raises(openai.APIError, match="overloaded"):
        for _ in oai.chat.completions.create(model="gem-sim", messages=[{"role": "user", "content": "[sim:midstream_error]"}], stream=True):
            pass


def _json_captures():
    if not CAPTURES.is_dir():
        return []
    out = []
    for path in sorted(CAPTURES.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        if isinstance(data, list) or (isinstance(data, dict) and "candidates" in data):
            out.append(path)
    return out


@pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"no real captures at {CAPTURES}")
@pytest.mark.parametrize("path", _json_captures(), ids=lambda p: p.name)
def test_real_gemini_json_decodes_without_loss(path):
    """Whole GenerateContentResponse bodies, and streams in the JSON-array framing (no alt=sse)."""
    from transforms.json_array import JSONArrayFraming

    body = path.read_bytes()
    data = orjson.loads(body)
    chunks = data if isinstance(data, list) else [data]
    parts = [p for c in chunks for cand in c.get("candidates", [])[:1] for p in (cand.get("content") or {}).get("parts", [])]
    text = "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))
    calls = [(p["functionCall"]["name"], p["functionCall"].get("args") or {}) for p in parts if "functionCall" in p]
    usage = next((c["usageMetadata"] for c in reversed(chunks) if c.get("usageMetadata")), {})
    if isinstance(data, list):
        t = StreamTranslator(GeminiStreamDecoder(), ChatCompletionChunkEncoder(model="m", created=1, include_usage=True), JSONArrayFraming())
        out = b"".join(t.feed(body[i:i + 37]) for i in range(0, len(body), 37)) + t.close()
        decoded = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
        assert "error" not in decoded[-1], decoded[-1]
        deltas = [c["choices"][0]["delta"] for c in decoded if c.get("choices")]
        got_text = "".join(d.get("content") or "" for d in deltas)
        names, args = {}, {}
        for d in deltas:
            for call in d.get("tool_calls", []):
                if "id" in call:
                    names[call["index"]] = call["function"]["name"]
                args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
        got_calls = [(names[i], orjson.loads(args[i])) for i in sorted(names)]
        got_usage = decoded[-1]["usage"]
        prompt, completion = got_usage["prompt_tokens"], got_usage["completion_tokens"]
    else:
        response = decode_gemini_response(data)
        got_text = "".join(p.text for p in response.parts if isinstance(p, TextPart))
        got_calls = [(p.name, p.arguments) for p in response.parts if isinstance(p, ToolCallPart)]
        u = response.usage
        prompt, completion = u.input_tokens + u.cache_read_tokens, u.output_tokens
    assert got_text == text and got_calls == calls
    if usage:
        assert prompt == usage.get("promptTokenCount", 0)
        assert completion == usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)


@pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"no real captures at {CAPTURES}")
@pytest.mark.parametrize(("name", "expected"), [
    ("vercel-vertex-streamed-function-args.chunks.jsonl",
     [("getWeather", {"location": "Boston"}), ("getWeather", {"location": "San Francisco"})]),
    ("vercel-vertex-parallel-streamed-function-args.chunks.jsonl",
     [("read_theme", {}), ("read_screen", {"id": "A"}), ("read_screen", {"id": "B"}), ("read_screen", {"id": "C"})]),
])
def test_vertex_streamed_function_arguments(name, expected):
    """partialArgs/willContinue: arguments assembled by JSON path across chunks (what the capture's chunks spell out)."""
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{name} absent")
    body = b"".join(b"data: " + line + b"\r\n\r\n" for line in path.read_bytes().splitlines() if line.strip())
    t = StreamTranslator(GeminiStreamDecoder(), ChatCompletionChunkEncoder(model="m", created=1, include_usage=False))
    out = b"".join(t.feed(body[i:i + 41]) for i in range(0, len(body), 41)) + t.close()
    names, args = {}, {}
    for line in out.split(b"\n\n"):
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:]).get("choices", []):
                for call in choice["delta"].get("tool_calls", []):
                    if "id" in call:
                        names[call["index"]] = call["function"]["name"]
                    args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
    assert [(names[i], orjson.loads(args[i])) for i in sorted(names)] == expected


def test_partial_args_by_json_path():
    from transforms.gemini.partial_args import apply_partial_args

    arguments: dict = {}
    apply_partial_args(arguments, [{"jsonPath": "$.city", "stringValue": "San ", "willContinue": True}])
    apply_partial_args(arguments, [{"jsonPath": "$.city", "stringValue": "Francisco"}, {"jsonPath": "$.days", "numberValue": 3}])
    apply_partial_args(arguments, [{"jsonPath": "$.opts.units[1]", "stringValue": "C"}, {"jsonPath": "$.flag", "boolValue": True}])
    assert arguments == {"city": "San Francisco", "days": 3, "opts": {"units": [None, "C"]}, "flag": True}
