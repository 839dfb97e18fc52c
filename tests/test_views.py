"""The mitmweb content views (addons/views/) and the transcript behind them (transforms/transcript.py).

Every recorded flow in flows/ is rendered the way mitmweb renders `/flows/<id>/<message>/content/<view>.json`:
`mitmproxy.contentviews.prettify_message` with the view's name, through mitmproxy's own registry. Then the
transcript is checked on hand-made bodies of every protocol: requests, whole answers, streams, errors and
bodies that are not what they claim.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from pathlib import Path

import pytest
from mitmproxy import contentviews, http, io
from mitmproxy.test import taddons, tflow

from addons.views import VIEWS, register
from transforms.transcript import stream_events, transcript

ROOT = Path(__file__).resolve().parent.parent
FLOWS = sorted((ROOT / "flows").rglob("*.flow"))
VIEW_NAMES = ("SSE", "LLM Chat", "LLM Exchange")
HEADER = re.compile(r"^# (\d+)(?: · event: (\S+))?(?: · \+(\d+\.\d+) s)?$", re.M)
SIMULATOR_HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT / "flows"))


def load(name: str | Path) -> http.HTTPFlow:
    path = name if isinstance(name, Path) else ROOT / "flows" / name
    with path.open("rb") as fh:
        (flow,) = list(io.FlowReader(fh).stream())
    return flow


@pytest.fixture(scope="module", autouse=True)
def mitmproxy_context():
    """mitmproxy's options (make_metadata reads one) and the views in its registry, as mitmweb has them."""
    register()
    with taddons.context() as context:
        yield context


def render(flow: http.HTTPFlow, message: http.Message, view: str = "auto"):
    return contentviews.prettify_message(message, flow, view_name=view)


def text(flow: http.HTTPFlow, side: str, view: str = "LLM Chat") -> str:
    result = render(flow, flow.request if side == "request" else flow.response, view)
    assert result.view_name == view
    return result.text


# --- registration ----------------------------------------------------------------------------------


def test_register_adds_the_three_views_once():
    before = {name: contentviews.registry[name] for name in ("sse", "llm chat", "llm exchange")}
    register()
    register()
    after = {name: contentviews.registry[name] for name in ("sse", "llm chat", "llm exchange")}
    assert all(before[name] is after[name] for name in before)  # kept, not replaced
    assert {type(view) for view in after.values()} == set(VIEWS)
    assert {"sse", "llm chat", "llm exchange"} <= set(contentviews.registry.available_views())
    assert contentviews.registry["sse"].syntax_highlight == "yaml"
    assert contentviews.registry["llm chat"].syntax_highlight == "none"
    assert contentviews.registry["llm exchange"].syntax_highlight == "none"


# --- every recorded flow, every message, every view ------------------------------------------------


@pytest.mark.parametrize("path", FLOWS, ids=_id)
def test_every_view_renders_every_recorded_message(path):
    flow = load(path)
    for message in (flow.request, flow.response):
        for view in VIEW_NAMES:
            result = render(flow, message, view)
            assert result.view_name == view
            assert result.syntax_highlight != "error", result.text
            assert result.text.strip(), (view, type(message).__name__)
            assert "could not show" not in result.text, result.text
        auto = render(flow, message)
        assert auto.view_name == "LLM Chat", type(message).__name__  # above SSE (2) and the exchange (1.5)


@pytest.mark.parametrize("path", FLOWS, ids=_id)
def test_the_exchange_view_shows_all_four_parts(path):
    flow = load(path)
    meta = flow.metadata["llm_bridge"]
    client = meta["client_request"]
    request_side = text(flow, "request", "LLM Exchange")
    assert request_side.startswith(
        f"① client request (as the client sent it): {client['method']} {client['path']} · {meta['client_protocol']}")
    assert (f"② upstream request (as sent to {meta['provider']}, {meta['upstream_protocol']}, "
            f"model {meta['upstream_model']})") in request_side
    assert f"{flow.request.method} {flow.request.pretty_url}" in request_side
    assert all(f"  {name}: {value}" in request_side for name, value in client["headers"])  # as recorded (redacted)
    # the client's transcript comes before the upstream's, and both are there
    one, two = request_side.split("② upstream request")
    assert transcript(meta["client_protocol"], "request", client["body"]) in one
    assert transcript(meta["upstream_protocol"], "request", flow.request.content) in two

    response_side = text(flow, "response", "LLM Exchange")
    assert response_side.startswith(f"③ upstream response (as received: {meta['upstream_status']})")
    assert f"④ client response (as sent: {flow.response.status_code})" in response_side
    three, four = response_side.split("④ client response")
    name, value = meta["upstream_headers"][0]
    assert f"  {name}: {value}" in three
    if "upstream_chunks" in meta:
        body = b"".join(chunk for _, chunk in meta["upstream_chunks"])
        assert f"stream: {len(stream_events(body))} events, {len(body)} bytes in {len(meta['upstream_chunks'])} chunk" in three
    else:
        body = meta["upstream_body"]
    assert transcript(meta["upstream_protocol"], "response", body) in three
    assert transcript(meta["client_protocol"], "response", flow.response.content) in four
    assert "memory cap" not in response_side + request_side


