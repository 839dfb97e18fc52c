"""The upstream simulator, driven by the official Anthropic and OpenAI SDKs."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket

import anthropic
import httpx
import openai
import pytest

from tests.simulator import Simulator
from tests.simulator.anthropic import thinking_signature

ANTHROPIC_KEY = "sk-ant-sim"
OPENAI_KEY = "sk-sim"
HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"
MODEL = "claude-sim"


@pytest.fixture(scope="module")
def sim():
    with Simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def claude(sim):
    return anthropic.Anthropic(base_url=sim.base_url, api_key=ANTHROPIC_KEY, max_retries=0)


@pytest.fixture(scope="module")
def gpt(sim):
    return openai.OpenAI(base_url=f"{sim.base_url}/v1", api_key=OPENAI_KEY, max_retries=0)


def ask_claude(client, text, **params):
    params.setdefault("max_tokens", 4096)
    return client.messages.create(model=MODEL, messages=[{"role": "user", "content": text}], **params)


def stream_claude(client, text, **params):
    params.setdefault("max_tokens", 4096)
    with client.messages.stream(model=MODEL, messages=[{"role": "user", "content": text}], **params) as stream:
        events = [event.type for event in stream]
        return stream.get_final_message(), events


def ask_gpt(client, text, **params):
    return client.chat.completions.create(model="gpt-sim", messages=[{"role": "user", "content": text}], **params)


def stream_gpt(client, text, **params):
    chunks = list(ask_gpt(client, text, stream=True, **params))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, content


# --- Anthropic -------------------------------------------------------------------------------


def test_anthropic_text(claude):
    message = ask_claude(claude, "hi")
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == HELLO
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_sim_")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens >= 4
    assert message._request_id.startswith("req_sim_")


def test_anthropic_text_stream_grammar(claude):
    message, events = stream_claude(claude, "hi")
    assert message.content[0].text == HELLO
    raw = [e for e in events if e != "text"]  # the helper adds synthetic "text" events
    assert raw[0] == "message_start" and raw[-2:] == ["message_delta", "message_stop"]
    assert raw.count("content_block_delta") >= 4


def test_anthropic_split_every_byte_gives_same_text(claude):
    message, _ = stream_claude(claude, "[sim:text split=1]")
    assert message.content[0].text == HELLO


def test_anthropic_thinking(claude):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    for message in (
        ask_claude(claude, "[sim:thinking]", thinking=thinking),
        stream_claude(claude, "[sim:thinking]", thinking=thinking)[0],
    ):
        assert [block.type for block in message.content] == ["thinking", "text"]
        assert message.content[0].signature == thinking_signature(message.content[0].thinking)


def test_anthropic_tools_and_round_trip(claude):
    expected = [{"city": "Paris"}, {"city": "London"}]
    for message in (ask_claude(claude, "[sim:tools]"), stream_claude(claude, "[sim:tools]")[0]):
        assert message.stop_reason == "tool_use"
        assert message.content[0].text == "Let me check."
        uses = [block for block in message.content if block.type == "tool_use"]
        assert [use.id for use in uses] == ["toolu_sim_01", "toolu_sim_02"]
        assert [use.input for use in uses] == expected

    follow_up = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            {"role": "user", "content": "[sim:tools]"},
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_sim_01", "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_sim_02",
                        "content": [{"type": "text", "text": "rainy"}],
                    },
                ],
            },
        ],
    )
    assert follow_up.content[0].text == "Tool results received: sunny; rainy"


def test_anthropic_tool_without_arguments(claude):
    message, _ = stream_claude(claude, "[sim:tool_noargs]")
    assert message.content[0].name == "get_time" and message.content[0].input == {}


def test_anthropic_cached_usage(claude):
    message, _ = stream_claude(claude, "[sim:cached]")
    usage = message.usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        usage.output_tokens,
    ) == (12, 1000, 200, 9)


def test_anthropic_stop_sequence_web_search_and_refusal(claude):
    message, _ = stream_claude(claude, "[sim:stop_sequence]", stop_sequences=["###"])
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")
    message = ask_claude(claude, "[sim:web_search]")
    assert [block.type for block in message.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert message.usage.server_tool_use.web_search_requests == 1
    assert stream_claude(claude, "[sim:refusal]")[0].stop_reason == "refusal"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (403, anthropic.PermissionDeniedError),
        (404, anthropic.NotFoundError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_anthropic_errors(claude, status, error_class):
    with pytest.raises(error_class) as caught:
        ask_claude(claude, f"[sim:error{status}]", stream=status % 2 == 0)  # both paths
    assert caught.value.status_code == status
    assert caught.value.body["error"]["message"].startswith("simulated ")
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "7"


def test_anthropic_midstream_error(claude):
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in ask_claude(claude, "[sim:midstream_error]", stream=True):
            seen.append(event.type)
    assert "content_block_delta" in seen
    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "simulated overloaded mid-stream"}


def test_anthropic_validation(claude):
    with pytest.raises(anthropic.BadRequestError, match="tool_use_id"):
        claude.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]},
            ],
        )
    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        ask_claude(claude, "hi", thinking={"type": "enabled", "budget_tokens": 1024}, extra_body={"temperature": 0.5})
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=claude.base_url, api_key="wrong", max_retries=0).messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )


def test_anthropic_echo_records_request(sim, claude):
    sim.clear()
    message = ask_claude(claude, "[sim:echo]", metadata={"user_id": "u1"})
    echoed = json.loads(message.content[0].text)
    assert echoed["metadata"] == {"user_id": "u1"}
    (request,) = sim.requests
    assert request.path == "/v1/messages" and request.json == echoed
    assert request.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"  # SDK 2.x sends the key as a bearer token


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
TOOL_RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0.type"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "alternate"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [TOOL_USE]},
                    {"role": "user", "content": "b"},
                ]
            },
            "without `tool_result`",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "ok "}]},
            "trailing whitespace",
        ),
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 1024}, "max_tokens"),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [TOOL_USE]},
                    {"role": "user", "content": [TOOL_RESULT]},
                ],
            },
            "Expected `thinking` or `redacted_thinking`",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "forged"}]},
                ]
            },
            "signature",
        ),
        ({"tools": [{"name": "f"}]}, "input_schema"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.tool.name"),
        ({"stop_sequences": "###"}, "stop_sequences"),
        ({"metadata": {"user_id": 7}}, "metadata.user_id"),
        ({"system": [{"type": "image"}]}, "system.0.type"),
    ],
)
def test_anthropic_rejects_invalid_requests(sim, change, fragment):
    body = {"model": MODEL, "max_tokens": 2048, "messages": [{"role": "user", "content": "hi"}], **change}
    body = {key: value for key, value in body.items() if value is not None}
    headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{sim.base_url}/v1/messages", headers=headers, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and fragment in error["message"]


def test_lenient_turns_merge_consecutive_roles():
    with Simulator(strict_turns=False) as lenient:
        body = {
            "model": MODEL,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "[sim:max_tokens]"}],
        }
        response = httpx.post(
            f"{lenient.base_url}/v1/messages", headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}, json=body
        )
    assert response.status_code == 200 and response.json()["stop_reason"] == "max_tokens"


# --- OpenAI ----------------------------------------------------------------------------------


def test_openai_text(gpt):
    completion = ask_gpt(gpt, "hi")
    assert completion.choices[0].message.content == HELLO
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id.startswith("chatcmpl-sim")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_openai_stream_usage_chunk(gpt):
    chunks, content = stream_gpt(gpt, "hi", stream_options={"include_usage": True})
    assert content == HELLO
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 4


def test_openai_stream_without_usage_has_no_usage_key(sim):
    response = httpx.post(
        f"{sim.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {OPENAI_KEY}"},
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    lines = [line for line in response.text.split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(line[len("data: ") :]) for line in lines[:-1])


def test_openai_split_every_byte_gives_same_text(gpt):
    assert stream_gpt(gpt, "[sim:text split=1]")[1] == HELLO


def test_openai_thinking(gpt):
    completion = ask_gpt(gpt, "[sim:thinking]")
    assert completion.choices[0].message.model_extra["reasoning_content"] == "Let me think this through carefully."
    chunks, content = stream_gpt(gpt, "[sim:thinking]")
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks)
    assert reasoning == "Let me think this through carefully." and content == "The answer is 42."


def test_openai_tools_and_round_trip(gpt):
    chunks, _ = stream_gpt(gpt, "[sim:tools]")
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": call.id, "name": call.function.name, "arguments": ""})
            entry["arguments"] += call.function.arguments or ""
    assert [calls[i]["id"] for i in (0, 1)] == ["call_sim_01", "call_sim_02"]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [{"city": "Paris"}, {"city": "London"}]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    message = ask_gpt(gpt, "[sim:tools]").choices[0].message
    assert [json.loads(call.function.arguments) for call in message.tool_calls] == [
        {"city": "Paris"},
        {"city": "London"},
    ]
    follow_up = gpt.chat.completions.create(
        model="gpt-sim",
        messages=[
            {"role": "user", "content": "[sim:tools]"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "call_sim_01", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_sim_02", "content": "rainy"},
        ],
    )
    assert follow_up.choices[0].message.content == "Tool results received: sunny; rainy"


def test_openai_cached_usage(gpt):
    chunks, _ = stream_gpt(gpt, "[sim:cached]", stream_options={"include_usage": True})
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens) == (1212, 1000, 9)


@pytest.mark.parametrize(
    ("scenario", "status", "error_class"),
    [
        ("error400", 400, openai.BadRequestError),
        ("error401", 401, openai.AuthenticationError),
        ("error403", 403, openai.PermissionDeniedError),
        ("error404", 404, openai.NotFoundError),
        ("error429", 429, openai.RateLimitError),
        ("error500", 500, openai.InternalServerError),
        ("error529", 503, openai.InternalServerError),
    ],
)
def test_openai_errors(gpt, scenario, status, error_class):
    with pytest.raises(error_class) as caught:
        ask_gpt(gpt, f"[sim:{scenario}]", stream=status % 2 == 1)
    assert caught.value.status_code == status
    assert caught.value.body["message"].startswith("simulated ")


def test_openai_midstream_error(gpt):
    with pytest.raises(openai.APIError, match="simulated mid-stream failure"):
        stream_gpt(gpt, "[sim:midstream_error]")


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": None}, "model"),
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                        ],
                    },
                    {"role": "user", "content": "b"},
                ]
            },
            "messages.[1].role",
        ),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_openai_rejects_invalid_requests(sim, change, param):
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": "hi"}], **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = httpx.post(
        f"{sim.base_url}/v1/chat/completions", headers={"authorization": f"Bearer {OPENAI_KEY}"}, json=body
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_openai_validation(gpt):
    with pytest.raises(openai.BadRequestError) as caught:
        ask_gpt(gpt, "hi", stream_options={"include_usage": True})
    assert caught.value.body["param"] == "stream_options"
    with pytest.raises(openai.BadRequestError, match="tool"):
        gpt.chat.completions.create(
            model="gpt-sim",
            messages=[{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "x"}],
        )


# --- wire level ------------------------------------------------------------------------------


def read_chunk_sizes(port: int, body: bytes, path: str, headers: str) -> list[int]:
    """POST over a raw socket and return the size of every HTTP chunk of the response body."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        head = f"POST {path} HTTP/1.1\r\nhost: x\r\n{headers}content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        connection.sendall(head.encode() + body)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    rest = data.split(b"\r\n\r\n", 1)[1]
    sizes = []
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return sizes
        sizes.append(size)
        rest = rest[size + 2 :]


