"""Real captured provider streams (others' captures, read in place, never copied).

They live in ../shared/real-streams beside the checkout, or where
LLM_BRIDGE_REAL_STREAMS points; the tests skip cleanly when absent.
"""

import os
from pathlib import Path

import orjson
import pytest

from transforms.anthropic.decode_response import decode_messages_response
from transforms.anthropic.decode_stream import AnthropicStreamDecoder
from transforms.openai_chat.encode_response import encode_chat_completion
from transforms.openai_chat.encode_stream import ChatCompletionChunkEncoder
from transforms.openai_chat.passthrough import UsageChunkFilter
from transforms.stream import StreamTranslator

ROOT = Path(os.environ.get("LLM_BRIDGE_REAL_STREAMS", Path(__file__).resolve().parents[2] / "shared" / "real-streams"))
pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason=f"no real captures at {ROOT}")


def _files(folder: str, pattern: str) -> list[Path]:
    return sorted((ROOT / folder).glob(pattern)) if ROOT.is_dir() else []


def _translate(body: bytes, pieces: list[bytes]) -> bytes:
    t = StreamTranslator(AnthropicStreamDecoder(), ChatCompletionChunkEncoder(model="m", created=1, include_usage=True))
    return b"".join(t.feed(p) for p in pieces) + t.close()


def _anthropic_events_expected(body: bytes) -> dict:
    """What the capture itself says: text, tool inputs, stop reason and usage."""
    text, tools, stop, usage = "", {}, None, {}
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:")]
        if not data:
            continue
        event = orjson.loads(b"\n".join(data))
        if event["type"] == "message_start":
            usage.update(event["message"].get("usage") or {})
        elif event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
            tools[event["index"]] = ""
        elif event["type"] == "content_block_delta":
            d = event["delta"]
            if d["type"] == "text_delta":
                text += d["text"]
            elif d["type"] == "input_json_delta" and event["index"] in tools:
                tools[event["index"]] += d["partial_json"]
        elif event["type"] == "message_delta":
            stop = event["delta"].get("stop_reason")
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    return {"text": text, "tools": [orjson.loads(a or "{}") for a in tools.values()], "stop": stop, "usage": usage}


@pytest.mark.parametrize("path", _files("anthropic", "*.sse"), ids=lambda p: p.name)
def test_anthropic_capture_translates_faithfully(path):
    body = path.read_bytes()
    out = _translate(body, [body])
    expected = _anthropic_events_expected(body)
    chunks = [orjson.loads(l[6:]) for l in out.split(b"\n\n") if l.startswith(b"data: {")]
    assert out.endswith(b"data: [DONE]\n\n"), out[-300:]
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert "".join(d.get("content") or "" for d in deltas) == expected["text"]
    args: dict[int, str] = {}
    for d in deltas:
        for call in d.get("tool_calls", []):
            args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
    assert [orjson.loads(a or "{}") for a in args.values()] == expected["tools"]
    usage = chunks[-1]["usage"]
    u = expected["usage"]
    assert usage["completion_tokens"] == u.get("output_tokens")
    assert usage["prompt_tokens"] == u.get("input_tokens", 0) + (u.get("cache_read_input_tokens") or 0) + (u.get("cache_creation_input_tokens") or 0)
    # split at every 97th byte and byte by byte at the start: same output
    assert _translate(body, [body[i : i + 97] for i in range(0, len(body), 97)]) == out
    assert _translate(body, [body[i : i + 1] for i in range(min(len(body), 3000))] + [body[3000:]]) == out


@pytest.mark.parametrize("path", [p for p in _files("anthropic", "*.json") if b'"content"' in p.read_bytes()], ids=lambda p: p.name)
def test_anthropic_whole_message_capture(path):
    message = orjson.loads(path.read_bytes())
    if message.get("type") != "message":
        pytest.skip("not a message body")
    out = encode_chat_completion(decode_messages_response(message), model="m", created=1)
    texts = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    assert (out["choices"][0]["message"]["content"] or "") == texts
    calls = out["choices"][0]["message"].get("tool_calls", [])
    assert [c["id"] for c in calls] == [b["id"] for b in message["content"] if b["type"] == "tool_use"]


@pytest.mark.parametrize("path", _files("openai-chat", "*.sse"), ids=lambda p: p.name)
def test_openai_chat_capture_passes_through(path):
    body = path.read_bytes()
    f = UsageChunkFilter()
    out = b"".join(f.feed(body[i : i + 50]) for i in range(0, len(body), 50)) + f.close()
    normalised = body.replace(b"\r\n", b"\n")
    assert len(out) <= len(normalised)
    assert out.count(b"data: ") >= normalised.count(b"data: ") - 1
    remaining = [orjson.loads(l[6:]) for l in out.split(b"\n\n") if l.startswith(b"data: {")]
    assert not [c for c in remaining if c.get("choices") == [] and c.get("usage")]
    # everything else is forwarded (Azure's choices-less prompt_filter_results chunk included)
    original = [orjson.loads(l[6:]) for l in normalised.split(b"\n\n") if l.startswith(b"data: {")]
    assert remaining == [c for c in original if not (c.get("choices") == [] and c.get("usage"))]
