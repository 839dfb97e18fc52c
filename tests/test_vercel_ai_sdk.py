"""The Vercel AI SDK (`ai` with its `@ai-sdk/openai`, `@ai-sdk/anthropic` and `@ai-sdk/google` providers, from
the npm registry) through a real mitmdump, to every upstream protocol: each of the SDK's four models (OpenAI
Responses, OpenAI Chat, Anthropic Messages, Gemini) against each simulator model (`claude-sim`, `gpt-sim`,
`resp-sim`, `gem-sim`; its own protocol's is a passthrough check), with `generateText` (whole) and
`streamText` (stream), on a plain prompt and on a two-step get_weather tool loop.

One node run per (provider, model, mode) does both prompts (vercel_ai_loop.mjs); its result and the flows it
left in the bridge's recordings are shared by the two tests of that combination.

The default model, OpenAI's Responses API with `store: true`, refers from the second step of a tool loop to
the earlier output items by id (`item_reference`) instead of sending them again (issue 14, point 1): the
bridge puts them back in place."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mitmproxy import io

from tests.bridge_process import ROOT
from tests.conftest import simulator_bridge
from tests.npm_cli import install_packages

# one release line: all on @ai-sdk/provider 4.0.39 and @ai-sdk/provider-utils 5.0.86
PACKAGES = {"ai": "7.0.185", "@ai-sdk/openai": "4.0.126", "@ai-sdk/anthropic": "4.0.112",
            "@ai-sdk/google": "4.0.129", "zod": "4.6.7"}
SCRIPT = ROOT / "tests" / "vercel_ai_loop.mjs"
# the model (simulator) -> its upstream protocol
MODELS = {"claude-sim": "anthropic", "gpt-sim": "openai-chat", "resp-sim": "openai-responses", "gem-sim": "gemini"}
# the script's provider argument -> the client protocol the bridge sees
PROVIDERS = {"openai": "openai-responses", "openai-chat": "openai-chat", "anthropic": "anthropic",
             "google": "gemini"}
HELLO = "Hello from the simulator! Ünïcödé ✓ 🌍"
TOOL_TEXT = "Tool results received: sunny in Paris; sunny in London"
# @ai-sdk/google sends a tool's output as `functionResponse.response: {"name": ..., "content": ...}`; the bridge
# reads `content` when it translates, but a Gemini upstream gets that object as it is, and the Gemini simulator
# echoes an object with more than one field as compact JSON
GEMINI_ECHO = "Tool results received: " + "; ".join(json.dumps({"name": "get_weather", "content": f"sunny in {city}"},
                                                                separators=(",", ":")) for city in ("Paris", "London"))


@pytest.fixture(scope="module")
def sdk() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    try:
        folder = install_packages("ai-sdk", PACKAGES)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"the Vercel AI SDK could not be installed from the npm registry: {exc}")
    if folder is None:
        pytest.skip("npm is not installed")
    shutil.copy(SCRIPT, folder / SCRIPT.name)  # node resolves `ai` from the script's folder
    return folder / SCRIPT.name


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("vercel")
    process = simulator_bridge(simulator, folder, f"--set=bridge_record={folder / 'recorded'}")
    process.recorded = folder / "recorded"
    yield process
    process.stop()


@pytest.fixture(scope="module")
def runs(sdk, bridge):
    """(provider, model, mode) -> (the script's JSON, the flows its run recorded in order), run once each."""
    done: dict[tuple[str, str, str], tuple[dict, list]] = {}

    def run(provider: str, model: str, mode: str) -> tuple[dict, list]:
        key = (provider, model, mode)
        if key not in done:
            before = set(bridge.recorded.glob("*.flow")) if bridge.recorded.exists() else set()
            process = subprocess.run(["node", str(sdk), bridge.base_url, provider, model, mode],
                                     check=False, capture_output=True, text=True, timeout=120)
            assert process.returncode == 0, process.stderr
            flows = []
            for path in sorted(set(bridge.recorded.glob("*.flow")) - before):
                with path.open("rb") as fh:
                    flows.extend(io.FlowReader(fh).stream())
            done[key] = json.loads(process.stdout), flows
        return done[key]

    return run


CASES = [pytest.param(provider, model, mode, id=f"{provider}-{model}-{mode}")
         for provider in PROVIDERS for model in MODELS for mode in ("whole", "stream")]


def check_route(flow, provider: str, model: str, mode: str) -> dict:
    """The flow went from the provider's protocol to the model's, streamed as the mode asks; the client's request
    body, parsed."""
    meta = flow.metadata["llm_bridge"]
    assert (meta["client_protocol"], meta["upstream_protocol"]) == (PROVIDERS[provider], MODELS[model])
    assert flow.response is not None and flow.response.status_code == 200, flow.response
    sent = json.loads(meta["client_request"]["body"])
    path = meta["client_request"]["path"]
    streamed = ":streamGenerateContent" in path if provider == "google" else sent.get("stream") is True
    assert streamed == (mode == "stream"), (path, sent)
    return sent


@pytest.mark.parametrize(("provider", "model", "mode"), CASES)
def test_a_plain_prompt_works_to_every_upstream(runs, provider, model, mode):
    output, flows = runs(provider, model, mode)
    result = output["plain"]
    assert "error" not in result, result
    assert result["text"] == HELLO, result
    assert result["calls"] == [] and result["results"] == []
    assert result["finishReason"] == "stop" and result["steps"] == 1
    assert result["usage"]["inputTokens"] > 0 and result["usage"]["outputTokens"] > 0, result["usage"]
    check_route(flows[0], provider, model, mode)


@pytest.mark.parametrize(("provider", "model", "mode"), CASES)
def test_the_tool_loop_works_to_every_upstream(runs, provider, model, mode):
    output, flows = runs(provider, model, mode)
    result = output["tools"]
    assert "error" not in result, result
    assert result["text"].endswith(GEMINI_ECHO if (provider, model) == ("google", "gem-sim") else TOOL_TEXT), result
    assert [(name, args) for name, args, _ in result["calls"]] == [("get_weather", {"city": "Paris"}),
                                                                   ("get_weather", {"city": "London"})]
    call_ids = [call_id for _, _, call_id in result["calls"]]
    assert call_ids == [call_id for call_id, _ in result["results"]] and len(set(call_ids)) == 2  # paired
    assert [value for _, value in result["results"]] == ["sunny in Paris", "sunny in London"]
    assert result["finishReason"] == "stop" and result["steps"] == 2
    assert result["usage"]["inputTokens"] > 0 and result["usage"]["outputTokens"] > 0, result["usage"]
    first, second = flows[-2:]  # (the plain prompt's flow comes before)
    check_route(first, provider, model, mode)
    sent = check_route(second, provider, model, mode)
    if provider == "openai":
        # the second step referred to the first step's items by id, and the bridge put them back in place
        assert any(item.get("type") == "item_reference" for item in sent["input"]), sent["input"]


def test_the_default_responses_loop_works_across_cluster_workers(sdk, simulator, tmp_path):
    """The SDK's default model through `python -m addons.cluster` (two workers, the cluster's private Redis), with
    no session header: HAProxy spreads its requests over the workers, so a tool loop's second step, which names
    the first step's output items by id, reaches a worker that did not mint them (shared through Redis)."""
    import re

    from tests.debian_packages import require
    from tests.test_cluster import Cluster

    haproxy = require("haproxy", "haproxy", "/usr/sbin/haproxy")
    require("redis-server", "/usr/bin/redis-server", "redis-server")
    running = Cluster(tmp_path, simulator.base_url, haproxy).wait_ready()
    try:
        for mode in ("whole", "stream"):
            process = subprocess.run(["node", str(sdk), running.base_url, "openai", "claude-sim", mode],
                                     check=False, capture_output=True, text=True, timeout=120)
            assert process.returncode == 0, process.stderr
            result = json.loads(process.stdout)["tools"]
            assert "error" not in result, result
            assert result["text"].endswith(TOOL_TEXT) and result["steps"] == 2, result
        served = re.findall(r"\[worker (\d)\] .*openai-responses → claude/\S+ .* 200", running.log())
    finally:
        running.stop()
    assert len(served) == 6, served  # per mode: the plain prompt, then the loop's two steps
    assert served[1] != served[2] or served[4] != served[5], served  # a loop crossed workers