def test_the_exchange_view_says_where_a_part_was_cut():
    flow = load("anthropic/text-stream.flow")
    flow.metadata["llm_bridge"]["truncated"] = ["upstream_chunks", "client_body"]
    flow.metadata["llm_bridge"]["attempts"] = ["1: 503 from claude", "2: 200 from claude"]
    response_side = text(flow, "response", "LLM Exchange")
    three, four = response_side.split("④ client response")
    assert three.splitlines()[1] == "(cut at the memory cap: upstream_chunks — the rest was not kept)"
    assert four.splitlines()[1] == "(cut at the memory cap: client_body — the rest was not kept)"
    request_side = text(flow, "request", "LLM Exchange")
    assert "memory cap" not in request_side
    assert "attempts:\n  1: 503 from claude\n  2: 200 from claude" in request_side
    flow.metadata["llm_bridge"].update(attempts="3; 503, 429", truncated="client_chunks")  # as the relay words it
    assert "attempts: 3; 503, 429" in text(flow, "request", "LLM Exchange")
    four = text(flow, "response", "LLM Exchange").split("④ client response")[1]
    assert four.splitlines()[1] == "(cut at the memory cap: client_chunks — the rest was not kept)"


def test_the_exchange_view_is_offered_for_bridged_flows_only():
    flow = load("anthropic/text-whole.flow")
    view = contentviews.registry["llm exchange"]
    metadata = contentviews.make_metadata(flow.response, flow)
    assert view.render_priority(flow.response.content, metadata) == 1.5
    plain = _plain_flow("/v1/chat/completions", b'{"model":"m","messages":[{"role":"user","content":"hi"}]}',
                        b'{"choices":[{"message":{"role":"assistant","content":"yo"},"finish_reason":"stop"}]}')
    assert view.render_priority(plain.response.content, contentviews.make_metadata(plain.response, plain)) == -1
    assert "not a flow the bridge handled" in text(plain, "response", "LLM Exchange")


# --- LLM Chat on recorded flows ----------------------------------------------------------------------


def test_chat_transcript_of_an_openai_client_translated_to_anthropic():
    flow = load("anthropic/text-whole.flow")
    request = text(flow, "request")  # the upstream request: Anthropic Messages
    assert request.splitlines() == [
        "request: model claude-sonnet-4-5 · max_tokens 64000",
        "system: Be brief.",
        "user: Hello!",
    ]
    response = text(flow, "response")  # the client's answer: OpenAI Chat
    assert response.splitlines() == [
        "response: model claude-sim · id msg_sim_000004",
        f"assistant: {SIMULATOR_HELLO}",
        "finish reason: stop",
        "usage: input 36 · output 5 · cached 0 · total 41",
    ]


def test_chat_transcript_accumulates_a_streamed_tool_call():
    flow = load("anthropic/parallel-tools-stream.flow")
    response = text(flow, "response")
    events = [e for e in stream_events(flow.response.content)]
    assert response.splitlines() == [
        f"stream: {len(events)} events",
        "response: model claude-sim · id msg_sim_000014",
        "assistant: Let me check.",
        '  [tool call get_weather, id toolu_sim_01] {"city":"Paris"}',
        '  [tool call get_weather, id toolu_sim_02] {"city":"London"}',
        "finish reason: tool_calls",
    ]
    # the arguments really were split across events
    assert b'"arguments":"{\\"city\\":\\"Paris\\"}"' not in flow.response.content


def test_chat_transcript_of_a_tool_round_trip_and_its_anthropic_stream():
    flow = load("anthropic-client/openai-chat/tool-results-turn.flow")
    request = text(flow, "request")  # OpenAI Chat upstream request
    assert '  [tool call get_weather, id call_sim_01] {"city":"Paris"}' in request
    assert "tool: [tool result for call_sim_01] 18°C, sunny" in request
    assert "tool: [tool result for call_sim_02] 12°C, rain" in request
    assert "tools: get_weather" in request
    response = text(flow, "response")  # Anthropic stream to the client
    assert "assistant: Tool results received: 18°C, sunny; 12°C, rain" in response
    assert "stop reason: end_turn" in response
    assert "usage: input 197 · output 4 · cached 0 · cache write 0" in response
    client = transcript("anthropic", "request", flow.metadata["llm_bridge"]["client_request"]["body"])
    assert "user: [tool result for call_sim_01] 18°C, sunny\n  [tool result for call_sim_02] 12°C, rain" in client


