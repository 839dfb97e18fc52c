"""mitmweb shows every exchange whole (issue 13), through its own HTTP API: for a streamed and a whole
exchange of each client protocol to an upstream of another protocol, each of the four parts can be found,
the SSE and chat views render them, Download works, no request to mitmweb answers 5xx, and Replay re-runs
the exchange through the bridge, which keeps serving."""

from __future__ import annotations

import os
import time
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.bridge_process import MitmwebProcess
from tests.conftest import OPENAI_KEY, bridge_toml
from transforms.transcript import transcript

ANSWER = "Hello from the simulator!"
HELLO = [{"role": "user", "content": "hello"}]

# client protocol -> (path for a stream, path for a whole answer, body, the upstream protocol it is translated to)
EXCHANGES = {
    "openai-chat": ("/v1/chat/completions", "/v1/chat/completions",
                    lambda stream: {"model": "claude-sim", "stream": stream, "messages": HELLO}, "anthropic"),
    "openai-responses": ("/v1/responses", "/v1/responses",
                         lambda stream: {"model": "claude-sim", "stream": stream, "input": "hello"}, "anthropic"),
    "anthropic": ("/v1/messages", "/v1/messages",
                  lambda stream: {"model": "gpt-sim", "stream": stream, "max_tokens": 64, "messages": HELLO},
                  "openai-chat"),
    "gemini": ("/v1beta/models/claude-sim:streamGenerateContent?alt=sse", "/v1beta/models/claude-sim:generateContent",
               lambda stream: {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}, "anthropic"),
}
CASES = [(protocol, stream) for protocol in EXCHANGES for stream in (True, False)]


@pytest.fixture(scope="module")
def web(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mitmweb")
    config = folder / "bridge.toml"
    config.write_text(bridge_toml(simulator.base_url))
    process = MitmwebProcess(f"--set=bridge_config={config}", log_path=folder / "mitmweb.log",
                             env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}).wait_ready()
    flows = {}
    try:
        with process.api() as api:
            for protocol, stream in CASES:
                stream_path, whole_path, body, _ = EXCHANGES[protocol]
                path = stream_path if stream else whole_path
                answer = httpx.post(process.base_url + path, json=body(stream), timeout=30,
                                    headers={"anthropic-version": "2023-06-01"})
                assert answer.status_code == 200, answer.text
                assert _says_hello(protocol, answer.content), answer.text
                listed = api.get("/flows").json()
                flows[(protocol, stream)] = listed[-1]["id"]  # the newest flow is this exchange
            process.flows = flows
            yield process, api
    finally:
        process.stop()


def _says_hello(protocol: str, body: bytes) -> bool:
    """The answer, read in the client's protocol (streamed deltas joined), holds the simulator's text."""
    said = transcript(protocol, "response", body)
    return f"assistant: {ANSWER}" in said or f"model: {ANSWER}" in said  # (Gemini's role for the answer)


def simulator_port(web) -> int:
    process, api = web
    flow = next(f for f in api.get("/flows").json() if f.get("comment"))
    return flow["request"]["port"]


