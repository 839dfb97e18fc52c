"""OpenAI Chat request decoding: fields carried, and bad input rejected with the field named."""

import orjson
import pytest

from transforms.errors import BridgeError
from transforms.ir import ImagePart, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from transforms.openai_chat.decode_request import decode_chat_request


def decode(**body):
    body.setdefault("model", "m")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return decode_chat_request(orjson.dumps(body))


def rejected(body: bytes | dict) -> BridgeError:
    with pytest.raises(BridgeError) as info:
        decode_chat_request(body if isinstance(body, bytes) else orjson.dumps(body))
    assert info.value.status == 400
    return info.value


def test_system_and_developer_messages_become_system():
    req = decode(messages=[
        {"role": "system", "content": "one"},
        {"role": "developer", "content": [{"type": "text", "text": "two"}]},
        {"role": "user", "content": "hi"},
    ])
    assert req.system == ["one", "two"]
    assert [m.role for m in req.messages] == ["user"]


def test_array_content_with_images():
    req = decode(messages=[{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]}])
    assert req.messages[0].parts == [
        TextPart("look"),
        ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
        ImagePart(url="https://example.com/cat.jpg"),
    ]


def test_tool_calls_and_tool_results():
    req = decode(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "reasoning_content": "think", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    ])
    assert req.messages[1].parts == [ThinkingPart("think"), ToolCallPart("toolu_1", "w", {"city": "Paris"})]
    assert req.messages[2].parts == [ToolResultPart("toolu_1", [TextPart("sunny")])]


def test_options():
    req = decode(
        max_completion_tokens=50, max_tokens=99, temperature=0.5, top_p=0.9, stop="END", user="u1",
        reasoning_effort="high", stream=True, stream_options={"include_usage": True}, parallel_tool_calls=False,
        tool_choice={"type": "function", "function": {"name": "w"}}, top_k=5,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    )
    assert (req.max_tokens, req.temperature, req.top_p, req.stop, req.user) == (50, 0.5, 0.9, ["END"], "u1")
    assert (req.reasoning_effort, req.stream, req.include_usage, req.parallel_tool_calls) == ("high", True, True, False)
    assert (req.tool_choice.mode, req.tool_choice.name, req.top_k) == ("tool", "w", 5)
    assert req.response_format.schema == {"type": "object"}


def test_impossible_asks_are_recorded_not_dropped():
    req = decode(n=2, logprobs=True, frobnicate=1, messages=[
        {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{oops"}}]},
    ])
    fields = [field for field, _ in req.unsupported]
    assert fields == ["n", "logprobs", "frobnicate", "messages[0].tool_calls[0].function.arguments"]
    assert decode(n=1, logprobs=False, presence_penalty=0).unsupported == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        ({"model": "m"}, "'messages' is required"),
        ({"messages": [{"role": "user", "content": "x"}]}, "'model'"),
        ({"model": 3, "messages": []}, "'model'"),
        ({"model": "m", "messages": "hi"}, "'messages'"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "'max_tokens'"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "'temperature'"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}, "'stream_options'"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]}, "tools[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}, "image_url.url"),
    ],
)
def test_bad_input_names_the_problem(body, named):
    assert named in rejected(body).message