def test_chat_transcript_shortens_a_thinking_signature():
    flow = load("anthropic-client/anthropic/passthrough-stream.flow")
    response = text(flow, "response")
    signature = next(json.loads(data)["delta"]["signature"] for _, data in stream_events(flow.response.content)
                     if b"signature_delta" in data)
    assert len(signature) > 12
    assert f"assistant: [thinking, signature {signature[:12]}…] Let me think this through carefully." in response
    assert signature not in response
    assert "  The answer is 42." in response
    assert "stop reason: end_turn" in response


def test_chat_transcript_of_an_image_request():
    flow = load("anthropic/image-input.flow")
    data = json.loads(flow.request.content)["messages"][0]["content"][1]["source"]["data"]
    size = len(base64.b64decode(data))
    request = text(flow, "request")
    assert request.splitlines()[1:] == [
        "user: What is this?",
        f"  [image image/png, {size} B]",
        "  [image url https://example.com/cat.jpg]",
    ]
    assert data not in request


def test_chat_transcript_of_an_error_answer():
    flow = load("anthropic/error-429-rate-limit.flow")
    assert text(flow, "response") == (
        "error: rate_limit_error · rate_limit_exceeded: claude upstream: simulated rate_limit_error")
    upstream = transcript("anthropic", "response", flow.metadata["llm_bridge"]["upstream_body"])
    assert upstream == "error: rate_limit_error: simulated rate_limit_error"


def test_chat_transcript_of_a_mid_stream_error():
    flow = load("gemini/chat-client-mid-stream-error.flow")
    response = text(flow, "response")
    assert "assistant: Partial answer before" in response
    assert response.splitlines()[-1] == (
        "error: server_error · overloaded: gem upstream: The model is overloaded. Please try again later.")
    meta = flow.metadata["llm_bridge"]
    upstream = transcript("gemini", "response", b"".join(chunk for _, chunk in meta["upstream_chunks"]))
    assert "model: Partial answer before" in upstream
    assert upstream.splitlines()[-1] == "error: UNAVAILABLE · 503: The model is overloaded. Please try again later."


def test_chat_transcript_of_gemini_bodies():
    flow = load("gemini-client/openai-responses/thinking-whole.flow")
    assert text(flow, "response").splitlines() == [  # a whole Gemini answer to the client
        "response: model resp-sim · id resp_sim_000118",
        "model: [thought, signature bGxtLWJyaWRn…] Let me think this through carefully.",
        "  The answer is 42.",
        "finish reason: STOP",
        "usage: input 74 · output 2 · thoughts 2 · total 78",
    ]
    request = transcript("gemini", "request", flow.metadata["llm_bridge"]["client_request"]["body"])
    assert request.splitlines() == [
        "request: maxOutputTokens 4000 · thinking budget 2048, thoughts included",
        "user: [sim:thinking]",
    ]
    flow = load("gemini/chat-client-parallel-tools-stream.flow")
    assert text(flow, "request").splitlines() == ["tools: get_weather", "user: [sim:tools]"]  # Gemini upstream
    upstream = transcript("gemini", "response",
                          b"".join(chunk for _, chunk in flow.metadata["llm_bridge"]["upstream_chunks"]))
    assert upstream.splitlines()[2:] == [
        "model: Let me check.",
        '  [tool call get_weather, signature Ei1zaW1mAAAA…] {"city":"Paris"}',
        '  [tool call get_weather] {"city":"London"}',
        "finish reason: STOP",
        "usage: input 63 · output 10 · total 73",
    ]


def test_chat_transcript_of_responses_bodies():
    flow = load("responses-client/openai-chat/parallel-tools-stream.flow")
    response = text(flow, "response")  # a Responses stream to the client
    assert response.splitlines()[2:] == [
        "assistant: Let me check.",
        'assistant: [tool call get_weather, id call_sim_01] {"city":"Paris"}',
        'assistant: [tool call get_weather, id call_sim_02] {"city":"London"}',
        "status: completed",
        "usage: input 85 · output 10 · cached 0 · reasoning 0 · total 95",
    ]
    flow = load("openai-responses/chat-client-parallel-tools-stream.flow")
    request = text(flow, "request")  # a Responses upstream request
    assert request.startswith("request: model gpt-5-mini")
    assert "tools: get_weather" in request and "user: [sim:tools]" in request
    codex = load("codex/exec-tool-result.flow").metadata["llm_bridge"]["client_request"]["body"]
    client = transcript("openai-responses", "request", codex)
    assert 'assistant: [tool call exec_command, id toolu_sim_01] {"cmd":"cat note.txt"}' in client
    assert "tool: [tool result for toolu_sim_01] Chunk ID:" in client
    assert "    the codex marker is Otter 5531" in client
    assert "multi_agent_v1 (namespace)" in client.splitlines()[1]


def test_chat_transcript_of_a_bedrock_event_stream():
    flow = load("bedrock/text-stream.flow")
    meta = flow.metadata["llm_bridge"]
    body = b"".join(chunk for _, chunk in meta["upstream_chunks"])
    upstream = transcript("bedrock", "response", body)
    assert upstream.splitlines()[0] == "stream: 11 events (AWS event-stream, 11 frames)"
    assert f"assistant: {SIMULATOR_HELLO}" in upstream
    assert "stop reason: end_turn" in upstream
    assert "③ upstream response (as received: 200)" in text(flow, "response", "LLM Exchange")


