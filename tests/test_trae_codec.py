"""The Trae upstream codec: request encoding, SSE decoding, the whole-body fold, errors, queue probing."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import orjson
import pytest

from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.errors import BridgeError
from transforms.translation import translate_answer
from transforms.ir import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    ResponseFinished,
    ResponseStarted,
    StreamFailed,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    Usage,
    events_to_response,
    response_to_events,
)
from transforms.sse import SSEDecoder
from transforms.stream import StreamTranslator
from transforms.trae import endpoint
from transforms.trae.decode_response import decode_trae_body
from transforms.trae.decode_stream import TraeStreamDecoder
from transforms.trae.encode_request import encode_trae_request
from transforms.trae.errors import decode_error, error_in_json
from transforms.trae.model_list import parse_model_list
from transforms.trae.queue import Queued, QueueProbe, Ready
from transforms.upstream_options import UpstreamOptions

NOW = datetime(2025, 6, 27, 9, 5, 3, tzinfo=timezone.utc)  # a Friday


def user(*parts) -> Message:
    return Message("user", [TextPart(p) if isinstance(p, str) else p for p in parts])


def assistant(*parts) -> Message:
    return Message("assistant", [TextPart(p) if isinstance(p, str) else p for p in parts])


def encode(messages, **fields) -> dict:
    options = fields.pop("options", UpstreamOptions())
    request = ChatRequest(model="claude-3-7-sonnet", messages=messages, **fields)
    return encode_trae_request(request, upstream_model="aws_sdk_claude37_sonnet", options=options, now=NOW)


def event(name: str, payload) -> bytes:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def decode_all(body: bytes) -> list:
    sse, decoder = SSEDecoder(), TraeStreamDecoder()
    events = []
    for sse_event in (*sse.feed(body), *sse.close()):
        events.extend(decoder.decode(sse_event))
    return [*events, *decoder.close()]


def rejected(messages, **fields) -> BridgeError:
    with pytest.raises(BridgeError) as info:
        encode(messages, **fields)
    assert info.value.kind == "invalid_request" and info.value.status == 400
    return info.value


# --- endpoint ---------------------------------------------------------------------------


def test_endpoint():
    assert endpoint.chat_url("https://trae.example/", "m", True) == "https://trae.example/api/ide/v1/chat"
    assert endpoint.chat_url("https://trae.example") == "https://trae.example/api/ide/v1/chat"
    assert endpoint.model_list_url("https://trae.example/") == "https://trae.example/api/ide/v1/model_list?type=llm_raw_chat"
    assert endpoint.request_headers("tok") == {"x-ide-token": "tok"}
    assert endpoint.request_headers(None) == {} and endpoint.request_headers("") == {}


# --- encoding ---------------------------------------------------------------------------


def test_body_fields():
    body = encode([user("hi"), assistant("Hello!"), user("How are you?")], system=["Be brief.", "Be kind."])
    assert body["chat_history"] == [
        {"role": "system", "content": "Be brief.\n\nBe kind.", "status": "success", "locale": "en-us"},
        {"role": "user", "content": "hi", "status": "success", "locale": "en-us"},
        {"role": "assistant", "content": "Hello!", "status": "success", "locale": "en-us"},
    ]
    assert body["user_input"] == "How are you?"
    assert body["current_turn"] == 1
    assert body["valid_turns"] == [0, 1, 2]
    assert body["session_id"] == body["conversation_id"]
    assert uuid.UUID(body["session_id"]).version == 4
    assert orjson.loads(body["variables"]) == {"locale": "en-us", "current_time": "20250627 09:05:03 Friday"}
    assert isinstance(body["variables"], str)
    rest = {k: v for k, v in body.items() if k not in {"chat_history", "user_input", "current_turn", "valid_turns",
                                                       "session_id", "conversation_id", "variables"}}
    assert rest == {
        "context_resolvers": [], "generate_suggested_questions": False, "intent_name": "general_qa_intent",
        "is_preset": True, "multi_media": [], "provider": "", "model_name": "aws_sdk_claude37_sonnet", "stream": True,
    }


def test_single_message_and_locale_option():
    body = encode([user("only")], options=UpstreamOptions(locale="zh-cn"))
    assert body["chat_history"] == [] and body["valid_turns"] == [] and body["current_turn"] == 0
    assert orjson.loads(body["variables"])["locale"] == "zh-cn"


def test_sampling_fields_are_not_sent():
    body = encode([user("hi")], temperature=0.2, top_p=0.5, max_tokens=10, stop=["x"])
    assert not {"temperature", "top_p", "max_tokens", "stop"} & set(body)


def test_default_time_is_now():
    request = ChatRequest(model="m", messages=[user("hi")])
    body = encode_trae_request(request, upstream_model="gpt-4o", options=UpstreamOptions())
    stamp = orjson.loads(body["variables"])["current_time"]
    assert datetime.strptime(stamp[:17], "%Y%m%d %H:%M:%S")


def test_session_id_stable_within_a_conversation():
    first = encode([user("Plan a trip")])
    later = encode([user("Plan a trip"), assistant("Where to?"), user("Paris")])
    other = encode([user("Plan a dinner")])
    assert first["session_id"] == later["session_id"]
    assert other["session_id"] != first["session_id"]


def test_tool_traffic_flattened_and_thinking_dropped():
    body = encode([
        user("weather?"),
        assistant(ThinkingPart("hmm", signature="sig"), "Checking.", ToolCallPart("call_1", "get_weather", {"city": "Paris"})),
        user(ToolResultPart("call_1", [TextPart("sunny")]), ToolResultPart("call_2", [TextPart("boom")], is_error=True)),
    ])
    assert body["chat_history"][1]["content"] == 'Checking.\n\n[called tool get_weather with {"city":"Paris"}]'
    assert body["user_input"] == "[tool result for call_1]: sunny\n\n[tool error for call_2]: boom"
    assert body["current_turn"] == 1


def test_reasoning_only_turn_left_out():
    body = encode([user("a"), assistant(ThinkingPart("just thinking")), user("b")])
    assert [item["role"] for item in body["chat_history"]] == ["user"]
    assert body["valid_turns"] == [0]


def test_tools_dropped_unless_demanded():
    tools = [ToolDefinition("get_weather", "Weather", {"type": "object"})]
    for choice in (None, ToolChoice("auto"), ToolChoice("none")):
        body = encode([user("hi")], tools=tools, tool_choice=choice)
        assert "tools" not in body and "tool_choice" not in body
    for choice in (ToolChoice("required"), ToolChoice("tool", "get_weather")):
        error = rejected([user("hi")], tools=tools, tool_choice=choice)
        assert error.param == "tool_choice" and "Trae's chat API cannot call tools" in error.message


def test_images_refused_with_their_place():
    image = ImagePart(url="https://example.com/cat.png")
    error = rejected([user("a"), assistant("b"), user("look", image)])
    assert error.param == "messages[2].content[1]"
    assert error.message.startswith("Trae image input is not supported by llm-bridge")
    error = rejected([user(ToolResultPart("c", [TextPart("x"), image]))])
    assert error.param == "messages[0].content[0].content[1]"


def test_unsupported_and_shapeless_requests_refused():
    assert rejected([user("hi")], unsupported=[("logprobs", "no")]).param == "logprobs"
    assert rejected([user("hi"), assistant("prefill")]).param == "messages[1]"
    assert rejected([assistant("alone")]).param == "messages"


# --- stream decoding --------------------------------------------------------------------

TEXT_BODY = (
    event("metadata", {"prompt_completion_id": "pc-1"})
    + event("output", {"response": "Hel", "reasoning_content": "", "finish_reason": ""})
    + event("output", {"response": "lo ✓", "reasoning_content": ""})
    + event("done", {"finish_reason": "stop"})
)


def test_text():
    assert decode_all(TEXT_BODY) == [
        ResponseStarted("pc-1", "", Usage()), TextDelta("Hel"), TextDelta("lo ✓"), ResponseFinished("stop", Usage()),
    ]


def test_reasoning_then_text():
    body = (event("metadata", {"prompt_completion_id": "pc-2"})
            + event("output", {"reasoning_content": "think", "response": ""})
            + event("output", {"response": "answer"}) + event("done", {}))
    assert decode_all(body)[1:] == [ThinkingDelta("think"), TextDelta("answer"), ResponseFinished("stop", Usage())]


def test_length_from_done_or_output():
    body = event("output", {"response": "cut"}) + event("done", {"finish_reason": "length"})
    events = decode_all(body)
    assert events[0] == ResponseStarted("", "", Usage())  # no metadata: started at the first output
    assert events[-1] == ResponseFinished("length", Usage())
    body = event("output", {"response": "cut", "finish_reason": "length"}) + event("done", {"finish_reason": ""})
    assert decode_all(body)[-1].finish_reason == "length"
    assert decode_all(event("output", {"response": "x"}) + event("done", {"finish_reason": "weird"}))[-1].finish_reason == "stop"


def test_usage_when_given():
    body = event("output", {"response": "x"}) + event("notify_usage", {"prompt_tokens": 7, "completion_tokens": 3}) + event("done", {})
    assert decode_all(body)[-1] == ResponseFinished("stop", Usage(input_tokens=7, output_tokens=3))


def test_error_event():
    body = event("metadata", {"prompt_completion_id": "pc"}) + event("error", {"code": 4011, "message": "slow down"})
    events = decode_all(body)
    assert isinstance(events[-1], StreamFailed) and len(events) == 2
    error = events[-1].error
    assert error.kind == "rate_limit" and error.status == 429 and "4011" in error.message and "trae" in error.message


def test_queue_noise_and_unknown_events_ignored():
    body = (event("request_wait_in_queue", {"position": 3, "message": "wait", "queue_id": "q"})
            + event("mystery", {"x": 1}) + b"data: not json\n\n" + b": keep-alive\n\n" + TEXT_BODY)
    assert decode_all(body) == decode_all(TEXT_BODY)


def test_done_literal_finishes():
    body = event("output", {"response": "x"}) + b"data: [DONE]\n\n" + event("output", {"response": "late"})
    assert decode_all(body) == [ResponseStarted("", "", Usage()), TextDelta("x"), ResponseFinished("stop", Usage())]


def test_missing_done():
    body = event("metadata", {"prompt_completion_id": "pc"}) + event("output", {"response": "partial"})
    assert decode_all(body)[-1] == ResponseFinished("stop", Usage())
    failed = decode_all(event("metadata", {"prompt_completion_id": "pc"}))[-1]
    assert isinstance(failed, StreamFailed) and failed.error.status == 502
    assert "Trae ended the stream without an answer" in failed.error.message
    queued = decode_all(event("request_wait_in_queue", {"position": 4}))
    assert len(queued) == 1 and "position 4" in queued[0].error.message


# --- every split gives the same client bytes ----------------------------------------------

SPLIT_BODY = (
    event("request_wait_in_queue", {"position": 1, "message": "排队中"})
    + event("metadata", {"prompt_completion_id": "pc-ü"})
    + event("output", {"reasoning_content": "Ünïcödé 🌍 thought", "response": ""})
    + event("output", {"response": "答案 ✓ 🌍"})
    + event("done", {"finish_reason": "stop"})
)


def translate(pieces: list[bytes]) -> bytes:
    request = ChatRequest(model="claude-3-7-sonnet", messages=[user("hi")], stream=True, include_usage=True)
    translator = StreamTranslator(TraeStreamDecoder(), CLIENT_CODECS["openai-chat"].stream_encoder(request, created=0))
    return b"".join(translator.feed(piece) for piece in pieces) + translator.close()


@pytest.mark.parametrize("body", [SPLIT_BODY, SPLIT_BODY.replace(b"\n", b"\r\n")], ids=["lf", "crlf"])
def test_every_byte_boundary(body):
    whole = translate([body])
    assert "Ünïcödé 🌍".encode() in whole and "答案 ✓".encode() in whole
    assert b"[DONE]" in whole and b'"error"' not in whole
    for cut in range(1, len(body)):
        assert translate([body[:cut], body[cut:]]) == whole, cut
    assert translate([body[i:i + 1] for i in range(len(body))]) == whole


# --- the whole-body fold ------------------------------------------------------------------


def test_whole_body_fold():
    response = decode_trae_body(SPLIT_BODY)
    assert response == ChatResponse(
        id="pc-ü", model="",
        parts=[ThinkingPart("Ünïcödé 🌍 thought"), TextPart("答案 ✓ 🌍")],
        finish_reason="stop", usage=Usage(),
    )


def test_whole_body_errors():
    with pytest.raises(BridgeError) as info:
        decode_trae_body(event("metadata", {"prompt_completion_id": "p"}) + event("error", {"code": 4008, "message": "q"}))
    assert info.value.kind == "rate_limit"
    with pytest.raises(BridgeError) as info:
        decode_trae_body(b'{"code":1001,"message":"auth failed"}')
    assert info.value.kind == "authentication" and info.value.status == 401
    with pytest.raises(BridgeError) as info:
        decode_trae_body(b'{"hello":"world"}')
    assert info.value.status == 502 and "not an SSE stream" in info.value.message
    with pytest.raises(BridgeError) as info:
        decode_trae_body(b"")
    assert info.value.status == 502


def test_events_to_response_inverts_response_to_events():
    response = ChatResponse(
        id="r", model="m",
        parts=[ThinkingPart("a", signature="s"), ThinkingPart(redacted="xx"), TextPart("t"),
               ToolCallPart("c1", "f", {"x": [1]}), ToolCallPart("c2", "g", {})],
        finish_reason="tool_calls", usage=Usage(3, 4), stop_sequence=None,
    )
    assert events_to_response(response_to_events(response)) == response


def test_translate_answer_folds_trae_for_non_streaming_clients():
    client, upstream = CLIENT_CODECS["openai-chat"], UPSTREAM_CODECS["trae"]
    request = ChatRequest(model="claude-3-7-sonnet", messages=[user("hi")])
    status, _, body = translate_answer(client, upstream, request, status=200, body=TEXT_BODY, created=0, provider="trae-sg")
    completion = orjson.loads(body)
    assert status == 200 and completion["choices"][0]["message"]["content"] == "Hello ✓"
    assert completion["id"] == "pc-1" and completion["model"] == "claude-3-7-sonnet"
    with pytest.raises(BridgeError) as info:
        translate_answer(client, upstream, request, status=200, body=b'{"code":4001,"message":"param is invalid"}',
                         created=0, provider="trae-sg")
    assert info.value.status == 400 and "trae-sg" in info.value.message
    status, _, body = translate_answer(client, upstream, request, status=401, body=b'{"code":1001,"message":"no"}',
                                       created=0, provider="trae-sg")
    assert status == 401 and b"IDE token" in body


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind", "status", "text"), [
    (1001, "authentication", 401, "Trae rejected the IDE token (code 1001): the token is invalid or expired"),
    (4001, "invalid_request", 400, "usually the model name is not available for the configured IDE version (x-ide-version)"),
    (4008, "rate_limit", 429, "Trae quota exceeded (code 4008)"),
    (4011, "rate_limit", 429, "Trae rate limit (code 4011); retry later"),
])
def test_known_codes(code, kind, status, text):
    envelopes = [
        {"code": code, "message": "upstream words"},
        {"error": {"code": code, "message": "upstream words"}},
        {"ResponseMetadata": {"Error": {"Code": code, "Message": "upstream words"}}},
        {"ResponseMetadata": {"Error": {"Code": str(code), "Message": "upstream words"}}},
    ]
    for envelope in envelopes:
        error = decode_error(200 if code == 4001 else 403, orjson.dumps(envelope), provider="my-trae", retry_after="5")
        assert (error.kind, error.status) == (kind, status)
        assert text in error.message and "my-trae" in error.message and "upstream words" in error.message
        assert error.retry_after == "5"


def test_other_codes_and_bodies():
    error = decode_error(503, b'{"code":5000,"message":"busy"}', provider="t")
    assert (error.kind, error.status) == ("overloaded", 503) and "5000" in error.message and "busy" in error.message
    error = decode_error(403, b'{"ResponseMetadata":{"Error":{"Code":"AccessDenied","Message":"nope"}}}', provider="t")
    assert error.kind == "permission" and "AccessDenied" in error.message and "nope" in error.message
    error = decode_error(502, b"<html>" + b"x" * 500, provider="t")
    assert error.kind == "api_error" and "HTTP 502" in error.message and "t upstream" in error.message
    assert len(error.message) < 260
    error = decode_error(400, b'{"message":"bad"}', provider="t")
    assert error.kind == "invalid_request" and "bad" in error.message


def test_error_in_json():
    assert error_in_json(b'{"code":0,"message":"ok","model_configs":[]}') is None
    assert error_in_json(b'{"model_configs":[]}') is None
    assert error_in_json(b"event: done\ndata: {}\n\n") is None
    error = error_in_json(b'{"code":4008,"message":"quota"}')
    assert error is not None and error.kind == "rate_limit"
    error = error_in_json(b'{"code":777,"message":"odd"}', provider="p")
    assert error is not None and error.status == 502 and "777" in error.message and "p upstream" in error.message


# --- model list ---------------------------------------------------------------------------


def test_model_list():
    body = orjson.dumps({"model_configs": [{"name": "claude3.5", "display_name": "C"}, {"display_name": "no name"}, {"name": "gpt-4o"}, 7]})
    assert parse_model_list(body) == ["claude3.5", "gpt-4o"]
    assert parse_model_list(b"{}") == []
    with pytest.raises(ValueError, match="expected a JSON object"):
        parse_model_list(b"[]")
    with pytest.raises(ValueError, match="must be an array"):
        parse_model_list(b'{"model_configs": {}}')


# --- queue probe --------------------------------------------------------------------------


QUEUED = event("request_wait_in_queue", {"position": 2, "message": "排队中", "queue_id": "q1"})


def probe(pieces: list[bytes]) -> tuple[Queued | Ready | None, QueueProbe]:
    queue_probe = QueueProbe()
    for piece in pieces:
        answer = queue_probe.feed(piece)
        if answer is not None:
            return answer, queue_probe
    return queue_probe.close(), queue_probe


@pytest.mark.parametrize(("body", "expected"), [
    (QUEUED, Queued(2, "排队中")),
    (TEXT_BODY, Ready()),
    (b": ping\n\n" + QUEUED, Queued(2, "排队中")),
    (event("request_wait_in_queue", {"message": "wait"}), Queued(None, "wait")),
])
def test_queue_probe_every_split(body, expected):
    assert probe([body])[0] == expected
    for cut in range(len(body) + 1):
        answer, queue_probe = probe([body[:cut], body[cut:]])
        assert answer == expected, cut
        assert body.startswith(queue_probe.buffered) and queue_probe.buffered
    assert probe([body[i:i + 1] for i in range(len(body))])[0] == expected


def test_queue_probe_keeps_bytes_and_answer():
    queue_probe = QueueProbe()
    assert queue_probe.feed(TEXT_BODY[:10]) is None and queue_probe.answer is None
    assert queue_probe.feed(TEXT_BODY[10:70]) == Ready()
    assert queue_probe.buffered == TEXT_BODY[:70]
    assert queue_probe.feed(b"more") == Ready() and queue_probe.buffered == TEXT_BODY[:70]
    assert QueueProbe().feed(b' {"code":4008}') == Ready()  # a JSON error body is not a queue answer
    unterminated = QueueProbe()
    assert unterminated.feed(QUEUED.rstrip(b"\n")) is None and unterminated.close() == Queued(2, "排队中")