def test_split_one_writes_one_byte_chunks(sim):
    body = json.dumps(
        {
            "model": "m",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "[sim:text split=1]"}],
        }
    )
    headers = f"x-api-key: {ANTHROPIC_KEY}\r\nanthropic-version: 2023-06-01\r\n"
    sizes = read_chunk_sizes(sim.port, body.encode(), "/v1/messages", headers)
    assert len(sizes) > 500 and set(sizes) == {1}


def test_timed_stamps_are_paced(gpt):
    _, content = stream_gpt(gpt, "[sim:timed n=3 interval_ms=15]")
    stamps = [int(item[2:]) for item in content.split(";") if item]
    assert len(stamps) == 3
    assert all(later - earlier >= 10_000_000 for earlier, later in itertools.pairwise(stamps))


def test_unknown_path_and_async_use():
    async def scenario():
        async with Simulator() as simulator, httpx.AsyncClient(base_url=simulator.base_url) as client:
            anthropic_style = await client.post("/v1/nope", headers={"x-api-key": "k"})
            openai_style = await client.get("/v1/files")
        return anthropic_style, openai_style

    anthropic_style, openai_style = asyncio.run(scenario())
    assert anthropic_style.status_code == 404 and anthropic_style.json()["error"]["type"] == "not_found_error"
    assert openai_style.status_code == 404 and openai_style.json()["error"]["message"] == "Invalid URL (GET /v1/files)"