def test_a_streamed_answer_left_empty_is_read_from_the_kept_chunks():
    flow = load("anthropic/text-stream.flow")
    body = flow.response.content
    flow.metadata["llm_bridge"]["client_chunks"] = [[0.5, body[:300]], [0.75, body[300:]]]
    flow.response.content = b""  # a live streamed flow: mitmproxy keeps no body
    assert f"assistant: {SIMULATOR_HELLO}" in text(flow, "response")
    assert len(HEADER.findall(text(flow, "response", "SSE"))) == len(stream_events(body))


# --- flows the bridge did not handle ---------------------------------------------------------------


def _plain_flow(path: str, request: bytes, response: bytes, content_type: str = "application/json"):
    flow = tflow.tflow(resp=True)
    flow.request.path = path
    flow.request.content = request
    flow.response.headers["content-type"] = content_type
    flow.response.content = response
    return flow


@pytest.mark.parametrize(("path", "protocol"), [
    ("/v1/chat/completions", "openai-chat"),
    ("/chat/completions", "openai-chat"),
    ("/openai/deployments/gpt/chat/completions?api-version=2024-10-21", "openai-chat"),
    ("/v1/responses", "openai-responses"),
    ("/v1/messages?beta=true", "anthropic"),
    ("/v1beta/models/gemini-2.5-pro:generateContent", "gemini"),
    ("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "gemini"),
])
def test_a_plain_flow_is_read_by_its_path(path, protocol):
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"input":"hi","contents":[{"parts":[{"text":"hi"}]}]}'
    flow = _plain_flow(path, body, b'{"error":{"message":"nope"}}')
    result = render(flow, flow.request)
    assert result.view_name == "LLM Chat"
    assert result.text == transcript(protocol, "request", body)
    assert "hi" in result.text
    assert render(flow, flow.response).text == "error: nope"


def test_a_plain_flow_that_is_no_llm_call_keeps_mitmproxys_views():
    flow = _plain_flow("/index.html", b"", b"<html><body>hi</body></html>", "text/html")
    assert render(flow, flow.response).view_name != "LLM Chat"
    sse = _plain_flow("/events", b"", b"event: tick\ndata: {\"n\": 1}\n\ndata: plain\n\n", "text/event-stream")
    result = render(sse, sse.response)
    assert result.view_name == "SSE"  # no LLM path: the SSE view wins "auto"
    assert result.syntax_highlight == "yaml"
    assert result.text == '# SSE: 2 events, 41 bytes\n\n# 1 · event: tick\n{\n  "n": 1\n}\n\n# 2\nplain'


# --- the SSE view --------------------------------------------------------------------------------


def _expected_events(body: bytes) -> list[str | None]:
    """Each event's name (None when it has none), read from the body without the SSE decoder."""
    names = []
    for block in re.split(rb"\r\n\r\n|\n\n", body.replace(b"\r\n", b"\n")):
        lines = block.split(b"\n")
        if any(line.startswith(b"data") for line in lines):
            name = next((line[len(b"event:"):].strip().decode() for line in lines if line.startswith(b"event:")), None)
            names.append(name)
    return names


SSE_FLOWS = [p for p in FLOWS if load(p).response.headers.get("content-type", "").startswith("text/event-stream")]


@pytest.mark.parametrize("path", SSE_FLOWS, ids=_id)
def test_the_sse_view_gives_one_block_per_event(path):
    flow = load(path)
    body = flow.response.content
    result = render(flow, flow.response, "SSE")
    assert result.syntax_highlight == "yaml"
    headers = HEADER.findall(result.text)
    expected = _expected_events(body)
    assert len(headers) == len(expected) > 0
    assert [int(number) for number, _, _ in headers] == list(range(1, len(expected) + 1))
    assert [name or None for _, name, _ in headers] == expected
    meta = flow.metadata["llm_bridge"]
    # timed when the recording kept the client's chunks (recordings since issue 12), or when the answer is the
    # upstream's own bytes (a passthrough); older translated recordings have neither
    timed = "client_chunks" in meta or b"".join(chunk for _, chunk in meta["upstream_chunks"]) == body
    times = [float(t) for _, _, t in headers if t]
    if timed:
        assert len(times) == len(headers)
        assert times == sorted(times) and times[0] == 0.0
    else:
        assert not times
    # each block's data is the event's JSON, indented
    first = result.text.split("\n\n")[1].split("\n", 1)[1]
    data = next(data for _, data in stream_events(body))
    assert first == (json.dumps(json.loads(data), indent=2, ensure_ascii=False) if data != b"[DONE]" else "[DONE]")


