"""The simulator's Gemini API front-end, driven with raw HTTP (the google-genai SDK is not installed).

Until simulator.py routes Gemini paths itself, the test subclasses `Simulator` and sends
`/v1beta/models/{model}:generateContent` and `:streamGenerateContent` to `gemini.handle`.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.simulator import Simulator, gemini

KEY = "gemini-sim-key"
HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"
WEATHER = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
        }
    ]
}


class GeminiSimulator(Simulator):
    """The simulator with the Gemini routes wired in, as simulator.py will have them."""

    async def _dispatch(self, request):
        if request.method == "POST" and gemini.route(request.path):
            self.requests.append(request)
            return gemini.handle(request, self._context)
        if gemini.looks_gemini(request):
            self.requests.append(request)
            return gemini.not_found_response(request)
        return await super()._dispatch(request)


@pytest.fixture(scope="module")
def sim():
    with GeminiSimulator(anthropic_key="sk-ant-sim", openai_key="sk-sim") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def http(sim):
    with httpx.Client(base_url=sim.base_url, headers={"x-goog-api-key": KEY}, timeout=10) as client:
        yield client


def body(text: str = "hi", **extra) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def generate(http, payload: dict, model: str = "gemini-2.5-flash", **params) -> httpx.Response:
    return http.post(f"/v1beta/models/{model}:generateContent", json=payload, params=params)


def stream(http, payload: dict, model: str = "gemini-2.5-flash", *, sse: bool = True) -> httpx.Response:
    params = {"alt": "sse"} if sse else {}
    return http.post(f"/v1beta/models/{model}:streamGenerateContent", json=payload, params=params)


def sse_chunks(response: httpx.Response) -> list[dict]:
    raw = response.content
    assert raw.endswith(b"\r\n\r\n")
    events = raw.split(b"\r\n\r\n")[:-1]
    assert all(event.startswith(b"data: ") for event in events)
    return [json.loads(event[len(b"data: ") :]) for event in events]


def array_chunks(response: httpx.Response) -> list[dict]:
    raw = response.content
    assert raw.startswith(b"[{\n") and raw.endswith(b"}\n]")
    return json.loads(raw)


def chunks_of(response: httpx.Response, sse: bool) -> list[dict]:
    return sse_chunks(response) if sse else array_chunks(response)


def parts_of(chunks: list[dict]) -> list[dict]:
    return [part for chunk in chunks for part in chunk["candidates"][0].get("content", {}).get("parts", [])]


def text_of(chunks: list[dict], *, thought: bool = False) -> str:
    return "".join(part.get("text", "") for part in parts_of(chunks) if bool(part.get("thought")) == thought)


def model_turn(chunks: list[dict]) -> dict:
    """The model content a client appends to its history: the streamed parts, minus empty text."""
    parts = [part for part in parts_of(chunks) if part != {"text": ""}]
    return {"role": "model", "parts": parts}


# --- text -----------------------------------------------------------------------------------------


def test_text_not_streamed(http):
    response = generate(http, body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.content.startswith(b'{\n  "candidates": [')  # pretty-printed like the real API
    reply = response.json()
    candidate = reply["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": HELLO}], "role": "model"}
    assert candidate["finishReason"] == "STOP" and candidate["index"] == 0
    assert reply["modelVersion"] == "gemini-2.5-flash" and reply["responseId"].startswith("simResp")
    usage = reply["usageMetadata"]
    assert usage["candidatesTokenCount"] == 5
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 5
    assert usage["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_text_streamed(http, sse):
    response = stream(http, body(), sse=sse)
    assert response.status_code == 200
    expected_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
    assert response.headers["content-type"] == expected_type
    assert response.headers["transfer-encoding"] == "chunked"
    chunks = chunks_of(response, sse)
    assert len(chunks) == 5 and text_of(chunks) == HELLO
    assert [chunk["candidates"][0].get("finishReason") for chunk in chunks] == [None] * 4 + ["STOP"]
    assert len({chunk["responseId"] for chunk in chunks}) == 1
    counts = [chunk["usageMetadata"]["candidatesTokenCount"] for chunk in chunks]
    assert counts == [1, 2, 3, 4, 5]  # cumulative on every chunk
    assert all(chunk["modelVersion"] == "gemini-2.5-flash" for chunk in chunks)


def test_wire_framing_matches_captures(http):
    sse = stream(http, body()).content
    assert sse.startswith(b'data: {"candidates": [{"content": {"parts": [{"text": "Hello"}],"role": "model"},')
    array = stream(http, body(), sse=False).content
    assert array.startswith(b'[{\n  "candidates": [\n    {\n') and b"\n}\n,\r\n{\n" in array
    assert array.endswith(b"\n}\n]")


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_split_every_byte_gives_same_output(http, sse):
    whole = chunks_of(stream(http, body("[sim:tools]"), sse=sse), sse)
    split = chunks_of(stream(http, body("[sim:tools split=1]"), sse=sse), sse)
    assert len(split) == len(whole) == 3  # "Let me", " check.", both calls with the finish reason
    assert same_but_ids(split) == same_but_ids(whole)


def same_but_ids(chunks: list[dict]) -> list:
    """Chunks minus what differs between two requests: ids, signature nonces, prompt size."""
    comparable = []
    for chunk in chunks:
        candidate = json.loads(json.dumps(chunk["candidates"][0]))
        for part in candidate["content"].get("parts", []):
            part.pop("thoughtSignature", None)
        comparable.append((candidate, chunk["usageMetadata"].get("candidatesTokenCount"), chunk["modelVersion"]))
    return comparable


def test_gemini3_text_ends_with_signed_empty_part(http):
    chunks = sse_chunks(stream(http, body(), model="gemini-3-pro-preview"))
    last = chunks[-1]["candidates"][0]
    assert last["finishReason"] == "STOP"
    (closing,) = last["content"]["parts"]
    assert closing["text"] == "" and gemini.signature_is_valid(closing["thoughtSignature"], closing)
    whole = generate(http, body(), model="gemini-3-pro-preview").json()
    (part,) = whole["candidates"][0]["content"]["parts"]
    assert part["text"] == HELLO and "thoughtSignature" in part


# --- thinking ---------------------------------------------------------------------------------------


def thinking_body(include: bool, **config) -> dict:
    return body("[sim:thinking]", generationConfig={"thinkingConfig": {"includeThoughts": include, **config}})


def test_thinking_with_thought_summaries(http):
    chunks = sse_chunks(stream(http, thinking_body(True)))
    parts = parts_of(chunks)
    assert parts[0] == {"text": "Let me think this", "thought": True}
    assert text_of(chunks, thought=True) == "Let me think this through carefully."
    assert text_of(chunks) == "The answer is 42."
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] == 2
    whole = generate(http, thinking_body(True)).json()
    assert whole["candidates"][0]["content"]["parts"] == [
        {"text": "Let me think this through carefully.", "thought": True},
        {"text": "The answer is 42."},
    ]


def test_thinking_hidden_without_include_thoughts_and_off_with_zero_budget(http):
    chunks = sse_chunks(stream(http, thinking_body(False)))
    assert not any(part.get("thought") for part in parts_of(chunks))
    assert text_of(chunks) == "The answer is 42."
    usage = chunks[-1]["usageMetadata"]
    assert usage["thoughtsTokenCount"] == 2 and usage["candidatesTokenCount"] == 2
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 4
    usage = generate(http, thinking_body(True, thinkingBudget=0)).json()["usageMetadata"]
    assert "thoughtsTokenCount" not in usage


# --- tools ------------------------------------------------------------------------------------------


def test_tools_parallel_calls_in_one_chunk_signed_on_gemini3(http):
    chunks = sse_chunks(stream(http, body("[sim:tools]", tools=[WEATHER]), model="gemini-3-flash-preview"))
    calls = [chunk for chunk in chunks if any("functionCall" in part for part in parts_of([chunk]))]
    assert len(calls) == 1
    first, second = calls[0]["candidates"][0]["content"]["parts"]
    assert first["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    assert second == {"functionCall": {"name": "get_weather", "args": {"city": "London"}}}  # only the first is signed
    assert gemini.signature_is_valid(first["thoughtSignature"], first)
    assert not gemini.signature_is_valid(first["thoughtSignature"], second)  # bound to the call
    assert text_of(chunks) == "Let me check."
    assert chunks[-1]["candidates"][0] == {"content": {"parts": [{"text": ""}], "role": "model"},
                                           "finishReason": "STOP", "index": 0}


def test_tools_not_streamed_and_call_ids_on_newer_models(http):
    reply = generate(http, body("[sim:tools]"), model="gemini-2.5-pro").json()
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "STOP" and candidate["finishMessage"] == "Model generated function call(s)."
    parts = candidate["content"]["parts"]
    assert parts[0] == {"text": "Let me check."} and "thoughtSignature" in parts[1]
    assert "id" not in parts[1]["functionCall"]
    newer = generate(http, body("[sim:tools]"), model="gemini-3.1-pro-preview").json()
    parts = newer["candidates"][0]["content"]["parts"]
    ids = [part["functionCall"]["id"] for part in parts[1:]]
    assert len(set(ids)) == 2 and all(len(i) == 8 for i in ids)


def test_tool_noargs_and_read(http):
    parts = generate(http, body("[sim:tool_noargs]")).json()["candidates"][0]["content"]["parts"]
    assert parts[0]["functionCall"] == {"name": "get_time", "args": {}}
    chunks = sse_chunks(stream(http, body("[sim:read path=/tmp/x.txt]")))
    calls = [part["functionCall"] for part in parts_of(chunks) if "functionCall" in part]
    assert calls == [{"name": "Read", "args": {"file_path": "/tmp/x.txt"}}]


def round_trip(model_content: dict, *responses: str) -> dict:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "[sim:tools]"}]},
            model_content,
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": text}}} for text in responses
            ]},
        ],
        "tools": [WEATHER],
    }


@pytest.mark.parametrize("model", ["gemini-3-pro-preview", "gemini-2.5-flash"])
def test_function_response_round_trip(http, model):
    chunks = sse_chunks(stream(http, body("[sim:tools]", tools=[WEATHER]), model=model))
    reply = generate(http, round_trip(model_turn(chunks), "sunny", "rainy"), model=model)
    assert reply.status_code == 200, reply.text
    assert reply.json()["candidates"][0]["content"]["parts"][0]["text"] == "Tool results received: sunny; rainy"


def test_gemini3_requires_the_issued_signature(http):
    model = "gemini-3-pro-preview"
    turn = model_turn(sse_chunks(stream(http, body("[sim:tools]", tools=[WEATHER]), model=model)))
    unsigned = {"role": "model",
                "parts": [{k: v for k, v in part.items() if k != "thoughtSignature"} for part in turn["parts"]]}
    missing = generate(http, round_trip(unsigned, "sunny", "rainy"), model=model)
    assert missing.status_code == 400
    error = missing.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "missing a thought_signature" in error["message"]
    assert "`default_api:get_weather` , position 2" in error["message"]
    # The same history is fine for Gemini 2.5, which does not enforce signatures.
    assert generate(http, round_trip(unsigned, "sunny", "rainy"), model="gemini-2.5-flash").status_code == 200

    altered = json.loads(json.dumps(turn))
    first_call = next(part for part in altered["parts"] if "functionCall" in part)
    first_call["functionCall"]["args"]["city"] = "Rome"  # the signature binds the arguments
    corrupted = generate(http, round_trip(altered, "sunny", "rainy"), model=model)
    assert corrupted.status_code == 400 and corrupted.json()["error"]["message"] == "Corrupted thought signature."

    placeholder = json.loads(json.dumps(unsigned))
    next(part for part in placeholder["parts"] if "functionCall" in part)["thoughtSignature"] = (
        "skip_thought_signature_validator"
    )
    assert generate(http, round_trip(placeholder, "sunny", "rainy"), model=model).status_code == 200


def test_function_turn_pairing(http):
    turn = model_turn(sse_chunks(stream(http, body("[sim:tools]", tools=[WEATHER]))))
    one_answer = generate(http, round_trip(turn, "sunny"))
    assert one_answer.status_code == 400
    assert "number of function response parts is equal to the number of function call parts" in one_answer.text
    stray = body()
    stray["contents"].append({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]})
    assert "function response turn comes immediately after a function call turn" in generate(http, stray).text


# --- stop reasons, usage, errors ------------------------------------------------------------------------


def test_max_tokens(http):
    chunks = sse_chunks(stream(http, body("[sim:max_tokens]")))
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert text_of(chunks) == "This answer is cut off before it"
    assert generate(http, body("[sim:max_tokens]")).json()["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_refusal_is_safety(http):
    candidate = generate(http, body("[sim:refusal]")).json()["candidates"][0]
    assert candidate["finishReason"] == "SAFETY" and candidate["content"] == {}
    assert any(rating.get("blocked") for rating in candidate["safetyRatings"])
    last = sse_chunks(stream(http, body("[sim:refusal]")))[-1]["candidates"][0]
    assert last["finishReason"] == "SAFETY" and "safetyRatings" in last


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_cached_usage(http, sse):
    usage = chunks_of(stream(http, body("[sim:cached]"), sse=sse), sse)[-1]["usageMetadata"]
    assert usage["promptTokenCount"] == 1212  # 12 uncached + 1000 read + 200 written: Gemini counts them all
    assert usage["cachedContentTokenCount"] == 1000
    assert usage["cacheTokensDetails"] == [{"modality": "TEXT", "tokenCount": 1000}]
    assert usage["candidatesTokenCount"] == 9 and usage["totalTokenCount"] == 1221


@pytest.mark.parametrize(
    ("scenario", "code", "status"),
    [
        ("error400", 400, "INVALID_ARGUMENT"),
        ("error401", 401, "UNAUTHENTICATED"),
        ("error403", 403, "PERMISSION_DENIED"),
        ("error404", 404, "NOT_FOUND"),
        ("error429", 429, "RESOURCE_EXHAUSTED"),
        ("error500", 500, "INTERNAL"),
        ("error529", 503, "UNAVAILABLE"),
    ],
)
def test_error_scenarios(http, scenario, code, status):
    response = generate(http, body(f"[sim:{scenario}]"))
    assert response.status_code == code
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status) and error["message"].startswith("simulated ")
    if code == 429:
        assert error["details"][-1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    streamed = stream(http, body(f"[sim:{scenario}]"), sse=False)  # the array endpoint wraps its errors
    assert streamed.status_code == code and streamed.json()[0]["error"]["status"] == status
    assert stream(http, body(f"[sim:{scenario}]")).json()["error"]["code"] == code


@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_midstream_error(http, sse):
    response = stream(http, body("[sim:midstream_error]"), sse=sse)
    assert response.status_code == 200
    chunks = chunks_of(response, sse)
    *content, error = chunks
    assert text_of(content) == "Partial answer before" and len(content) == 3
    assert not any("finishReason" in chunk["candidates"][0] for chunk in content)
    assert error == {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                               "status": "UNAVAILABLE"}}
    assert generate(http, body("[sim:midstream_error]")).status_code == 503


def test_auth(sim, http):
    url = f"{sim.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    missing = httpx.post(url, json=body())
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    bearer = httpx.post(url, json=body(), headers={"authorization": "Bearer ya29.token"})
    assert bearer.status_code == 401 and bearer.json()["error"]["status"] == "UNAUTHENTICATED"
    assert httpx.post(url, json=body(), params={"key": "anything"}).status_code == 200
    sim._context.gemini_key = KEY  # the check a `gemini_key` Context field would switch on
    try:
        wrong = httpx.post(url, json=body(), params={"key": "wrong"})
        assert wrong.status_code == 400 and wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert generate(http, body()).status_code == 200
    finally:
        del sim._context.gemini_key


# --- request validation ---------------------------------------------------------------------------------


def test_schema_keywords_gemini_rejects(http):
    tool = {
        "functionDeclarations": [
            {"name": "ok", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}},
            {
                "name": "bad",
                "parameters": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {
                        "a": {"type": "string"},
                        "b": {"type": "object", "additionalProperties": False, "properties": {}},
                        "c": {"$ref": "#/$defs/c"},
                    },
                    "additionalProperties": False,
                },
            },
        ]
    }
    response = generate(http, body(tools=[tool]))
    assert response.status_code == 400
    error = response.json()["error"]
    at = "tools[0].function_declarations[1].parameters"
    assert error["message"].split("\n") == [
        f'Invalid JSON payload received. Unknown name "$schema" at \'{at}\': Cannot find field.',
        f'Invalid JSON payload received. Unknown name "additionalProperties" at \'{at}.properties[1].value\': '
        "Cannot find field.",
        f'Invalid JSON payload received. Unknown name "$ref" at \'{at}.properties[2].value\': Cannot find field.',
        f'Invalid JSON payload received. Unknown name "additionalProperties" at \'{at}\': Cannot find field.',
    ]
    violations = error["details"][0]["fieldViolations"]
    assert violations[1]["field"] == f"{at}.properties[1].value"


def test_request_validation_names_the_field(http):
    cases = [
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({"contents": [{"role": "user", "parts": []}]},
         "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n"),
        ({"contents": [{"role": "user", "parts": [{}]}]},
         "* GenerateContentRequest.contents[0].parts[0].data: "
         "required oneof field 'data' must have one initialized field\n"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
         "* GenerateContentRequest.contents[0].role: Please use a valid role: user, model.\n"),
        (body(generationConfig={"max_tokens": 5}),
         "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': Cannot find field."),
        (body(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
         "Invalid value at 'tool_config.function_calling_config.mode' "
         "(type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"SOMETIMES\""),
        (body(tools=[WEATHER],
              toolConfig={"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["get_weather"]}}),
         "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
         "allowed_function_names should only be set when mode is ANY.\n"),
        (body(generationConfig={"thinkingConfig": {"includeThoughts": "yes"}}),
         "Invalid value at 'generation_config.thinking_config.include_thoughts' (TYPE_BOOL), \"yes\""),
        (body(generationConfig={"responseSchema": {"type": "ARRAY"}, "responseMimeType": "application/json"}),
         "* GenerateContentRequest.generation_config.response_schema.items: missing field.\n"),
        ({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]},
         "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), "
         "Base64 decoding failed for \"not base64!\""),
    ]
    for payload, message in cases:
        response = generate(http, payload)
        assert response.status_code == 400, payload
        assert response.json()["error"] == {**response.json()["error"], "code": 400, "status": "INVALID_ARGUMENT",
                                            "message": message}


def test_accepted_request_shapes(http):
    payload = {
        "system_instruction": {"parts": [{"text": "Be brief."}]},  # snake_case names work too
        "contents": [
            {"role": "user", "parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}},
            ]},
            {"role": "model", "parts": [{"thought": True, "text": "hmm"}, {"text": "A picture."}]},
            {"parts": [{"text": "[sim:echo]"}]},  # no role: user
        ],
        "tools": [WEATHER],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.2, "topP": 0.9, "topK": 40,
                             "stopSequences": ["###"], "responseMimeType": "text/plain",
                             "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": False}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    response = generate(http, payload)
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["candidates"][0]["content"]["parts"][0]["text"]) == payload


def test_unknown_scenario_timed_and_routes(sim, http):
    bad = generate(http, body("[sim:nope]"))
    assert bad.status_code == 400 and "unknown scenario" in bad.json()["error"]["message"]
    assert generate(http, body("[sim:web_search]")).status_code == 400  # Anthropic only
    chunks = sse_chunks(stream(http, body("[sim:timed n=3 interval_ms=1]")))
    stamps = [int(piece[2:]) for piece in text_of(chunks).split(";") if piece]
    assert len(stamps) == 3 and stamps == sorted(stamps)
    encoded = http.post("/v1beta/models/gemini-2.5-flash%3AgenerateContent", json=body())
    assert encoded.status_code == 200
    unknown = http.post("/v1beta/models/gemini-2.5-flash:embedContent", json=body())
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"
    openai_models = httpx.get(f"{sim.base_url}/v1/files", headers={"authorization": "Bearer sk-sim"})
    assert openai_models.status_code == 404 and "status" not in openai_models.json()["error"]  # not taken as Gemini
    counted = http.post("/v1beta/models/gemini-2.5-flash:countTokens", json=body())
    assert counted.json()["totalTokens"] > 0
    assert sim.requests[-1].path.endswith(":countTokens")
