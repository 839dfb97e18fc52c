"""A flow shows the request as sent to the provider, however the call travelled: mitmweb, `-w` files
and recordings name the provider's URL, not the bridge's loopback relay (issue 12, point 4)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from mitmproxy import io

from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml


@pytest.fixture(scope="module")
def saved(simulator, tmp_path_factory):
    """One bridge with retries at their defaults (calls through the relay), its flows written with -w and
    recorded; one streamed and one whole call to each of two upstream protocols."""
    folder = tmp_path_factory.mktemp("flow-urls")
    config = folder / "bridge.toml"
    config.write_text(bridge_toml(simulator.base_url).replace("attempts = 1", "attempts = 3"))
    written, recorded = folder / "written.flows", folder / "recorded"
    bridge = BridgeProcess(f"--set=bridge_config={config}", f"--set=bridge_record={recorded}", "-w", str(written),
                           log_path=folder / "mitmdump.log", env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}).wait_ready()
    try:
        for model in ("claude-sim", "gpt-sim"):
            for stream in (False, True):
                answer = httpx.post(f"{bridge.base_url}/v1/chat/completions", timeout=30, json={
                    "model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
                assert answer.status_code == 200, answer.text
    finally:
        bridge.stop()
    return simulator, written, recorded


def _flows(paths: list[Path]):
    flows = []
    for path in paths:
        with path.open("rb") as f:
            flows += [flow for flow in io.FlowReader(f).stream() if flow.type == "http"]
    return flows


def _check(flows, simulator) -> None:
    urls = sorted({flow.request.pretty_url for flow in flows})
    assert urls == [f"{simulator.base_url}/v1/chat/completions", f"{simulator.base_url}/v1/messages"], urls
    for flow in flows:
        assert "x-llm-bridge-call" not in flow.request.headers
        assert flow.request.host_header == f"127.0.0.1:{simulator.port}"
        # the request's own target, not only its Host header (mitmweb's Replay sends it there)
        assert (flow.request.scheme, flow.request.host, flow.request.port) == ("http", "127.0.0.1", simulator.port)
        assert flow.request.url.startswith(simulator.base_url)


def test_the_w_file_names_the_provider(saved):
    simulator, written, _ = saved
    flows = [f for f in _flows([written]) if f.request.path != "/v1/models"]  # (the readiness probe)
    assert len(flows) == 4
    _check(flows, simulator)


def test_recordings_name_the_provider(saved):
    simulator, _, recorded = saved
    flows = _flows(sorted(recorded.glob("**/*.flow")))
    assert len(flows) == 4
    _check(flows, simulator)
