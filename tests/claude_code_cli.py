"""Claude Code (npm @anthropic-ai/claude-code), installed into .cache/ and run offline against a base URL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests import npm_cli

VERSION = "2.1.332"


def install() -> Path | None:
    """The `claude` binary, installed from the npm registry when missing; None without npm."""
    return npm_cli.install("@anthropic-ai/claude-code", VERSION, "claude")

def run(cli: Path, base_url: str, prompt: str, workdir: Path) -> subprocess.CompletedProcess:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-client-key-for-the-bridge",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_BUG_COMMAND": "1",
    }
    return subprocess.run([str(cli), "-p", prompt, "--output-format", "json"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)


def bridge_toml(simulator_base_url: str, openai_key: str) -> str:
    """A bridge for Claude Code: its claude-* model names routed to the simulator's OpenAI endpoint."""
    return f"""
[[providers]]
name = "oai"
protocol = "openai-chat"
base_url = "{simulator_base_url}/v1"
api_key = "{openai_key}"
max_output_tokens = 16384

[[routes]]
match = "claude-*"
provider = "oai"
upstream_model = "gpt-4o-mini"
"""
