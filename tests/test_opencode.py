"""opencode from the npm registry (issue 14, point 5), through a real mitmdump as an OpenAI-compatible
provider, to an Anthropic and to an OpenAI-compatible upstream: a prompt, and a round of its own `read` tool."""

from __future__ import annotations

import pytest

from tests import opencode_cli
from tests.npm_cli import installed_or_skip
from tests.conftest import simulator_bridge

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
UPSTREAMS = {"claude-sim": "/v1/messages", "gpt-sim": "/v1/chat/completions"}


@pytest.fixture(scope="module")
def cli():
    return installed_or_skip(opencode_cli.install, "opencode")


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    process = simulator_bridge(simulator, tmp_path_factory.mktemp("opencode"))
    yield process
    process.stop()


@pytest.mark.parametrize("model", UPSTREAMS)
def test_a_prompt(cli, bridge, simulator, model, tmp_path):
    simulator.clear()
    run = opencode_cli.run(cli, bridge.base_url, model, "hello", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert SIM_TEXT in run.stdout
    assert any(r.path == UPSTREAMS[model] for r in simulator.requests)


@pytest.mark.parametrize("model", UPSTREAMS)
def test_a_round_of_its_own_read_tool(cli, bridge, simulator, model, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("the pelican's name is Captain Scoop 4217\n")
    simulator.clear()
    run = opencode_cli.run(cli, bridge.base_url, model, f"[sim:read path={note} tool=read arg=filePath] read it",
                           tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Captain Scoop 4217" in run.stdout  # the simulator echoes the tool result it got back
    calls = [r.json for r in simulator.requests if r.path == UPSTREAMS[model]]
    last = calls[-1]
    if model == "gpt-sim":
        called = {c["id"] for m in last["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or ()}
        results = [m for m in last["messages"] if m["role"] == "tool"]
        assert results and results[-1]["tool_call_id"] in called and "Captain Scoop 4217" in results[-1]["content"]
    else:
        blocks = [b for m in last["messages"] for b in (m["content"] if isinstance(m["content"], list) else ())]
        uses = {b["id"] for b in blocks if b["type"] == "tool_use"}
        results = [b for b in blocks if b["type"] == "tool_result"]
        assert results and results[-1]["tool_use_id"] in uses
