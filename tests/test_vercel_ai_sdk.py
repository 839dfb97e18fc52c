"""The Vercel AI SDK (`ai` with `@ai-sdk/openai`, from the npm registry) through a real mitmdump: its default
model is OpenAI's Responses API with `store: true`, so from the second step of a tool loop it refers to the
earlier output items by id (`item_reference`) instead of sending them again (issue 14, point 1)."""

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

PACKAGES = {"ai": "7.0.185", "@ai-sdk/openai": "4.0.126", "zod": "4.6.7"}
SCRIPT = ROOT / "tests" / "vercel_ai_loop.mjs"
MODELS = ["claude-sim", "gpt-sim", "resp-sim", "gem-sim"]  # Anthropic, OpenAI Chat, Responses, Gemini upstreams


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


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mode", ["whole", "stream"])
def test_the_default_tool_loop_works_to_every_upstream(sdk, bridge, model, mode):
    before = set(bridge.recorded.glob("*.flow")) if bridge.recorded.exists() else set()
    run = subprocess.run(["node", str(sdk), bridge.base_url + "/v1", model, mode], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["text"].endswith("Tool results received: sunny in Paris; sunny in London"), result
    assert [(name, args) for name, args, _ in result["calls"]] == [("get_weather", {"city": "Paris"}),
                                                                   ("get_weather", {"city": "London"})]
    assert [call_id for _, _, call_id in result["calls"]] == [call_id for call_id, _ in result["results"]]  # paired
    assert result["finishReason"] == "stop" and result["steps"] == 2
    assert result["usage"]["inputTokens"] > 0 and result["usage"]["outputTokens"] > 0
    # the second step referred to the first step's items by id, and the bridge put them back in place
    second = [path for path in sorted(set(bridge.recorded.glob("*.flow")) - before)][-1]
    with second.open("rb") as fh:
        (flow,) = list(io.FlowReader(fh).stream())
    sent = json.loads(flow.metadata["llm_bridge"]["client_request"]["body"])
    assert any(item.get("type") == "item_reference" for item in sent["input"]), sent["input"]
