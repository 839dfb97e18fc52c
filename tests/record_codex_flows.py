"""Record Codex's exchanges as flows/codex/*.flow, with its prose replaced.

    uv run python -m tests.record_codex_flows

Codex (tests/codex_cli.py) runs a prompt with one `exec_command` round through a recording bridge
to the simulator (Anthropic upstream). Each request it sent is scrubbed (instructions, developer and
environment messages, tool descriptions, schema descriptions and identifiers become placeholders;
keys, item types, tool shapes, `include`, `reasoning`, `store` and headers stay) and sent again
through a recording bridge; those recordings are the fixtures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson

from tests import codex_cli
from tests.bridge_process import ROOT, BridgeProcess
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY, bridge_toml
from tests.fixture_recording import captured_requests, record_again
from tests.record_claude_code_flows import _scrub_schema
from tests.simulator import Simulator

WORKDIR = Path("/tmp/llm-bridge-codex")  # fixed: the path appears in the recorded prompt
KEPT_HEADERS = ("originator", "accept", "x-codex-beta-features", "user-agent")


def scrub(body: dict) -> dict:
    body = orjson.loads(orjson.dumps(body))
    if isinstance(body.get("instructions"), str):
        body["instructions"] = "<Codex instructions>"
    for n, item in enumerate(body.get("input", [])):
        if item.get("role") in ("developer", "system"):
            item["content"] = [{**c, "text": f"<Codex {item['role']} text {n}>"} for c in item["content"]]
        elif item.get("role") == "user":
            for c in item.get("content", []):
                if c.get("type") == "input_text" and not c["text"].startswith("[sim:"):
                    c["text"] = "<Codex environment context>"
        elif item.get("type") == "function_call_output":
            item["output"] = item["output"] if "Otter" in str(item["output"]) else "<tool output>"
    for tool in body.get("tools", []):
        if "description" in tool:
            tool["description"] = f"<description of {tool.get('name', tool['type'])}>"
        _scrub_schema(tool.get("parameters"))
        for inner in tool.get("tools", []):
            inner["description"] = "<description>"
            _scrub_schema(inner.get("parameters"))
    for key in ("prompt_cache_key", "client_metadata"):
        if key in body:
            body[key] = "<id>" if isinstance(body[key], str) else {k: "<id>" for k in body[key]}
    return body


def main() -> None:
    cli = codex_cli.install()
    if cli is None:
        raise SystemExit("npm is needed to install Codex")
    WORKDIR.mkdir(parents=True, exist_ok=True)
    (WORKDIR / "note.txt").write_text("the codex marker is Otter 5531\n")
    with Simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY) as sim, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bridge.toml").write_text(bridge_toml(sim.base_url, openai_key=OPENAI_KEY))
        live = BridgeProcess(f"--set=bridge_record={tmp / 'live'}", log_path=tmp / "live.log", cwd=tmp).wait_ready()
        try:
            result = codex_cli.run(cli, live.base_url, "claude-sim", "[sim:exec cmd=cat+note.txt] show the note", WORKDIR)
            assert result.returncode == 0, result.stdout + result.stderr
        finally:
            live.stop()
        captured = [(body, headers) for _, body, headers in captured_requests(tmp / "live", KEPT_HEADERS)]
        names = ["exec-tool-call", "exec-tool-result"]
        assert len(captured) == len(names), len(captured)
        fixtures = BridgeProcess(f"--set=bridge_record={tmp / 'fixtures'}", log_path=tmp / "fixtures.log", cwd=tmp).wait_ready()
        try:
            record_again(fixtures, tmp / "fixtures", ROOT / "flows" / "codex", [
                (name, ("/v1/responses", orjson.dumps(scrub(body))), {**headers, "authorization": "Bearer sk-client-secret"})
                for name, (body, headers) in zip(names, captured)])
        finally:
            fixtures.stop()

if __name__ == "__main__":
    main()
