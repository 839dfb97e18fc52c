"""The Gemini CLI from the npm registry (issue 14, point 5), through a real mitmdump to an Anthropic and to an
OpenAI-compatible upstream: a prompt, and a real round of its own `read_file` tool. The CLI always sends
`topK: 64` and `thinkingConfig: {includeThoughts: true}`; neither may stop it."""

from __future__ import annotations

import json

import pytest

from tests import gemini_cli
from tests.npm_cli import installed_or_skip
from tests.conftest import simulator_bridge

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
UPSTREAMS = {"claude-sim": "/v1/messages", "gpt-sim": "/v1/chat/completions"}


@pytest.fixture(scope="module")
def cli():
    return installed_or_skip(gemini_cli.install, "the Gemini CLI")


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    process = simulator_bridge(simulator, tmp_path_factory.mktemp("gemini-cli"))
    yield process
    process.stop()


@pytest.mark.parametrize("model", UPSTREAMS)
def test_a_prompt(cli, bridge, simulator, model, tmp_path):
    simulator.clear()
    run = gemini_cli.run(cli, bridge.base_url, model, "hello", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["response"] == SIM_TEXT
    sent = [r for r in simulator.requests if r.path == UPSTREAMS[model]][-1].json
    assert "thinking" not in sent and "reasoning_effort" not in sent  # includeThoughts alone asks for none


@pytest.mark.parametrize("model", UPSTREAMS)
def test_a_round_of_its_own_read_file_tool(cli, bridge, simulator, model, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("the pelican's name is Captain Scoop 4217\n")
    simulator.clear()
    run = gemini_cli.run(cli, bridge.base_url, model, f"[sim:read path={note} tool=read_file] read the note", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout)
    assert "Captain Scoop 4217" in answer["response"]  # the simulator echoes the tool result it got back
    assert answer["stats"]["tools"]["byName"]["read_file"]["success"] == 1
    calls = [r.json for r in simulator.requests if r.path == UPSTREAMS[model]]
    assert len(calls) >= 2
    if model == "gpt-sim":
        results = [m for m in calls[-1]["messages"] if m["role"] == "tool"]
        called = [c["id"] for m in calls[-1]["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
        assert results and results[0]["tool_call_id"] in called and "Captain Scoop 4217" in results[0]["content"]
    else:
        blocks = [b for m in calls[-1]["messages"] for b in (m["content"] if isinstance(m["content"], list) else ())]
        uses = {b["id"] for b in blocks if b["type"] == "tool_use"}
        results = [b for b in blocks if b["type"] == "tool_result"]
        assert results and results[0]["tool_use_id"] in uses
