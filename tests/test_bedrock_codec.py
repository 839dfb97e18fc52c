"""The Bedrock upstream codec: URLs, bodies, whole answers, errors, and the event-stream framing."""

from __future__ import annotations

import struct
from binascii import crc32

import botocore.session
import orjson
import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import anthropic_streams as streams
from tests.simulator import event_stream
from transforms.anthropic.decode_stream import AnthropicStreamDecoder
from transforms.anthropic.encode_request import encode_messages_request
from transforms.bedrock.encode_request import ANTHROPIC_VERSION, claude_name, encode_invoke_request
from transforms.bedrock.errors import decode_error
from transforms.bedrock.event_stream import EventStreamFraming
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.errors import BridgeError
from transforms.translation import stream_translator, translate_answer
from transforms.ir import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamFailed,
    TextPart,
    ToolDefinition,
    ToolResultPart,
)

BEDROCK = UPSTREAM_CODECS["bedrock"]
BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
MODEL_IDS = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
]


def request(*messages: Message, **fields) -> ChatRequest:
    return ChatRequest(model="alias", messages=list(messages) or [Message("user", [TextPart("hi")])], **fields)


# --- URL and headers ---------------------------------------------------------------------------


def botocore_path(operation: str, model_id: str) -> str:
    """The path botocore's own bedrock-runtime serializer renders (what a real client sends and signs)."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model(operation)
    serialized = create_serializer("rest-json").serialize_to_request({"modelId": model_id, "body": b"{}"}, model)
    return serialized["url_path"]


@pytest.mark.parametrize("model_id", MODEL_IDS)
@pytest.mark.parametrize(("stream", "operation"), [(False, "InvokeModel"), (True, "InvokeModelWithResponseStream")])
def test_url_encodes_the_model_as_botocore_does(model_id, stream, operation):
    url = BEDROCK.url(BASE + "/", model_id, stream, None)
    assert url == BASE + botocore_path(operation, model_id)
    assert url.count("/") == 5  # the model id is one segment, even an ARN with "/"


def test_url_examples():
    assert BEDROCK.url(BASE, "anthropic.claude-3-5-sonnet-20240620-v1:0") == (
        BASE + "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"
    )
    assert BEDROCK.url(BASE, "us.anthropic.claude-sonnet-4-20250514-v1:0", True).endswith(
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke-with-response-stream"
    )


def test_no_key_header():
    assert BEDROCK.headers("ignored") == {} and BEDROCK.headers(None) == {}


# --- request body --------------------------------------------------------------------------------


def test_body_is_anthropic_messages_minus_model_and_stream():
    chat = request(stream=True, temperature=0.5, stop=["END"], top_k=5, system=["Be brief."],
                   tools=[ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {}})])
    body = BEDROCK.encode_request(chat, upstream_model="us.anthropic.claude-sonnet-4-20250514-v1:0")
    anthropic = encode_messages_request(chat, upstream_model="claude-sonnet-4-20250514")
    assert body["anthropic_version"] == ANTHROPIC_VERSION == "bedrock-2023-05-31"
    assert "model" not in body and "stream" not in body
    assert body == {"anthropic_version": ANTHROPIC_VERSION,
                    **{k: v for k, v in anthropic.items() if k not in ("model", "stream")}}
    assert next(iter(body)) == "anthropic_version"


def test_default_max_tokens_follows_the_claude_model_inside_the_id():
    assert encode_invoke_request(request(), upstream_model="us.anthropic.claude-sonnet-4-20250514-v1:0")["max_tokens"] == 64000
    assert encode_invoke_request(request(), upstream_model="anthropic.claude-3-5-sonnet-20240620-v1:0")["max_tokens"] == 8192
    assert encode_invoke_request(request(max_tokens=100), upstream_model=MODEL_IDS[2])["max_tokens"] == 100


@pytest.mark.parametrize(("model_id", "name"), [
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet-20240620"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-20250514"),
    ("anthropic.claude-3-haiku-20240307-v1:0:200k", "claude-3-haiku-20240307"),
    (MODEL_IDS[2], "claude-3-7-sonnet-20250219"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    (MODEL_IDS[3], MODEL_IDS[3]),  # an application inference profile names no model
])
def test_claude_name(model_id, name):
    assert claude_name(model_id) == name


def test_fields_bedrock_has_no_place_for_are_left_out():
    chat = request(user="user-1", response_format=ResponseFormat("json_schema", {"type": "object"}, "out"), system=["Sys."])
    body = encode_invoke_request(chat, upstream_model=MODEL_IDS[0])
    assert "metadata" not in body and "output_config" not in body
    assert body["system"].startswith("Sys.\n\n") and '{"type":"object"}' in body["system"]
    no_system = encode_invoke_request(request(response_format=ResponseFormat("json_schema", {"type": "object"})),
                                      upstream_model=MODEL_IDS[0])
    assert no_system["system"].startswith("Respond only with a single JSON object")


def test_image_urls_are_refused_inline_images_kept():
    inline = ImagePart(data="aGk=", media_type="image/png")
    body = encode_invoke_request(request(Message("user", [TextPart("see"), inline])), upstream_model=MODEL_IDS[0])
    assert body["messages"][0]["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": "aGk="}
    for part in (ImagePart(url="https://example.com/a.png"),
                 ToolResultPart("toolu_1", [ImagePart(url="https://example.com/b.png")])):
        with pytest.raises(BridgeError) as refused:
            encode_invoke_request(request(Message("user", [part])), upstream_model=MODEL_IDS[0])
        assert refused.value.kind == "invalid_request" and "inline base64" in refused.value.message


# --- whole answers and errors ---------------------------------------------------------------------

MESSAGE = {
    "id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hi there."}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5},
}


def test_whole_answer_is_an_anthropic_message():
    status, content_type, body = translate_answer(
        CLIENT_CODECS["openai-chat"], BEDROCK, request(), status=200, body=orjson.dumps(MESSAGE), created=1, provider="bedrock")
    out = orjson.loads(body)
    assert (status, content_type) == (200, "application/json")
    assert out["choices"][0]["message"]["content"] == "Hi there."
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["prompt_tokens"] == 10 and out["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(("status", "body", "kind", "client_status"), [
    (400, {"message": "messages.0.content: Field required"}, "invalid_request", 400),
    (403, {"Message": "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:InvokeModel"}, "permission", 403),
    (403, {"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "The security token included in the request is invalid."}, "authentication", 403),
    (404, {"message": "The provided model identifier is invalid."}, "not_found", 404),
    (408, {"message": "Model has timed out in processing the request."}, "timeout", 504),
    (424, {"message": "Received error from the model."}, "api_error", 502),
    (429, {"message": "Too many requests, please wait before trying again."}, "rate_limit", 429),
    (500, {"message": "The system encountered an unexpected error."}, "api_error", 500),
    (503, {"message": "Bedrock is unable to process your request."}, "overloaded", 503),
])
def test_error_per_status(status, body, kind, client_status):
    error = decode_error(status, orjson.dumps(body), provider="aws-prod")
    message = body.get("message") or body.get("Message")
    assert (error.kind, error.status) == (kind, client_status)
    assert error.message.startswith("aws-prod upstream: Bedrock ") and message in error.message
    assert f"HTTP {status}" in error.message


def test_error_hints_and_retry_after():
    throttled = decode_error(429, b'{"message":"Too many requests"}', provider="bedrock", retry_after="3")
    assert throttled.retry_after == "3" and "quota" in throttled.message
    denied = decode_error(403, b'{"message":"no"}', provider="bedrock")
    assert "bedrock:InvokeModel" in denied.message
    raw = decode_error(502, b"<html>Bad Gateway</html>", provider="bedrock")
    assert raw.kind == "api_error" and "HTTP 502: an HTML page: Bad Gateway" in raw.message and "<html>" not in raw.message


def test_error_reaches_an_openai_client():
    status, _, body = translate_answer(CLIENT_CODECS["openai-chat"], BEDROCK, request(), status=429,
                                       body=b'{"message":"Too many requests"}', created=1, provider="bedrock", retry_after="2")
    assert status == 429 and orjson.loads(body)["error"]["type"] == "rate_limit_error"


# --- the event-stream framing ----------------------------------------------------------------------

SAMPLE = event_stream.from_sse(streams.THINKING_THEN_TOOLS) + event_stream.from_sse(streams.TEXT)
# a stream that fails: an exception frame, then bytes that must not be read
FAILING = SAMPLE + event_stream.exception("throttlingException", "Too many tokens.") + event_stream.from_sse(streams.TEXT)
CORRUPT = SAMPLE[:-1] + bytes([SAMPLE[-1] ^ 0x01]) + event_stream.from_sse(streams.TEXT)  # the last frame's CRC is off


def events(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    framing = EventStreamFraming()
    out = [event for chunk in chunks for event in framing.feed(chunk)] + framing.close()
    return [(event.event, event.data) for event in out]


def test_hand_written_frame_is_what_botocore_parses_and_the_encoder_writes():
    name, value, payload = b":message-type", b"event", b'{"bytes":"e30="}'
    headers = bytes([len(name)]) + name + b"\x07" + struct.pack("!H", len(value)) + value
    prelude = struct.pack("!II", 12 + len(headers) + len(payload) + 4, len(headers))
    prelude += struct.pack("!I", crc32(prelude))
    frame = prelude + headers + payload
    frame += struct.pack("!I", crc32(frame))
    assert frame == event_stream.message({":message-type": "event"}, payload)
    buffer = EventStreamBuffer()
    buffer.add_data(frame)
    (message,) = list(buffer)
    assert (message.headers, message.payload) == ({":message-type": "event"}, payload)


def test_chunks_become_the_anthropic_events_inside():
    out = events([SAMPLE])
    expected = event_stream.sse_data(streams.THINKING_THEN_TOOLS) + event_stream.sse_data(streams.TEXT)
    assert [data for _, data in out] == expected
    assert [name for name, _ in out] == [orjson.loads(data)["type"] for data in expected]


def test_failing_samples_end_in_one_error_event():
    for sample in (FAILING, CORRUPT):
        out = events([sample])
        assert [name for name, _ in out[:-1]] == [name for name, _ in events([SAMPLE])][: len(out) - 1]
        assert [name for name, _ in out].count("error") == 1 and out[-1][0] == "error"


@pytest.mark.parametrize("sample", [SAMPLE, FAILING, CORRUPT], ids=["ok", "exception", "corrupt"])
def test_split_at_every_byte(sample):
    whole = events([sample])
    for cut in range(len(sample) + 1):
        assert events([sample[:cut], sample[cut:]]) == whole, cut


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([SAMPLE, FAILING, CORRUPT]), st.lists(st.integers(min_value=0, max_value=len(FAILING)), max_size=40))
def test_split_anywhere_many_times(sample, cuts):
    bounds = [0, *sorted(min(cut, len(sample)) for cut in cuts), len(sample)]
    assert events([sample[a:b] for a, b in zip(bounds, bounds[1:])]) == events([sample])


def test_byte_by_byte():
    assert events([SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == events([SAMPLE])


@pytest.mark.parametrize(("exception", "error_type", "kind"), [
    ("throttlingException", "rate_limit_error", "rate_limit"),
    ("internalServerException", "api_error", "api_error"),
    ("serviceUnavailableException", "overloaded_error", "overloaded"),
    ("validationException", "invalid_request_error", "invalid_request"),
    ("modelTimeoutException", "timeout_error", "timeout"),
    ("modelStreamErrorException", "api_error", "api_error"),
    ("somethingNewException", "api_error", "api_error"),
])
def test_exception_frames_become_error_events(exception, error_type, kind):
    before = b"".join(event_stream.chunk(data) for data in event_stream.sse_data(streams.TEXT)[:3])
    frame = event_stream.exception(exception, "Too many tokens, please wait.")
    out = events([before, frame + event_stream.from_sse(streams.TEXT)])  # nothing after the exception is read
    assert [name for name, _ in out] == ["message_start", "ping", "content_block_start", "error"]
    name, data = out[-1]
    assert name == "error" and orjson.loads(data)["error"] == {
        "type": error_type, "message": f"Bedrock {exception}: Too many tokens, please wait."}
    decoder = AnthropicStreamDecoder(provider="bedrock")
    (failed,) = decoder.decode(EventStreamFraming().feed(event_stream.exception(exception, "x"))[0])
    assert isinstance(failed, StreamFailed) and failed.error.kind == kind
    assert failed.error.message == f"bedrock upstream: Bedrock {exception}: x"


def test_model_stream_error_names_what_the_model_said():
    frame = event_stream.exception("modelStreamErrorException", "Received error", originalStatusCode=529, originalMessage="Overloaded")
    ((_, data),) = events([frame])
    assert orjson.loads(data)["error"]["message"] == (
        "Bedrock modelStreamErrorException: Received error (the model answered 529: Overloaded)")


def test_corrupt_crc_is_a_readable_error_event():
    frames = event_stream.from_sse(streams.TEXT)
    first = struct.unpack("!I", frames[:4])[0]
    corrupt = bytearray(frames)
    corrupt[first + 30] ^= 0x01  # a payload byte of the second frame
    out = events([bytes(corrupt)])
    assert [name for name, _ in out] == ["message_start", "error"]
    error = orjson.loads(out[-1][1])["error"]
    assert error["type"] == "api_error"
    assert error["message"].startswith("the Bedrock event stream is corrupt (Checksum mismatch: expected 0x")
    framing = EventStreamFraming()
    framing.feed(bytes(corrupt))
    assert framing.feed(frames) == [] and framing.close() == []  # nothing after the corruption


def test_corrupt_prelude_and_garbage():
    frames = bytearray(event_stream.from_sse(streams.TEXT))
    frames[2] ^= 0xFF  # the total length: its prelude CRC no longer matches
    ((name, data),) = events([bytes(frames)])
    assert name == "error" and "corrupt (Checksum mismatch" in orjson.loads(data)["error"]["message"]
    ((name, data),) = events([b"data: {\"type\": \"ping\"}\n\n"])  # SSE where frames were expected
    assert name == "error" and "corrupt" in orjson.loads(data)["error"]["message"]


def test_a_chunk_that_is_not_base64_json():
    frame = event_stream.message({":message-type": "event", ":event-type": "chunk"}, b'{"bytes": "not base64!"}')
    ((name, data),) = events([frame])
    assert name == "error" and "not a base64-encoded Anthropic event" in orjson.loads(data)["error"]["message"]


def test_stream_cut_inside_a_frame():
    frames = event_stream.from_sse(streams.TEXT)
    out = events([frames[:-5]])
    assert out[-1][0] == "error"
    assert "ended inside a frame" in orjson.loads(out[-1][1])["error"]["message"]


def test_other_messages_are_skipped():
    initial = event_stream.message({":message-type": "event", ":event-type": "initial-response"}, b"{}")
    assert events([initial + event_stream.from_sse(streams.TEXT)]) == events([event_stream.from_sse(streams.TEXT)])


def test_protocol_error_message():
    frame = event_stream.message({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b"")
    ((name, data),) = events([frame])
    assert name == "error" and orjson.loads(data)["error"]["message"] == "Bedrock stream error InternalFailure: boom"


# --- end to end, pure -----------------------------------------------------------------------------


def translate(client: str, upstream: str, body: bytes, pieces: int = 1) -> bytes:
    chat = request(stream=True, include_usage=True)
    translator = stream_translator(CLIENT_CODECS[client], UPSTREAM_CODECS[upstream], chat, {},
                                   created=1700000000, provider="bedrock")
    size = max(1, len(body) // pieces)
    return b"".join(translator.feed(body[i : i + size]) for i in range(0, len(body), size)) + translator.close()


def openai_chunks(out: bytes) -> list:
    lines = [line[6:] for line in out.split(b"\n\n") if line.startswith(b"data: ")]
    return [line if line == b"[DONE]" else orjson.loads(line) for line in lines]


@pytest.mark.parametrize("sample", ["text", "thinking_then_tools", "web_search", "cached"])
def test_bedrock_stream_to_openai_chunks_as_from_anthropic(sample):
    sse = streams.ALL[sample]
    out = translate("openai-chat", "bedrock", event_stream.from_sse(sse), pieces=7)
    assert out == translate("openai-chat", "anthropic", sse)  # the same as the same events over SSE
    chunks = openai_chunks(out)
    assert chunks[-1] == b"[DONE]"
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks[:-1])


def test_bedrock_stream_text_reaches_an_openai_client():
    chunks = openai_chunks(translate("openai-chat", "bedrock", event_stream.from_sse(streams.TEXT)))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"])
    assert text == "Hello wörld ✓ 🌍"
    assert chunks[-2]["usage"]["completion_tokens"] == 15


def test_exception_mid_stream_reaches_an_openai_client_as_an_error_chunk():
    first_four = event_stream.sse_data(streams.TEXT)[:4]  # message_start .. the first text delta
    body = b"".join(event_stream.chunk(data) for data in first_four)
    body += event_stream.exception("throttlingException", "Too many tokens, please wait before trying again.")
    chunks = openai_chunks(translate("openai-chat", "bedrock", body))
    error = chunks[-1]["error"]
    assert chunks[-1] != b"[DONE]" and error["type"] == "rate_limit_error"
    assert error["message"] == "bedrock upstream: Bedrock throttlingException: Too many tokens, please wait before trying again."


def test_corrupt_stream_reaches_an_openai_client_as_a_readable_error():
    corrupt = bytearray(event_stream.from_sse(streams.TEXT))
    corrupt[-1] ^= 0x01  # the last frame's CRC
    chunks = openai_chunks(translate("openai-chat", "bedrock", bytes(corrupt)))
    assert "bedrock upstream: the Bedrock event stream is corrupt (Checksum mismatch" in chunks[-1]["error"]["message"]


def test_anthropic_client_gets_the_bedrock_stream_as_anthropic_sse():
    out = translate("anthropic", "bedrock", event_stream.from_sse(streams.TEXT))
    assert out.startswith(b"event: message_start") and b"Hello" in out and out.rstrip().endswith(b'{"type":"message_stop"}')
