"""Record the Gemini CLI's and opencode's exchanges as flows/gemini-cli/*.flow and flows/opencode/*.flow, with
their prose replaced.

    uv run python -m tests.record_agent_cli_flows [gemini-cli] [opencode]

Each CLI (tests/gemini_cli.py, tests/opencode_cli.py; the pinned versions from the npm registry) runs a round
of its own file-reading tool through a recording bridge to the simulator's Anthropic upstream. Each request it
sent is scrubbed: its system prompt, session context, tool and schema descriptions become placeholders; every
key, part, tool, schema shape, generation setting and the CLI's own headers stay as it sent them. The scrubbed
requests are sent again through a recording bridge; those recordings are the fixtures.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from tests import gemini_cli, opencode_cli
from tests.bridge_process import ROOT, BridgeProcess
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY, bridge_toml
from tests.fixture_recording import captured_requests, record_again
from tests.record_claude_code_flows import _scrub_schema
from tests.simulator import Simulator

MARKER = "Captain Scoop 4217"  # the note's text: kept in tool results, so the recordings show the round


def _keep_or(text: str, placeholder: str) -> str:
    return text if text.startswith("[sim:") or MARKER in text else placeholder


def scrub_gemini(body: dict) -> dict:
    body = orjson.loads(orjson.dumps(body))
    for n, part in enumerate((body.get("systemInstruction") or {}).get("parts", [])):
        part["text"] = f"<Gemini CLI system prompt, part {n + 1}>"
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            if isinstance(part.get("text"), str) and content.get("role") == "user":
                part["text"] = _keep_or(part["text"], "<Gemini CLI session context>")
            if "functionResponse" in part:
                response = part["functionResponse"].get("response", {})
                for key, value in response.items():
                    if isinstance(value, str):
                        response[key] = _keep_or(value, "<tool output>")
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            if "description" in declaration:
                declaration["description"] = f"<description of {declaration.get('name')}>"
            _scrub_schema(declaration.get("parameters"))
            _scrub_schema(declaration.get("parametersJsonSchema"))
    return body


def scrub_openai_chat(body: dict) -> dict:
    body = orjson.loads(orjson.dumps(body))
    for n, message in enumerate(body.get("messages", [])):
        if message.get("role") == "system":
            message["content"] = f"<opencode system prompt {n}>"
        elif message.get("role") in ("user", "tool") and isinstance(message.get("content"), str):
            message["content"] = _keep_or(message["content"], "<opencode context>")
        elif isinstance(message.get("content"), list):
            for part in message["content"]:
                if isinstance(part.get("text"), str) and message.get("role") != "assistant":
                    part["text"] = _keep_or(part["text"], "<opencode context>")
    for tool in body.get("tools", []):
        function = tool.get("function", {})
        if "description" in function:
            function["description"] = f"<description of {function.get('name')}>"
        _scrub_schema(function.get("parameters"))
    return body


def opencode_name(body: dict) -> str:
    """opencode asks for a title (no tools) beside the tool round."""
    if not body.get("tools"):
        return "title"
    return "read-tool-result" if any(m.get("role") == "tool" for m in body["messages"]) else "read-tool-call"


@dataclass(frozen=True)
class AgentCli:
    folder: str
    module: object  # tests.gemini_cli or tests.opencode_cli: install() and run()
    prompt: str  # with {note}
    kept_headers: tuple[str, ...]
    key_header: tuple[str, str]  # the client's credential header and a made-up value for it
    scrub: Callable[[dict], dict]
    name: Callable[[dict, int], str]


CLIS = {
    "gemini-cli": AgentCli(
        "gemini-cli", gemini_cli, "[sim:read path={note} tool=read_file] read the note",
        ("user-agent", "x-goog-api-client"), ("x-goog-api-key", "client-key-for-the-bridge"), scrub_gemini,
        lambda body, n: ["read-tool-call", "read-tool-result"][n]),
    "opencode": AgentCli(
        "opencode", opencode_cli, "[sim:read path={note} tool=read arg=filePath] read it",
        ("user-agent", "x-session-affinity", "x-session-id"), ("authorization", "Bearer client-key-for-the-bridge"),
        scrub_openai_chat, lambda body, n: opencode_name(body)),
}


def record(cli: AgentCli) -> None:
    binary = cli.module.install()
    if binary is None:
        raise SystemExit("npm is needed to install the CLI")
    workdir = Path(f"/tmp/llm-bridge-{cli.folder}")  # fixed: the path appears in the recorded prompt
    workdir.mkdir(parents=True, exist_ok=True)
    note = workdir / "note.txt"
    note.write_text(f"the pelican's name is {MARKER}\n")
    with Simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY) as sim, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bridge.toml").write_text(bridge_toml(sim.base_url, openai_key=OPENAI_KEY))
        live = BridgeProcess(f"--set=bridge_config={tmp / 'bridge.toml'}", f"--set=bridge_record={tmp / 'live'}",
                             log_path=tmp / "live.log", cwd=tmp).wait_ready()
        try:
            result = cli.module.run(binary, live.base_url, "claude-sim", cli.prompt.format(note=note), workdir)
            assert result.returncode == 0 and MARKER in result.stdout, result.stdout + result.stderr
        finally:
            live.stop()
        captured = captured_requests(tmp / "live", cli.kept_headers)
        named = {cli.name(body, n): (path, body, headers) for n, (path, body, headers) in enumerate(captured)}
        assert len(named) == len(captured), [cli.name(body, n) for n, (_, body, _) in enumerate(captured)]
        fixtures = BridgeProcess(f"--set=bridge_config={tmp / 'bridge.toml'}", f"--set=bridge_record={tmp / 'fixtures'}",
                                 log_path=tmp / "fixtures.log", cwd=tmp).wait_ready()
        try:
            record_again(fixtures, tmp / "fixtures", ROOT / "flows" / cli.folder, [
                (name, (path, orjson.dumps(cli.scrub(body))), {**headers, cli.key_header[0]: cli.key_header[1]})
                for name, (path, body, headers) in sorted(named.items())])
        finally:
            fixtures.stop()


def main(argv: list[str]) -> None:
    for name in argv or list(CLIS):
        record(CLIS[name])


if __name__ == "__main__":
    main(sys.argv[1:])