def test_the_sse_view_times_an_event_by_the_chunk_of_its_last_byte():
    flow = load("anthropic-client/openai-chat/parallel-tools-stream.flow")
    body = flow.response.content
    cuts = [0, 5, 200, 201, 700, len(body) - 1, len(body)]  # chunks ending mid-event and right after one
    chunks = [[1.0 + i * 0.25, body[a:b]] for i, (a, b) in enumerate(zip(cuts, cuts[1:]))]
    flow.metadata["llm_bridge"]["client_chunks"] = chunks
    ends = [m.end() - 1 for m in re.finditer(rb"\n\n", body)]  # each event's last byte
    expected = []
    for end in ends:
        index = next(i for i, (a, b) in enumerate(zip(cuts, cuts[1:])) if a <= end < b)
        expected.append(f"{chunks[index][0] - 1.0:.4f}")
    headers = HEADER.findall(text(flow, "response", "SSE"))
    assert [t for _, _, t in headers] == expected
    assert expected[-1] == "1.2500"  # the last event ends in the last, 1-byte chunk
    assert len(set(expected)) >= 3


# --- transcript(): every protocol, by hand-made bodies --------------------------------------------


def _b(value) -> bytes:
    return json.dumps(value).encode()


def _sse(*events, named: bool = False) -> bytes:
    out = b""
    for event in events:
        data = event if isinstance(event, bytes) else _b(event)
        if named and isinstance(event, dict):
            out += b"event: " + event["type"].encode() + b"\n"
        out += b"data: " + data + b"\n\n"
    return out


PNG = base64.b64encode(b"\x89PNG" + bytes(12_596)).decode()  # 12,600 bytes: 12.3 KB
SIGNATURE = "EqQBCkgIARABGAIiQL" + "x" * 200


def test_openai_chat_request_with_an_image_and_a_tool_round_trip():
    body = _b({
        "model": "gpt-4o", "stream": True, "max_completion_tokens": 99, "reasoning_effort": "low",
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}},
                  {"type": "function", "function": {"name": "get_time"}}],
        "messages": [
            {"role": "system", "content": "Be brief.\nAnd kind."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
            {"role": "assistant", "content": None, "reasoning_content": "hmm",
             "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
        ],
    })
    assert transcript("openai-chat", "request", body).splitlines() == [
        "request: model gpt-4o · max_tokens 99 · reasoning_effort low · stream",
        "tools: get_weather, get_time",
        "system: Be brief.",
        "    And kind.",
        "user: What is this?",
        "  [image image/png, 12.3 KB]",
        "assistant: [reasoning] hmm",
        '  [tool call get_weather, id call_1] {"city":"Paris"}',
        "tool: [tool result for call_1] 18°C",
    ]
    assert transcript("azure", "request", body) == transcript("openai-chat", "request", body)


def test_openai_chat_whole_and_streamed_answers():
    whole = _b({"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "On it.",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                  "prompt_tokens_details": {"cached_tokens": 4}}})
    expected = [
        "response: model gpt-4o · id c1",
        "assistant: On it.",
        '  [tool call f, id call_1] {"a":1}',
        "finish reason: tool_calls",
        "usage: input 10 · output 3 · cached 4 · total 13",
    ]
    assert transcript("openai-chat", "response", whole).splitlines() == expected
    chunk = {"id": "c1", "model": "gpt-4o", "object": "chat.completion.chunk"}
    stream = _sse(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "On"}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": " it."}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**chunk, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                                           "prompt_tokens_details": {"cached_tokens": 4}}},
        b"[DONE]",
    )
    assert transcript("openai-chat", "response", stream).splitlines() == ["stream: 8 events", *expected]
    assert transcript("openai-chat", "response", stream, streamed=True) == transcript("openai-chat", "response", stream)
    cut = stream[: stream.index(b"data: [DONE]")].replace(b'"finish_reason": "tool_calls"', b'"finish_reason": null')
    assert transcript("openai-chat", "response", cut).splitlines()[-1] == (
        "(the stream ended without a finish reason or [DONE])")


def test_openai_chat_error_envelopes():
    body = _b({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
    assert transcript("openai-chat", "response", body) == "error: requests · rate_limit_exceeded: Rate limit reached"
    stream = _sse({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
                  {"error": {"message": "overloaded", "type": "server_error"}})
    assert transcript("openai-chat", "response", stream).splitlines()[-2:] == [
        "assistant: Hi", "error: server_error: overloaded"]


def test_anthropic_request_with_thinking_images_and_tool_results():
    body = _b({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 512},
        "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "get_weather", "input_schema": {}}, {"type": "web_search_20250305", "name": "web_search"}],
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "The user wants weather.", "signature": SIGNATURE},
                {"type": "redacted_thinking", "data": "ErcBCkgIAR" + "y" * 50},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                 "content": [{"type": "text", "text": "no network"}]}]},
        ],
    })
    lines = transcript("anthropic", "request", body).splitlines()
    assert lines == [
        "request: model claude-sonnet-4-5 · max_tokens 1024 · thinking enabled (budget 512) · stream",
        "tools: get_weather, web_search (web_search_20250305)",
        "system: Be brief.",
        "user: [image image/png, 12.3 KB]",
        "  Weather?",
        f"assistant: [thinking, signature {SIGNATURE[:12]}…] The user wants weather.",
        "  [redacted thinking, data ErcBCkgIARyy…]",
        '  [tool call get_weather, id toolu_1] {"city":"Paris"}',
        "user: [tool result for toolu_1 (error)] no network",
    ]
    assert SIGNATURE not in "\n".join(lines)
    assert transcript("bedrock", "request", body) == transcript("anthropic", "request", body)


