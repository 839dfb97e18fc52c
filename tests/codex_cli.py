"""OpenAI Codex CLI (npm @openai/codex), installed into .cache/ and run offline with a custom provider."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests import npm_cli

VERSION = "0.171.0"


def install() -> Path | None:
    """The `codex` binary, installed from the npm registry when missing; None without npm."""
    return npm_cli.install("@openai/codex", VERSION, "codex")

def config_toml(model: str, base_url: str, provider_name: str = "llm-bridge") -> str:
    """A custom Responses provider at the bridge; plugins and analytics off so nothing else is contacted.
    `provider_name`: Codex compacts remotely (a `compaction_trigger`) for a provider named "OpenAI" or "azure",
    else locally (its own summary prompt as a turn)."""
    return f'''model = "{model}"
model_provider = "bridge"
approval_policy = "never"
sandbox_mode = "read-only"

[model_providers.bridge]
name = "{provider_name}"
base_url = "{base_url}/v1"
wire_api = "responses"
env_key = "LLM_BRIDGE_KEY"

[features]
plugins = false

[analytics]
enabled = false
'''


def run(cli: Path, base_url: str, model: str, prompt: str, workdir: Path, *, args: tuple[str, ...] = (),
        provider_name: str = "llm-bridge") -> subprocess.CompletedProcess:
    """`codex exec [args...] prompt` in `workdir` (args: `-c key=value`, `resume --last` ...)."""
    home = workdir / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(config_toml(model, base_url, provider_name))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "CODEX_HOME": str(home),
           "LLM_BRIDGE_KEY": "client-key-for-the-bridge"}
    return subprocess.run([str(cli), "exec", "--skip-git-repo-check", *args, prompt], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