def view(api: httpx.Client, flow_id: str, part: str, name: str) -> dict:
    answer = api.get(f"/flows/{flow_id}/{part}/content/{quote(name)}.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(("protocol", "stream"), CASES, ids=lambda v: {True: "stream", False: "whole"}.get(v, v))
def test_each_of_the_four_parts_can_be_found(web, protocol, stream):
    process, api = web
    flow_id = process.flows[(protocol, stream)]
    stream_path, whole_path, _, upstream = EXCHANGES[protocol]
    client_path = (stream_path if stream else whole_path).split("?")[0]
    flow = next(f for f in api.get("/flows").json() if f["id"] == flow_id)
    # the list tells the exchange apart: the client's protocol and path, the provider's protocol and model
    assert flow["comment"].startswith(f"{protocol} → ")
    assert f"({upstream}) · POST {client_path} · 200 · " in flow["comment"]

    request = view(api, flow_id, "request", "LLM Exchange")["text"]
    assert f"① client request (as the client sent it): POST {client_path}" in request  # part 1
    assert "② upstream request" in request and f"{upstream}" in request  # part 2
    upstream_request = api.get(f"/flows/{flow_id}/request/content.data")  # part 2, as sent
    assert upstream_request.status_code == 200 and orjson.loads(upstream_request.content)

    response = view(api, flow_id, "response", "LLM Exchange")["text"]
    assert "③ upstream response (as received: 200)" in response and "④ client response (as sent: 200)" in response
    assert response.count(ANSWER) == 2  # the upstream's answer and the client's, each read in its own protocol
    client_answer = api.get(f"/flows/{flow_id}/response/content.data")  # part 4, as sent: Download works
    assert client_answer.status_code == 200 and _says_hello(protocol, client_answer.content)


@pytest.mark.parametrize(("protocol", "stream"), CASES, ids=lambda v: {True: "stream", False: "whole"}.get(v, v))
def test_the_chat_and_sse_views_render_them(web, protocol, stream):
    process, api = web
    flow_id = process.flows[(protocol, stream)]
    auto = view(api, flow_id, "response", "auto")
    assert auto["view_name"] == "LLM Chat" and (f"assistant: {ANSWER}" in auto["text"] or f"model: {ANSWER}" in auto["text"])
    assert view(api, flow_id, "request", "auto")["view_name"] == "LLM Chat"
    assert "user: hello" in view(api, flow_id, "request", "auto")["text"]
    if stream:
        sse = view(api, flow_id, "response", "SSE")
        assert sse["text"].startswith("# SSE: ") and "# 1 · " in sse["text"] and "+0." in sse["text"]


def test_no_request_to_mitmweb_answers_5xx(web):
    process, api = web
    names = ["auto", "LLM Chat", "LLM Exchange", "SSE", "Raw", "JSON"]
    for flow in api.get("/flows").json():
        for part in ("request", "response"):
            for name in names:
                answer = api.get(f"/flows/{flow['id']}/{part}/content/{quote(name)}.json")
                assert answer.status_code < 500, (flow["request"]["path"], part, name, answer.text)
            assert api.get(f"/flows/{flow['id']}/{part}/content.data").status_code < 500
    assert api.get("/flows/dump").status_code == 200  # mitmweb's "Save": every flow serialises


def test_replay_runs_the_exchange_again_through_the_bridge(web):
    process, api = web
    flow_id = process.flows[("openai-chat", True)]
    before = api.get(f"/flows/{flow_id}/response/content.data").content
    assert api.post(f"/flows/{flow_id}/replay").status_code == 200
    deadline = time.monotonic() + 20
    while True:
        flow = next(f for f in api.get("/flows").json() if f["id"] == flow_id)
        after = api.get(f"/flows/{flow_id}/response/content.data").content
        if flow.get("is_replay") == "request" and flow.get("response") and after != before:
            break
        assert time.monotonic() < deadline, "the replay never finished"
        time.sleep(0.2)
    assert flow["response"]["status_code"] == 200
    assert after.startswith(b"data: ") and b"chat.completion.chunk" in after and _says_hello("openai-chat", after)
    assert view(api, flow_id, "response", "auto")["text"].count(ANSWER) == 1
    # and the bridge keeps serving
    again = httpx.post(process.base_url + "/v1/chat/completions", json={"model": "claude-sim", "messages": HELLO},
                       timeout=30)
    assert again.status_code == 200 and ANSWER in again.text


def test_replay_in_replay_mode_gives_the_translated_answer(tmp_path):
    """With `bridge_replay`, mitmweb's Replay of a bridged flow is answered from the recordings and translated
    again, as the client would get it (it used to be overwritten with the raw upstream SSE)."""
    from tests.bridge_process import ROOT

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    process = MitmwebProcess(f"--set=bridge_replay={ROOT / 'flows'}", log_path=tmp_path / "mitmweb.log", cwd=tmp_path,
                             env=env).wait_ready()
    try:
        with process.api() as api:
            body = {"model": "claude-sim", "stream": True, "messages": [{"role": "user", "content": "Hello!"}]}
            first = httpx.post(process.base_url + "/v1/chat/completions", json=body, timeout=30)
            assert first.status_code == 200 and _says_hello("openai-chat", first.content)
            listed = api.get("/flows").json()[-1]
            flow_id, answered_at = listed["id"], listed["response"]["timestamp_end"]
            assert api.post(f"/flows/{flow_id}/replay").status_code == 200
            deadline = time.monotonic() + 20

            def replayed(flow: dict) -> bool:  # (the first answer stays listed until the replay's has ended)
                return (flow.get("response") or {}).get("timestamp_end") not in (None, answered_at)

            while not replayed(flow := next(f for f in api.get("/flows").json() if f["id"] == flow_id)):
                assert time.monotonic() < deadline, "the replay never finished"
                time.sleep(0.2)
            again = api.get(f"/flows/{flow_id}/response/content.data").content
            assert flow["response"]["status_code"] == 200
            assert b"chat.completion.chunk" in again and b"message_start" not in again  # the client's protocol
            assert _says_hello("openai-chat", again)
    finally:
        process.stop()


def test_saved_flows_reopened_with_r_show_the_same(web, tmp_path):
    """mitmweb's File → Save (its /flows/dump) reopened with `mitmweb -r`: the views read the saved parts."""
    process, api = web
    saved = tmp_path / "saved.flows"
    saved.write_bytes(api.get("/flows/dump").content)
    reopened = MitmwebProcess("-r", str(saved), log_path=tmp_path / "reopened.log").wait_ready()
    try:
        with reopened.api() as again:
            listed = [f for f in again.get("/flows").json() if f.get("comment")]
            flows = {f["comment"]: f["id"] for f in listed}
            assert len(flows) >= len(CASES)
            # the provider's URL, as sent (mitmproxy points flows it loads at the reverse target; the bridge not)
            assert {(f["request"]["host"], f["request"]["port"]) for f in listed} == {("127.0.0.1", simulator_port(web))}
            for comment, flow_id in flows.items():
                protocol = comment.split(" → ")[0]
                chat = view(again, flow_id, "response", "auto")
                assert chat["view_name"] == "LLM Chat" and ANSWER in chat["text"], comment
                assert "① client request" in view(again, flow_id, "request", "LLM Exchange")["text"], comment
                exchange = view(again, flow_id, "response", "LLM Exchange")["text"]
                assert "③ upstream response" in exchange and exchange.count(ANSWER) == 2, (comment, exchange)
                assert protocol in EXCHANGES
    finally:
        reopened.stop()
