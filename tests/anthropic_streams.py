"""Anthropic Messages SSE bodies written from the documented event grammar (test data)."""

import orjson


def sse(events: list[dict], crlf: bool = False) -> bytes:
    eol = b"\r\n" if crlf else b"\n"
    return b"".join(b"event: " + e["type"].encode() + eol + b"data: " + orjson.dumps(e) + eol + eol for e in events)


def message_start(usage=None):
    usage = usage or {"input_tokens": 25, "output_tokens": 1}
    return {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5", "stop_reason": None, "stop_sequence": None, "usage": usage}}


def block(index, content_block):
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index, d):
    return {"type": "content_block_delta", "index": index, "delta": d}


def stop(index):
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason, output_tokens=15, stop_sequence=None, **usage):
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": {"output_tokens": output_tokens, **usage}}


MESSAGE_STOP = {"type": "message_stop"}
PING = {"type": "ping"}

TEXT = sse([
    message_start(), PING, block(0, {"type": "text", "text": ""}),
    delta(0, {"type": "text_delta", "text": "Hello"}), delta(0, {"type": "text_delta", "text": " wörld ✓ 🌍"}),
    stop(0), message_delta("end_turn"), MESSAGE_STOP,
])

THINKING_THEN_TOOLS = sse([
    message_start(),
    block(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, {"type": "thinking_delta", "thinking": "Need weather."}),
    delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
    stop(0),
    block(1, {"type": "text", "text": ""}), delta(1, {"type": "text_delta", "text": "Checking."}), stop(1),
    block(2, {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}}),
    delta(2, {"type": "input_json_delta", "partial_json": ""}),
    delta(2, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
    delta(2, {"type": "input_json_delta", "partial_json": 'ris"}'}),
    stop(2),
    block(3, {"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {}}),
    delta(3, {"type": "input_json_delta", "partial_json": '{"city": "London"}'}),
    stop(3),
    message_delta("tool_use", 80), MESSAGE_STOP,
], crlf=True)

WEB_SEARCH = sse([
    message_start(),
    block(0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
    delta(0, {"type": "input_json_delta", "partial_json": '{"query": "x"}'}), stop(0),
    block(1, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}), stop(1),
    block(2, {"type": "text", "text": ""}), delta(2, {"type": "text_delta", "text": "Found it."}), stop(2),
    message_delta("end_turn"), MESSAGE_STOP,
])

CACHED = sse([
    message_start({"input_tokens": 12, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200, "output_tokens": 1}),
    block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "ok"}), stop(0),
    message_delta("end_turn", 9), MESSAGE_STOP,
])

MID_STREAM_ERROR = sse([
    message_start(), block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "Par"}),
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
])


def stop_reason_stream(stop_reason: str, stop_sequence: str | None = None) -> bytes:
    return sse([message_start(), block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "x"}),
                stop(0), message_delta(stop_reason, stop_sequence=stop_sequence), MESSAGE_STOP])


ALL = {"text": TEXT, "thinking_then_tools": THINKING_THEN_TOOLS, "web_search": WEB_SEARCH, "cached": CACHED,
       "mid_stream_error": MID_STREAM_ERROR}
