"""Non-streamed Anthropic answers and error bodies -> OpenAI Chat, and the passthrough filter."""

import orjson
import pytest

from transforms.anthropic.decode_response import decode_messages_response
from transforms.anthropic.errors import decode_error
from transforms.ir import ChatResponse, TextPart, ToolCallPart, Usage, response_to_events
from transforms.openai_chat.decode_error import decode_error as decode_openai_error
from transforms.openai_chat.encode_response import encode_chat_completion
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.openai_chat.errors import encode_error
from transforms.openai_chat.passthrough import UsageChunkFilter, passthrough_request

MESSAGE = {
    "id": "msg_9", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Part one."},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "Part two."},
        {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "w", "input": {"city": "Rome"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 3},
}


def test_whole_message():
    out = encode_chat_completion(decode_messages_response(MESSAGE), model="alias", created=123)
    assert (out["id"], out["object"], out["created"], out["model"]) == ("msg_9", "chat.completion", 123, "alias")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Part one.Part two."  # text blocks joined with no separator
    assert message["reasoning_content"] == "hmm"
    assert [(c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in message["tool_calls"]] == [
        ("toolu_1", "w", {"city": "Paris"}), ("toolu_2", "w", {"city": "Rome"})]
    assert out["usage"] == {"prompt_tokens": 18, "completion_tokens": 20, "total_tokens": 38,
                            "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 3}}


def test_tool_only_answer_has_null_content():
    response = ChatResponse("m", "x", [ToolCallPart("t", "f", {})], "tool_calls", Usage())
    assert encode_chat_completion(response, model="a", created=1)["choices"][0]["message"]["content"] is None


def test_whole_answer_replayed_as_stream():
    response = ChatResponse("msg_1", "x", [TextPart("hi"), ToolCallPart("t", "f", {"a": 1})], "tool_calls", Usage(3, 4))
    encoder = ChatCompletionChunkEncoder(model="a", created=1, include_usage=True)
    body = b"".join(encoder.encode(e) for e in response_to_events(response)) + encoder.close()
    assert body.endswith(b"data: [DONE]\n\n") and b'"finish_reason":"tool_calls"' in body and b'"arguments":"{\\"a\\":1}"' in body


@pytest.mark.parametrize(
    ("status", "error_type", "client_status", "openai_type"),
    [(400, "invalid_request_error", 400, "invalid_request_error"),
     (401, "authentication_error", 401, "authentication_error"),
     (403, "permission_error", 403, "permission_error"),
     (404, "not_found_error", 404, "invalid_request_error"),
     (429, "rate_limit_error", 429, "rate_limit_error"),
     (500, "api_error", 500, "server_error"),
     (529, "overloaded_error", 503, "server_error")],
)
def test_anthropic_errors_keep_message_and_status(status, error_type, client_status, openai_type):
    body = orjson.dumps({"type": "error", "error": {"type": error_type, "message": f"it broke ({status})"}})
    error = decode_error(status, body, provider="claude", retry_after="7" if status == 429 else None)
    out_status, out_body = encode_error(error)
    envelope = orjson.loads(out_body)["error"]
    assert out_status == client_status
    assert envelope["message"] == f"claude upstream: it broke ({status})"
    assert envelope["type"] == openai_type
    assert error.retry_after == ("7" if status == 429 else None)


def test_non_json_error_body_keeps_its_text():
    error = decode_error(502, b"<html>Bad Gateway</html>", provider="p")
    assert error.status == 502 and "Bad Gateway" in error.message


def test_openai_compatible_errors_in_other_shapes():
    assert decode_openai_error(400, b'{"error":{"message":"bad","param":"x"}}', provider="g").param == "x"
    assert "quota" in decode_openai_error(429, b'{"error":"quota exceeded"}', provider="g").message
    assert decode_openai_error(429, b'{"error":"quota"}', provider="g").kind == "rate_limit"
    assert "detail" in decode_openai_error(500, b'{"detail":"x"}', provider="g").message


def test_passthrough_request_changes_only_model_and_usage():
    body = {"model": "alias", "messages": [], "stream": True, "logprobs": True, "n": 2, "vendor_x": {"a": 1}}
    out = orjson.loads(passthrough_request(body, upstream_model="gpt-real"))
    assert out == {**body, "model": "gpt-real", "stream_options": {"include_usage": True}}
    assert "stream_options" not in orjson.loads(passthrough_request({"model": "a"}, upstream_model="b"))


def test_usage_only_chunk_dropped_byte_exact():
    kept = (b": keep-alive\n\n"
            b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n')
    usage = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n'
    body = kept + usage + b"data: [DONE]\n\n"
    for step in (1, 7, len(body)):
        f = UsageChunkFilter()
        out = b"".join(f.feed(body[i : i + step]) for i in range(0, len(body), step)) + f.close()
        assert out == kept + b"data: [DONE]\n\n"