def test_anthropic_whole_and_streamed_answers():
    whole = _b({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "thinking", "thinking": "Let me see.", "signature": SIGNATURE},
                            {"type": "text", "text": "Checking."},
                            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
                "stop_reason": "tool_use", "stop_sequence": None,
                "usage": {"input_tokens": 20, "output_tokens": 7, "cache_read_input_tokens": 5,
                          "cache_creation_input_tokens": 0}})
    expected = [
        "response: model claude-sonnet-4-5 · id msg_1",
        f"assistant: [thinking, signature {SIGNATURE[:12]}…] Let me see.",
        "  Checking.",
        '  [tool call get_weather, id toolu_1] {"city":"Paris"}',
        "stop reason: tool_use",
        "usage: input 20 · output 7 · cached 5 · cache write 0",
    ]
    assert transcript("anthropic", "response", whole).splitlines() == expected
    stream = _sse(
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-5", "content": [],
                                              "usage": {"input_tokens": 20, "output_tokens": 1,
                                                        "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": " see."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Check"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "ing."}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"ci"}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "ty\": \"Paris\"}"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
        named=True,
    )
    assert transcript("anthropic", "response", stream).splitlines() == ["stream: 17 events", *expected]
    failed = stream[: stream.index(b"event: content_block_start")] + _sse(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, named=True)
    assert transcript("anthropic", "response", failed).splitlines()[-1] == "error: overloaded_error: Overloaded"
    envelope = _b({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too big"}})
    assert transcript("anthropic", "response", envelope) == "error: invalid_request_error: max_tokens: too big"


def test_responses_request_with_every_input_item():
    encrypted = "gAAAAABo" + "z" * 300
    body = _b({
        "model": "gpt-5", "instructions": "Be brief.", "max_output_tokens": 500, "reasoning": {"effort": "high"},
        "stream": True,
        "tools": [{"type": "function", "name": "exec_command", "parameters": {}}, {"type": "web_search"}],
        "input": [
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Look:"},
                {"type": "input_image", "image_url": f"data:image/jpeg;base64,{PNG}"},
                {"type": "input_image", "image_url": "https://example.com/a.png"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Thinking."}],
             "encrypted_content": encrypted},
            {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
            {"role": "assistant", "content": "Done."},
        ],
    })
    assert transcript("openai-responses", "request", body).splitlines() == [
        "request: model gpt-5 · max_output_tokens 500 · reasoning high · stream",
        "tools: exec_command, web_search",
        "instructions: Be brief.",
        "user: Look:",
        "  [image image/jpeg, 12.3 KB]",
        "  [image url https://example.com/a.png]",
        f"assistant: [reasoning, signature {encrypted[:12]}…] Thinking.",
        'assistant: [tool call exec_command, id call_1] {"cmd":"ls"}',
        "tool: [tool result for call_1] a.txt",
        "assistant: Done.",
    ]


def test_responses_whole_and_streamed_answers():
    output = [
        {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Thinking."}]},
        {"id": "msg_1", "type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Let me run it."}]},
        {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
    ]
    usage = {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 9,
             "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 39}
    response = {"id": "resp_1", "object": "response", "model": "gpt-5", "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"}, "error": None, "output": output, "usage": usage}
    expected = [
        "response: model gpt-5 · id resp_1",
        "assistant: [reasoning] Thinking.",
        "assistant: Let me run it.",
        'assistant: [tool call exec_command, id call_1] {"cmd":"ls"}',
        "status: incomplete (max_output_tokens)",
        "usage: input 30 · output 9 · cached 10 · reasoning 2 · total 39",
    ]
    assert transcript("openai-responses", "response", _b(response)).splitlines() == expected
    started = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    stream = _sse(
        {"type": "response.created", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "part": {"type": "summary_text", "text": ""}},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "delta": "Think"},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 0,
         "delta": "ing."},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []}},
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 1, "content_index": 0,
         "part": {"type": "output_text", "text": ""}},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "Let me"},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "content_index": 0,
         "delta": " run it."},
        {"type": "response.output_item.added", "output_index": 2,
         "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 2, "delta": "{\"cmd\""},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 2, "delta": ":\"ls\"}"},
        # a terminal event without the output: the accumulated items stand
        {"type": "response.incomplete", "response": {**response, "output": []}},
        named=True,
    )
    assert transcript("openai-responses", "response", stream).splitlines() == ["stream: 13 events", *expected]
    failed = _sse({"type": "response.created", "response": started},
                  {"type": "error", "code": "server_error", "message": "The server had an error"}, named=True)
    assert transcript("openai-responses", "response", failed).splitlines()[-1] == (
        "error: server_error: The server had an error")


