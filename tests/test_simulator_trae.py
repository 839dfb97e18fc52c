"""The Trae simulator, driven with raw HTTP: token rotation, the IDE API's checks, each scenario,
and a round trip with the bridge's own Trae codec."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
import pytest

from tests.simulator.http import HttpServer, Response
from tests.simulator.trae import EXCHANGE_PATH, TraeSimulator
from transforms.codecs import CLIENT_CODECS
from transforms.errors import BridgeError
from transforms.ir import ChatRequest, Message, TextPart, ThinkingPart
from transforms.sse import SSEDecoder
from transforms.stream import StreamTranslator
from transforms.trae import endpoint
from transforms.trae.decode_response import decode_trae_body
from transforms.trae.decode_stream import TraeStreamDecoder
from transforms.trae.encode_request import encode_trae_request
from transforms.trae.model_list import parse_model_list
from transforms.trae.queue import Queued, QueueProbe, Ready
from transforms.upstream_options import UpstreamOptions

HELLO = "Hello from the Trae simulator! Ünïcödé ✓ 🌍"


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


async def serve(sim: TraeSimulator):
    async def handler(request):
        answer = await sim.dispatch(request)
        return answer if answer is not None else Response(404, {}, b"not trae")

    server = HttpServer(handler)
    host, port = await server.start("127.0.0.1", 0)
    return server, f"http://{host}:{port}"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def trae(clock):
    sim = TraeSimulator(["rt-1"], clock=clock, access_ttl_s=600, refresh_ttl_s=3600)
    server, base = await serve(sim)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield sim, client
    await server.aclose()


def exchange_body(sim: TraeSimulator, token: str, **changes) -> dict:
    return {"ClientID": sim.client_id, "RefreshToken": token, "ClientSecret": "-", "UserID": sim.user_id, **changes}


def chat_body(text: str = "hi", **changes) -> dict:
    request = ChatRequest(model="claude-3-7-sonnet", messages=[Message("user", [TextPart(text)])])
    return {**encode_trae_request(request, upstream_model="aws_sdk_claude37_sonnet", options=UpstreamOptions()), **changes}


def sse_events(raw: bytes) -> list[tuple[str | None, dict]]:
    sse = SSEDecoder()
    return [(e.event, orjson.loads(e.data)) for e in (*sse.feed(raw), *sse.close())]


async def chat(sim, client, body: dict, headers: dict | None = None) -> httpx.Response:
    return await client.post(endpoint.chat_url(""), json=body, headers=headers or sim.ide_headers(sim.issue_access_token()))


# --- token exchange ------------------------------------------------------------------------


async def test_refresh_tokens_rotate_and_are_single_use(trae, clock):
    sim, client = trae
    first = await client.post(EXCHANGE_PATH, json=exchange_body(sim, "rt-1"))
    assert first.status_code == 200
    result = first.json()["Result"]
    assert result["RefreshToken"] != "rt-1" and len(result["Token"]) > 40
    assert result["TokenExpireAt"] == int((clock.now + 600) * 1000)
    assert result["RefreshExpireAt"] == int((clock.now + 3600) * 1000)
    second = await client.post(EXCHANGE_PATH, json=exchange_body(sim, result["RefreshToken"]))
    assert second.status_code == 200 and second.json()["Result"]["Token"] != result["Token"]
    assert sim.exchange_calls == 2 and sim.reused_refresh_tokens == []
    # both access tokens work until they expire
    models = await client.get(endpoint.model_list_url(""), headers=sim.ide_headers(result["Token"]))
    assert parse_model_list(models.content) == ["claude3.5", "aws_sdk_claude37_sonnet", "gpt-4o", "deepseek-R1"]


async def test_reused_refresh_token_is_detected(trae):
    sim, client = trae
    assert (await client.post(EXCHANGE_PATH, json=exchange_body(sim, "rt-1"))).status_code == 200
    reused = await client.post(EXCHANGE_PATH, json=exchange_body(sim, "rt-1"))
    assert reused.status_code == 401
    assert reused.json()["ResponseMetadata"]["Error"]["Code"] == "RefreshTokenReused"
    assert sim.reused_refresh_tokens == ["rt-1"]


async def test_concurrent_use_of_one_token_is_a_reuse():
    sim = TraeSimulator(["rt-1"], exchange_delay_s=0.05)
    server, base = await serve(sim)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            answers = await asyncio.gather(*(client.post(EXCHANGE_PATH, json=exchange_body(sim, "rt-1")) for _ in range(2)))
    finally:
        await server.aclose()
    assert sorted(a.status_code for a in answers) == [200, 401]
    assert sim.reused_refresh_tokens == ["rt-1"] and sim.exchange_calls == 2


async def test_exchange_refusals(trae, clock):
    sim, client = trae
    for body, code in [
        (exchange_body(sim, "nope"), "InvalidRefreshToken"),
        (exchange_body(sim, "rt-1", ClientSecret="secret"), "InvalidClient"),
        (exchange_body(sim, "rt-1", ClientID="other"), "InvalidClient"),
        (exchange_body(sim, "rt-1", UserID="other"), "InvalidClient"),
    ]:
        answer = await client.post(EXCHANGE_PATH, json=body)
        assert answer.status_code == 401 and answer.json()["ResponseMetadata"]["Error"]["Code"] == code
    missing = await client.post(EXCHANGE_PATH, json={"ClientID": sim.client_id})
    assert missing.status_code == 400
    clock.now += 3601
    expired = await client.post(EXCHANGE_PATH, json=exchange_body(sim, "rt-1"))
    assert expired.status_code == 401 and "expired" in expired.json()["ResponseMetadata"]["Error"]["Message"]
    assert sim.reused_refresh_tokens == []


# --- IDE API checks ----------------------------------------------------------------------------


async def test_access_token_checks(trae, clock):
    sim, client = trae
    token = sim.issue_access_token()
    assert (await chat(sim, client, chat_body(), sim.ide_headers(token))).status_code == 200
    for headers in (sim.ide_headers("made-up"), {k: v for k, v in sim.ide_headers(token).items() if k != "x-ide-token"}):
        refused = await chat(sim, client, chat_body(), headers)
        assert refused.status_code == 401 and refused.json()["code"] == 1001
    clock.now += 601
    expired = await client.get(endpoint.model_list_url(""), headers=sim.ide_headers(token))
    assert expired.status_code == 401 and expired.json()["code"] == 1001


@pytest.mark.parametrize("header", ["x-app-id", "x-device-id", "x-machine-id", "x-ide-version"])
async def test_required_headers(trae, header):
    sim, client = trae
    headers = {k: v for k, v in sim.ide_headers(sim.issue_access_token()).items() if k != header}
    refused = await chat(sim, client, chat_body(), headers)
    assert refused.status_code == 400 and refused.json()["code"] == 4001 and header in refused.json()["message"]


async def test_wrong_app_id(trae):
    sim, client = trae
    headers = {**sim.ide_headers(sim.issue_access_token()), "x-app-id": "other"}
    assert (await client.get(endpoint.model_list_url(""), headers=headers)).status_code == 400


@pytest.mark.parametrize(("change", "detail"), [
    ({"chat_history": {}}, "chat_history must be an array"),
    ({"chat_history": [{"role": "user", "content": "x"}]}, "chat_history[0].status"),
    ({"chat_history": [{"role": "tool", "content": "x", "status": "success"}]}, "chat_history[0].role"),
    ({"user_input": ""}, "user_input"),
    ({"current_turn": "0"}, "current_turn"),
    ({"variables": {"locale": "en-us"}}, "JSON-encoded string"),
    ({"variables": '{"current_time":"20250101 00:00:00 Monday"}'}, "locale"),
    ({"variables": '{"locale":"en-us","current_time":"2025-01-01"}'}, "current_time"),
    ({"session_id": ""}, "session_id"),
    ({"conversation_id": None}, "conversation_id"),
    ({"valid_turns": [0]}, "valid_turns"),
])
async def test_chat_body_checks(trae, change, detail):
    sim, client = trae
    refused = await chat(sim, client, chat_body(**change))
    assert refused.status_code == 400 and refused.json()["code"] == 4001 and detail in refused.json()["message"]


async def test_unknown_model_is_4001_with_http_200(trae):
    sim, client = trae
    refused = await chat(sim, client, chat_body(model_name="gpt-9"))
    assert refused.status_code == 200 and refused.json() == {"code": 4001, "message": "param is invalid"}


async def test_unknown_scenario(trae):
    sim, client = trae
    refused = await chat(sim, client, chat_body("[sim:nonsense]"))
    assert refused.status_code == 400 and "unknown scenario" in refused.json()["message"]


# --- scenarios ---------------------------------------------------------------------------------


async def test_text(trae):
    sim, client = trae
    answer = await chat(sim, client, chat_body("Bonjour"))
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = sse_events(answer.content)
    assert [name for name, _ in events][0] == "metadata" and events[-1] == ("done", {"finish_reason": "stop"})
    text = "".join(payload["response"] for name, payload in events if name == "output")
    assert text == HELLO + " Turn 0, you said: Bonjour"
    assert answer.content.count(b"event: ") == len(events)
    assert len(sim.requests) == 1 and sim.requests[0].json["user_input"] == "Bonjour"


async def test_thinking_and_length(trae):
    sim, client = trae
    response = decode_trae_body((await chat(sim, client, chat_body("[sim:thinking]"))).content)
    assert response.parts == [ThinkingPart("Let me think this through carefully."), TextPart("The answer is 42.")]
    response = decode_trae_body((await chat(sim, client, chat_body("[sim:length]"))).content)
    assert response.finish_reason == "length" and response.parts == [TextPart("This answer is cut off before it")]


async def test_queue_then_answer(trae):
    sim, client = trae
    body = chat_body("[sim:queue n=2] please")
    positions = []
    for _ in range(2):
        raw = (await chat(sim, client, body)).content
        answer = QueueProbe().feed(raw)
        assert isinstance(answer, Queued)
        positions.append(answer.position)
        assert [name for name, _ in sse_events(raw)] == ["request_wait_in_queue"]
    assert positions == [2, 1]
    other = await chat(sim, client, chat_body("[sim:queue n=2] another"))  # counted per user_input
    assert isinstance(QueueProbe().feed(other.content), Queued)
    raw = (await chat(sim, client, body)).content
    assert QueueProbe().feed(raw) == Ready()
    assert decode_trae_body(raw).parts[0].text.startswith(HELLO)


async def test_error_scenarios(trae):
    sim, client = trae
    answer = await chat(sim, client, chat_body("[sim:error code=4008]"))
    assert answer.status_code == 200 and answer.json()["code"] == 4008
    with pytest.raises(BridgeError) as info:
        decode_trae_body(answer.content)
    assert info.value.kind == "rate_limit"
    answer = await chat(sim, client, chat_body("[sim:error_event code=4011]"))
    assert [name for name, _ in sse_events(answer.content)] == ["metadata", "error"]
    with pytest.raises(BridgeError) as info:
        decode_trae_body(answer.content)
    assert info.value.kind == "rate_limit" and "4011" in info.value.message


async def test_split_rechunks_the_same_body(trae):
    sim, client = trae
    whole = sse_events((await chat(sim, client, chat_body("cut me"))).content)
    sizes = []
    async with client.stream("POST", endpoint.chat_url(""), json=chat_body("[sim:split n=3] cut me"),
                             headers=sim.ide_headers(sim.issue_access_token())) as answer:
        raw = b""
        async for chunk in answer.aiter_raw():
            sizes.append(len(chunk))
            raw += chunk
    split = sse_events(raw)
    assert [name for name, _ in split] == [name for name, _ in whole]
    assert "".join(p.get("response", "") for _, p in split).endswith("you said: cut me")
    assert len(sizes) > 1


# --- round trip with the codec ----------------------------------------------------------------


async def test_round_trip_with_the_codec(trae):
    sim, client = trae
    messages = [
        Message("user", [TextPart("Plan a trip")]),
        Message("assistant", [TextPart("Where to?")]),
        Message("user", [TextPart("Paris [sim:thinking]")]),
    ]
    request = ChatRequest(model="claude-3-7-sonnet", messages=messages, system=["Be brief."], stream=True)
    body = encode_trae_request(request, upstream_model="deepseek-R1", options=UpstreamOptions(locale="zh-cn"))
    token = sim.issue_access_token()
    device = {k: v for k, v in sim.ide_headers(token).items() if k != "x-ide-token"}
    headers = {**device, **endpoint.request_headers(token)}  # the token header as the codec writes it
    answer = await client.post(endpoint.chat_url(""), content=orjson.dumps(body), headers={**headers, "content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert sim.requests[-1].json["current_turn"] == 1 and uuid.UUID(sim.requests[-1].json["session_id"])

    translator = StreamTranslator(TraeStreamDecoder(), CLIENT_CODECS["openai-chat"].stream_encoder(request, created=0))
    out = translator.feed(answer.content) + translator.close()
    chunks = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert reasoning == "Let me think this through carefully." and content == "The answer is 42."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and out.endswith(b"data: [DONE]\n\n")
