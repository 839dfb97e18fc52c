"""Claude Code itself, through the bridge, to an OpenAI-compatible upstream (the simulator).

The CLI is installed by this test's set-up from the npm registry into .cache/ (git-ignored) and
runs offline: `claude -p` with ANTHROPIC_BASE_URL at the bridge and non-essential traffic off.
"""

from __future__ import annotations

import json
import os

import pytest

from tests import claude_code_cli
from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"


@pytest.fixture(scope="session")
def claude_cli():
    binary = claude_code_cli.install()
    if binary is None:
        pytest.skip("npm is not installed: Claude Code cannot be installed")
    return binary


@pytest.fixture(scope="module")
def claude_bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("claude-bridge")
    (folder / "bridge.toml").write_text(claude_code_cli.bridge_toml(simulator.base_url, OPENAI_KEY))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = BridgeProcess(f"--set=bridge_record={folder / 'recorded'}", log_path=folder / "mitmdump.log", cwd=folder, env=env)
    yield proc.wait_ready()
    proc.stop()


def run_claude(cli, bridge, prompt: str, workdir) -> dict:
    result = claude_code_cli.run(cli, bridge.base_url, prompt, workdir)
    assert result.returncode == 0, f"claude exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n{bridge.log()[-3000:]}"
    return json.loads(result.stdout)


def test_claude_code_completes_a_prompt(claude_cli, claude_bridge, simulator, tmp_path):
    simulator.clear()
    out = run_claude(claude_cli, claude_bridge, "say hi", tmp_path)
    assert out["subtype"] == "success" and out["result"] == SIM_TEXT
    (sent,) = [r for r in simulator.requests if r.path == "/v1/chat/completions"]
    body = sent.json
    assert body["model"] == "gpt-4o-mini" and body["stream"] is True
    assert body["max_tokens"] == 16384  # Claude Code asks 128000: lowered to the model's cap
    assert body["messages"][0]["role"] == "system"
    assert body["tools"] and not any(t["function"]["name"] == "DeferredToolPlaceholder" for t in body["tools"])
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_claude_code_runs_a_tool_round(claude_cli, claude_bridge, simulator, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("the pelican's name is Captain Scoop 4217\n")
    simulator.clear()
    out = run_claude(claude_cli, claude_bridge, f"[sim:read path={note}] read the note", tmp_path)
    assert out["subtype"] == "success"
    assert "Captain Scoop 4217" in out["result"]  # the simulator echoes the tool result it got back
    calls = [r.json for r in simulator.requests if r.path == "/v1/chat/completions"]
    assert len(calls) == 2
    tool_messages = [m for m in calls[1]["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["tool_call_id"] == "call_sim_01" and "Captain Scoop 4217" in tool_messages[0]["content"]