def test_gemini_request_and_answers():
    body = _b({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 256, "thinkingConfig": {"thinkingBudget": 128}},
        "tools": [{"functionDeclarations": [{"name": "get_weather"}]}, {"googleSearch": {}}],
        "contents": [
            {"role": "user", "parts": [{"text": "Weather here?"},
                                       {"inlineData": {"mimeType": "image/png", "data": PNG}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                         "thoughtSignature": SIGNATURE}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "18°C"}}}]},
        ],
    })
    assert transcript("gemini", "request", body).splitlines() == [
        "request: maxOutputTokens 256 · thinking budget 128",
        "tools: get_weather, googleSearch",
        "system: Be brief.",
        "user: Weather here?",
        "  [image image/png, 12.3 KB]",
        f'model: [tool call get_weather, signature {SIGNATURE[:12]}…] {{"city":"Paris"}}',
        'user: [tool result for get_weather] {"content":"18°C"}',
    ]
    usage = {"promptTokenCount": 12, "candidatesTokenCount": 4, "thoughtsTokenCount": 3, "totalTokenCount": 19}
    expected = [
        "response: model gemini-2.5-pro · id r1",
        "model: [thought] Hmm.",
        "  It is sunny.",
        '  [tool call get_weather] {"city":"Paris"}',
        "finish reason: STOP",
        "usage: input 12 · output 4 · thoughts 3 · total 19",
    ]
    whole = {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "Hmm.", "thought": True}, {"text": "It is sunny."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}],
        "usageMetadata": usage, "modelVersion": "gemini-2.5-pro", "responseId": "r1"}
    assert transcript("gemini", "response", _b(whole)).splitlines() == expected
    head = {"modelVersion": "gemini-2.5-pro", "responseId": "r1"}
    chunks = [
        {**head, "candidates": [{"content": {"role": "model", "parts": [{"text": "Hm", "thought": True}]}}]},
        {**head, "candidates": [{"content": {"role": "model", "parts": [{"text": "m.", "thought": True}]}}]},
        {**head, "candidates": [{"content": {"role": "model", "parts": [{"text": "It is "}]}}]},
        {**head, "candidates": [{"content": {"role": "model", "parts": [{"text": "sunny."}]}}]},
        {**head, "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}],
         "usageMetadata": usage},
    ]
    sse = b"".join(b"data: " + _b(c) + b"\r\n\r\n" for c in chunks)
    assert transcript("gemini", "response", sse).splitlines() == ["stream: 5 events", *expected]
    assert transcript("gemini", "response", _b(chunks)).splitlines() == ["stream: 5 events (JSON array stream)", *expected]
    error = _b({"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}})
    assert transcript("gemini", "response", error) == "error: RESOURCE_EXHAUSTED · 429: Resource exhausted"


def test_trae_best_effort():
    request = _b({"model_name": "claude-4-sonnet", "stream": True,
                  "chat_history": [{"role": "system", "content": "Be brief."}], "user_input": "Hi"})
    assert transcript("trae", "request", request).splitlines() == [
        "request: model claude-4-sonnet · stream", "system: Be brief.", "user: Hi"]
    stream = (b'event: metadata\ndata: {"prompt_completion_id": "p1"}\n\n'
              b'event: output\ndata: {"response": "Hel", "reasoning_content": "think"}\n\n'
              b'event: output\ndata: {"response": "lo"}\n\n'
              b'event: done\ndata: {"finish_reason": "stop"}\n\n')
    assert transcript("trae", "response", stream).splitlines() == [
        "stream: 4 events", "response: id p1", "assistant: [reasoning] think", "  Hello", "finish reason: stop"]
    assert transcript("trae", "response", b'{"code": 4008, "message": "quota"}') == "error: 4008: quota"


def _timed_transcript(protocol: str, body: bytes, limit: float) -> list[str]:
    """The transcript's lines, read in at most `limit` times what it takes just to read the stream's events as
    JSON (a machine-relative bound: a linear fold costs about as much again, a quadratic one ten times and
    more). The best of two tries, so that a moment of load is not taken for slowness."""
    import orjson

    def timed(read) -> float:
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            read()
            best = min(best, time.perf_counter() - started)
        return best

    baseline = timed(lambda: [orjson.loads(data) for _, data in stream_events(body) if data.startswith(b"{")])
    lines = transcript(protocol, "response", body).splitlines()
    took = timed(lambda: transcript(protocol, "response", body))
    assert took < limit * baseline + 0.05, f"{protocol}: {took:.2f} s against {baseline:.2f} s to read its events"
    return lines


def test_a_long_stream_is_folded_in_linear_time():
    """mitmweb renders a view on the proxy's event loop: joining tens of thousands of deltas must not copy the
    text gathered so far at every one of them. Allowed: 6 times what reading the events' JSON takes. Measured on
    a slow 2-core machine: 0.4 s (Anthropic, Responses), 0.8 s (Gemini), 1.0 s (Chat, 80,000 events), about 1.5-3
    times the reading; when the folding was quadratic: 2.6 s, 2.6 s, 3.3 s and 11.8 s."""
    def sse(events, named=False):  # joined once: `out += ...` would itself be quadratic
        return b"".join((b"event: " + e["type"].encode() + b"\n" if named else b"") + b"data: " + _b(e) + b"\n\n"
                        for e in events)

    def pieces(count):  # ~40 characters each, every one different: the order of the join is checked too
        return [f"delta {i:05d} of a long streamed answer{'é' if i % 1000 == 0 else ''}; " for i in range(count)]

    chunk = {"id": "c1", "model": "gpt-4o"}
    text = pieces(80_000)
    chat = sse([{**chunk, "choices": [{"index": 0, "delta": {"content": p}}]} for p in text]
               + [{**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]) + b"data: [DONE]\n\n"
    assert _timed_transcript("openai-chat", chat, 6) == [
        "stream: 80002 events", "response: model gpt-4o · id c1", f"assistant: {''.join(text)}", "finish reason: stop"]

    text = pieces(40_000)
    anthropic = sse(
        [{"type": "message_start", "message": {"id": "m1", "model": "claude", "usage": {"input_tokens": 1}}},
         {"type": "content_block_start", "index": 0,
          "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}}},
         {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"text": "'}}]
        + [{"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": p}}
           for p in text]
        + [{"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '"}'}},
           {"type": "content_block_stop", "index": 0},
           {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
           {"type": "message_stop"}], named=True)
    assert _timed_transcript("anthropic", anthropic, 6) == [
        "stream: 40007 events", "response: model claude · id m1",
        f'assistant: [tool call f, id t1] {{"text":"{"".join(text)}"}}', "stop reason: tool_use", "usage: input 1 · output 9"]

    responses = sse(
        [{"type": "response.created", "response": {"id": "r1", "model": "gpt-5", "output": []}},
         {"type": "response.output_item.added", "output_index": 0,
          "item": {"id": "msg_1", "type": "message", "role": "assistant", "content": []}}]
        + [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": p}
           for p in text]
        + [{"type": "response.completed", "response": {"id": "r1", "model": "gpt-5", "status": "completed", "output": []}}],
        named=True)
    assert _timed_transcript("openai-responses", responses, 6) == [
        "stream: 40003 events", "response: model gpt-5 · id r1", f"assistant: {''.join(text)}", "status: completed"]

    head = {"modelVersion": "gemini-2.5-pro", "responseId": "r1"}
    gemini = sse([{**head, "candidates": [{"content": {"role": "model", "parts": [{"text": p}]}}]} for p in text[:-1]]
                 + [{**head, "candidates": [{"content": {"role": "model", "parts": [{"text": text[-1]}]},
                                             "finishReason": "STOP"}]}])
    assert _timed_transcript("gemini", gemini, 6) == [
        "stream: 40000 events", "response: model gemini-2.5-pro · id r1", f"model: {''.join(text)}", "finish reason: STOP"]


@pytest.mark.parametrize("protocol", ["openai-chat", "openai-responses", "anthropic", "gemini", "azure", "bedrock", "trae"])
@pytest.mark.parametrize("kind", ["request", "response"])
@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"[1,2]", b"data: {broken\n\n", b"null", b"\x00\x00\x00\x10" * 8,
                                  b'{"messages": 5, "choices": 7, "content": 1, "output": 2, "candidates": 3}'])
def test_an_unreadable_body_gives_a_one_line_note(protocol, kind, body):
    for streamed in (None, True, False):
        result = transcript(protocol, kind, body, streamed=streamed)
        assert isinstance(result, str) and result.strip()
        if body != b'{"messages": 5, "choices": 7, "content": 1, "output": 2, "candidates": 3}':
            assert "\n" not in result, result


def test_an_unknown_protocol_or_kind_is_an_error():
    with pytest.raises(ValueError):
        transcript("soap", "request", b"{}")
    with pytest.raises(ValueError):
        transcript("anthropic", "answer", b"{}")


def test_a_view_never_raises_on_odd_metadata():
    flow = load("anthropic/text-stream.flow")
    odd = copy.deepcopy(flow)
    odd.metadata["llm_bridge"].update(client_request=None, upstream_chunks=[[1]], upstream_headers="x",
                                      truncated="all", upstream_protocol="soap")
    for message in (odd.request, odd.response):
        for view in VIEW_NAMES:
            result = render(odd, message, view)
            assert result.view_name == view and result.text.strip() and result.syntax_highlight != "error"
