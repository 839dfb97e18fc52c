"""Record Claude Code's exchanges as flows/claude-code/*.flow, with its prose replaced.

    uv run python -m tests.record_claude_code_flows

1. Claude Code (tests/claude_code_cli.py) runs `say hi` and a `Read` tool round through a
   recording bridge to the simulator (OpenAI-compatible upstream).
2. Each request it sent is scrubbed: its system prompt, system reminders, tool and schema
   descriptions and identifiers become short placeholders; every key, block, tool, schema
   shape, header and option stays as Claude Code sent it.
3. The scrubbed requests, with Claude Code's own headers, are sent again through a recording
   bridge; those recordings are the fixtures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson

from tests import claude_code_cli
from tests.bridge_process import ROOT, BridgeProcess
from tests.conftest import OPENAI_KEY
from tests.fixture_recording import captured_requests, record_again
from tests.simulator import Simulator

NOTE = Path("/tmp/llm-bridge-claude-code/note.txt")  # a fixed path: it appears in the recorded prompt
KEPT_HEADERS = ("anthropic-version", "anthropic-beta", "x-app", "user-agent", "anthropic-dangerous-direct-browser-access")


def scrub(body: dict) -> dict:
    """Claude Code's prose out, its structure in."""
    body = orjson.loads(orjson.dumps(body))
    if isinstance(body.get("system"), list):
        for i, block in enumerate(body["system"]):
            block["text"] = f"<Claude Code system prompt, part {i + 1}>"
    for message in body.get("messages", []):
        content = message.get("content")
        if message["role"] == "system":
            message["content"] = [{**b, "text": "<Claude Code per-turn system text>"} if b.get("type") == "text" else b
                                   for b in (content if isinstance(content, list) else [{"type": "text", "text": content}])]
            continue
        if isinstance(content, list):
            for block in content:
                if block.get("type") == "text" and block["text"].lstrip().startswith("<system-reminder>"):
                    block["text"] = "<system-reminder><Claude Code reminder></system-reminder>"
    for tool in body.get("tools", []):
        if "description" in tool:
            tool["description"] = f"<description of the {tool['name']} tool>"
        _scrub_schema(tool.get("input_schema"))
    if isinstance(body.get("metadata", {}).get("user_id"), str):
        body["metadata"]["user_id"] = '{"device_id":"<device>","account_uuid":"<account>","session_id":"<session>"}'
    return body


def _scrub_schema(schema: object) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "description" and isinstance(value, str):
                schema[key] = "<description>"
            elif key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    _scrub_schema(prop)
            else:
                _scrub_schema(value)
    elif isinstance(schema, list):
        for item in schema:
            _scrub_schema(item)


def main() -> None:
    cli = claude_code_cli.install()
    if cli is None:
        raise SystemExit("npm is needed to install Claude Code")
    NOTE.parent.mkdir(parents=True, exist_ok=True)
    NOTE.write_text("the pelican's name is Captain Scoop 4217\n")
    with Simulator(openai_key=OPENAI_KEY) as sim, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bridge.toml").write_text(claude_code_cli.bridge_toml(sim.base_url, OPENAI_KEY))
        live = BridgeProcess(f"--set=bridge_record={tmp / 'live'}", log_path=tmp / "live.log", cwd=tmp).wait_ready()
        try:
            for prompt in ("say hi", f"[sim:read path={NOTE}] read the note"):
                result = claude_code_cli.run(cli, live.base_url, prompt, NOTE.parent)
                assert result.returncode == 0, result.stdout + result.stderr
        finally:
            live.stop()
        requests = [(body, headers) for _, body, headers in captured_requests(tmp / "live", KEPT_HEADERS)]
        names = ["text-stream", "read-tool-call", "read-tool-result"]
        assert len(requests) == len(names), len(requests)
        fixtures = BridgeProcess(f"--set=bridge_record={tmp / 'fixtures'}", log_path=tmp / "fixtures.log", cwd=tmp).wait_ready()
        try:
            record_again(fixtures, tmp / "fixtures", ROOT / "flows" / "claude-code", [
                (name, ("/v1/messages?beta=true", orjson.dumps(scrub(body))), {**headers, "x-api-key": "sk-ant-client-secret"})
                for name, (body, headers) in zip(names, requests)])
        finally:
            fixtures.stop()

if __name__ == "__main__":
    main()
