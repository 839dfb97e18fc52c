"""Anthropic stream -> OpenAI chat.completion.chunk stream, and the chunk-split property."""

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import anthropic_streams as streams
from transforms.anthropic.decode_stream import AnthropicStreamDecoder
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.stream import StreamTranslator


def translator(include_usage=True):
    return StreamTranslator(
        AnthropicStreamDecoder(provider="anthropic"),
        ChatCompletionChunkEncoder(model="alias", created=1700000000, include_usage=include_usage),
    )


def run(body: bytes, pieces=None, include_usage=True) -> bytes:
    t = translator(include_usage)
    pieces = pieces if pieces is not None else [body]
    return b"".join(t.feed(p) for p in pieces) + t.close()


def chunks(out: bytes) -> list:
    lines = [line[6:] for line in out.split(b"\n\n") if line.startswith(b"data: ")]
    return [line if line == b"[DONE]" else orjson.loads(line) for line in lines]


def deltas(out: bytes) -> list[dict]:
    return [c["choices"][0]["delta"] for c in chunks(out) if isinstance(c, dict) and c.get("choices")]


def test_text_stream_shape():
    out = chunks(run(streams.TEXT))
    assert out[-1] == b"[DONE]"
    first = out[0]
    assert first["object"] == "chat.completion.chunk" and first["id"] == "msg_01"
    assert first["created"] == 1700000000 and first["model"] == "alias"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas(run(streams.TEXT))) == "Hello wörld ✓ 🌍"
    assert {c["id"] for c in out[:-1]} == {"msg_01"}
    finish = [c["choices"][0]["finish_reason"] for c in out[:-1] if c["choices"]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}


def test_usage_chunk_only_when_asked():
    usage_chunk = chunks(run(streams.TEXT))[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 15
    assert all("usage" not in c for c in chunks(run(streams.TEXT, include_usage=False))[:-1])


def test_cached_usage():
    usage = chunks(run(streams.CACHED))[-2]["usage"]
    assert usage == {"prompt_tokens": 1212, "completion_tokens": 9, "total_tokens": 1221,
                     "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 200}}


def test_thinking_and_parallel_tools():
    ds = deltas(run(streams.THINKING_THEN_TOOLS))
    assert "".join(d.get("reasoning_content", "") for d in ds) == "Need weather."
    assert "".join(d.get("content") or "" for d in ds) == "Checking."
    calls = [tc for d in ds for tc in d.get("tool_calls", [])]
    starts = [tc for tc in calls if "id" in tc]
    assert [(tc["index"], tc["id"], tc["function"]["name"]) for tc in starts] == [(0, "toolu_A", "get_weather"), (1, "toolu_B", "get_weather")]
    args = {0: "", 1: ""}
    for tc in calls:
        args[tc["index"]] += tc["function"]["arguments"]
    assert {i: orjson.loads(a) for i, a in args.items()} == {0: {"city": "Paris"}, 1: {"city": "London"}}
    assert all(tc["function"]["arguments"] for tc in calls if "id" not in tc)  # no empty fragments
    assert chunks(run(streams.THINKING_THEN_TOOLS))[-3]["choices"][0]["finish_reason"] == "tool_calls"


def test_server_tool_blocks_are_not_client_tool_calls():
    ds = deltas(run(streams.WEB_SEARCH))
    assert not any("tool_calls" in d for d in ds)
    assert "".join(d.get("content", "") for d in ds) == "Found it."


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
     ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length")],
)
def test_stop_reasons(stop_reason, finish):
    out = chunks(run(streams.stop_reason_stream(stop_reason)))
    assert out[-3]["choices"][0]["finish_reason"] == finish


def test_mid_stream_error_ends_with_an_error_chunk():
    out = chunks(run(streams.MID_STREAM_ERROR))
    assert out[-1]["error"]["message"] == "anthropic upstream: Overloaded"
    assert out[-1]["error"]["code"] == "overloaded"
    assert b"[DONE]" not in out


def test_cut_stream_is_an_error():
    out = chunks(run(streams.TEXT[: streams.TEXT.index(b"event: message_delta")]))
    assert "ended before" in out[-1]["error"]["message"]


def test_translator_bug_becomes_an_error_chunk_not_an_exception():
    out = chunks(run(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n" + streams.TEXT))
    assert out[-1]["error"]["type"] == "server_error"
    assert "could not translate" in out[-1]["error"]["message"]


@pytest.mark.parametrize("name", list(streams.ALL))
def test_every_split_point_gives_the_same_output(name):
    body = streams.ALL[name]
    whole = run(body)
    for i in range(len(body) + 1):
        assert run(body, [body[:i], body[i:]]) == whole, i
    assert run(body, [body[i : i + 1] for i in range(len(body))]) == whole


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(streams.ALL)), st.lists(st.integers(0, 4000), max_size=20))
def test_random_multi_splits(name, cuts):
    body = streams.ALL[name]
    cuts = sorted({c % (len(body) + 1) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
    assert run(body, pieces) == run(body)


def test_a_bad_event_keeps_the_good_events_of_its_chunk():
    """Whether the bad event arrives in its own chunk or with the good ones, the client gets the same."""
    good = streams.TEXT[: streams.TEXT.index(b"event: content_block_stop")]
    bad = b"event: content_block_delta\ndata: {not json\n\n"
    together, apart = run(good + bad), run(good + bad, pieces=[good, bad])
    assert together == apart
    assert "Hello wörld ✓ 🌍" == "".join(d.get("content") or "" for d in deltas(together))
    assert "error" in chunks(together)[-1]
