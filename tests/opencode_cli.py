"""opencode (npm opencode-ai), installed into .cache/ and run headless against the bridge as an
OpenAI-compatible provider (its `@ai-sdk/openai-compatible` provider package, configured in opencode.json)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests import npm_cli

VERSION = "1.18.33"


def install() -> Path | None:
    """The `opencode` binary, installed from the npm registry when missing; None without npm."""
    return npm_cli.install("opencode-ai", VERSION, "opencode")


def run(cli: Path, base_url: str, model: str, prompt: str, workdir: Path) -> subprocess.CompletedProcess:
    """`opencode run -m bridge/MODEL PROMPT`, the bridge configured as the provider `bridge` in the project's
    opencode.json (the way opencode's documentation adds an OpenAI-compatible endpoint)."""
    (workdir / "opencode.json").write_text(json.dumps({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"bridge": {"npm": "@ai-sdk/openai-compatible", "name": "llm-bridge",
                                "options": {"baseURL": base_url + "/v1", "apiKey": "client-key-for-the-bridge"},
                                "models": {model: {"name": model}}}},
        "autoupdate": False, "share": "disabled",
    }))
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1"}
    return subprocess.run([str(cli), "run", "-m", f"bridge/{model}", prompt], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
