"""Codex CLI itself as a Responses client, through the bridge, to the Anthropic and the
OpenAI Chat simulator (installed by this test's set-up from the npm registry; runs offline)."""

from __future__ import annotations

import orjson
import pytest

from tests import codex_cli


@pytest.fixture(scope="session")
def codex():
    binary = codex_cli.install()
    if binary is None:
        pytest.skip("npm is not installed: Codex cannot be installed")
    return binary


@pytest.mark.parametrize(("model", "upstream_path"), [("claude-sim", "/v1/messages"), ("gpt-sim", "/v1/chat/completions")])
def test_codex_completes_a_tool_round(codex, bridge, simulator, tmp_path, model, upstream_path):
    (tmp_path / "note.txt").write_text("the codex marker is Otter 5531\n")
    simulator.clear()
    result = codex_cli.run(codex, bridge.base_url, model, "[sim:exec cmd=cat+note.txt] show the note", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Tool results received:" in result.stdout and "Otter 5531" in result.stdout
    calls = [r for r in simulator.requests if r.path == upstream_path]
    assert len(calls) == 2  # the tool call, then the answer to its output
    second = calls[1].json
    sent = orjson.dumps(second).decode()
    assert "Otter 5531" in sent and "web_search" not in sent  # tools no upstream here runs are dropped

