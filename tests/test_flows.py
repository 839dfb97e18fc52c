"""Every recorded exchange in flows/ is a regression test, checked both ways:

- the recorded client request translates to the recorded upstream request;
- the recorded upstream answer (chunk by chunk, as it arrived) translates to
  the recorded client answer, byte for byte.

Both run `addons.recording.verify.check_flow`, the check users run on their own
recordings with `python -m addons.verify PATH...` (tests/test_verify.py).

Then the whole folder is replayed through a real mitmdump (`bridge_replay`)
with no config and no key, as a newcomer's first run does.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from mitmproxy import io

from addons.recording.redact import MARKER, SECRET_HEADERS
from addons.recording.verify import check_flow
from tests.bridge_process import ROOT, BridgeProcess
from transforms.codecs import CLIENT_CODECS
from transforms.translation import client_body

FLOWS = sorted((ROOT / "flows").rglob("*.flow"))


def load(path: Path):
    with path.open("rb") as fh:
        (flow,) = list(io.FlowReader(fh).stream())
    return flow, flow.metadata["llm_bridge"]


def effective_body(meta) -> dict:
    """The client's request with what its protocol puts in the URL (Gemini's model and method)."""
    client = CLIENT_CODECS[meta["client_protocol"]]
    return client_body(client, meta["client_request"]["path"], orjson.loads(meta["client_request"]["body"]))


def test_flows_exist():
    assert len(FLOWS) >= 40
    clients = {load(path)[1]["client_protocol"] for path in FLOWS}
    assert clients == {"openai-chat", "anthropic", "openai-responses", "gemini"}
    upstreams = {load(path)[1]["upstream_protocol"] for path in FLOWS}
    assert upstreams == {"openai-chat", "anthropic", "openai-responses", "gemini", "bedrock", "azure"}


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: str(p.relative_to(ROOT / "flows")))
def test_client_request_translates_to_recorded_upstream_request(path):
    # the same check users run on their own recordings (`python -m addons.verify`): the recorded client request,
    # translated now with the recorded options, is the recorded upstream request (as JSON), sent to the
    # recorded endpoint (Bedrock's model id and invoke/invoke-with-response-stream, Azure's deployment and
    # api-version, Gemini's method are in the path)
    flow, _meta = load(path)
    verdict = check_flow(flow, directions=("request",))
    assert verdict.ok, verdict.difference or verdict.skipped
    for name, value in flow.request.headers.items(multi=True):
        assert name.lower() not in SECRET_HEADERS or value == MARKER, name  # x-api-key, authorization, api-key ...
    # Bedrock is signed by the relay, after the flow: no SigV4 header (or session token) is in it
    assert not {"x-amz-date", "x-amz-security-token", "x-amz-content-sha256"} & {k.lower() for k in flow.request.headers}


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: str(p.relative_to(ROOT / "flows")))
def test_upstream_answer_translates_to_recorded_client_answer(path):
    # streamed answers: the recorded chunks as they arrived, then the same bytes re-split every 5, each give the
    # recorded client bytes; whole answers (and errors): the recorded status, content type and body
    flow, meta = load(path)
    verdict = check_flow(flow, directions=("answer",), resplit=5)
    assert verdict.skipped is None, verdict.skipped  # every fixture holds its whole upstream answer
    assert verdict.ok, verdict.difference
    assert ("upstream_chunks" in meta) == verdict.label.endswith(", streamed")


# --- replay through a real mitmdump ----------------------------------------------


@pytest.fixture(scope="module")
def replay_bridge(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay")  # no bridge.toml here, and no provider keys in env
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = BridgeProcess(f"--set=bridge_replay={ROOT / 'flows'}", log_path=folder / "mitmdump.log", cwd=folder, env=env)
    yield proc.wait_ready()
    proc.stop()


def strip_created(body: bytes) -> bytes:
    import re

    return re.sub(rb'"created(_at)?":\d+', b'"created":0', body)


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: str(p.relative_to(ROOT / "flows")))
def test_replay_serves_the_recorded_answer(replay_bridge, path):
    flow, meta = load(path)
    headers = {"content-type": "application/json"}
    headers.update({k: v for k, v in meta["client_request"]["headers"] if k.lower().startswith("anthropic-")})
    r = httpx.post(f"{replay_bridge.base_url}{meta['client_request']['path']}", content=meta["client_request"]["body"],
                   headers=headers, timeout=30)
    assert r.status_code == flow.response.status_code
    assert strip_created(r.content) == strip_created(flow.response.content)


def test_replay_works_with_the_openai_sdk_offline(replay_bridge):
    client = openai.OpenAI(base_url=f"{replay_bridge.base_url}/v1", api_key="none", max_retries=0)
    assert {m.id for m in client.models.list()} >= {"claude-sim", "gpt-sim"}
    stream = client.chat.completions.create(model="claude-sim", stream=True, messages=[{"role": "user", "content": "Hello!"}])
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from the simulator! Ünïcödé ✓ 🌍"


def test_replay_without_a_match_names_the_nearest_flow(replay_bridge):
    r = httpx.post(f"{replay_bridge.base_url}/v1/chat/completions",
                   json={"model": "claude-sim", "stream": True, "messages": [{"role": "user", "content": "Hello?"}]})
    assert r.status_code == 404
    message = r.json()["error"]["message"]
    assert "anthropic/text-stream.flow" in message
    assert "body.messages[0].content[0].text" in message and '"Hello?"' in message


def test_replay_keeps_the_recorded_chunk_timing(tmp_path):
    """Replayed chunks arrive with their recorded spacing, through the stream translator."""
    flow, meta = load(ROOT / "flows" / "anthropic" / "text-stream.flow")
    body = b"".join(bytes(c) for _, c in meta["upstream_chunks"])
    events = [e + b"\n\n" for e in body.split(b"\n\n") if e]
    meta["upstream_chunks"] = [[round(0.25 * i, 3), e] for i, e in enumerate(events)]
    with (tmp_path / "paced.flow").open("wb") as fh:
        io.FlowWriter(fh).add(flow)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = BridgeProcess(f"--set=bridge_replay={tmp_path}", log_path=tmp_path / "mitmdump.log", cwd=tmp_path, env=env)
    proc.wait_ready()
    try:
        import time

        arrivals = []
        with httpx.stream("POST", f"{proc.base_url}/v1/chat/completions", content=meta["client_request"]["body"],
                          headers={"content-type": "application/json"}, timeout=30) as r:
            start = time.monotonic()
            for chunk in r.iter_raw():
                if b'"content":"' in chunk and b'"content":""' not in chunk:
                    arrivals.append(time.monotonic() - start)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert len(arrivals) >= 3 and all(0.15 < g < 0.45 for g in gaps), gaps
    finally:
        proc.stop()
