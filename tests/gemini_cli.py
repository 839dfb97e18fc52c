"""The Gemini CLI (npm @google/gemini-cli), installed into .cache/ and run headless against a base URL."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests import npm_cli

VERSION = "0.61.0"


def install() -> Path | None:
    """The `gemini` binary, installed from the npm registry when missing; None without npm."""
    return npm_cli.install("@google/gemini-cli", VERSION, "gemini")


def run(cli: Path, base_url: str, model: str, prompt: str, workdir: Path) -> subprocess.CompletedProcess:
    """`gemini -m MODEL -p PROMPT` with its API key pointed at the bridge: GOOGLE_GEMINI_BASE_URL (which the
    google-genai SDK inside it reads), a key, and settings choosing key auth with nothing sent elsewhere."""
    home = workdir / "home"
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
    }))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
        "GOOGLE_GEMINI_BASE_URL": base_url, "GEMINI_API_KEY": "client-key-for-the-bridge",
        "GEMINI_CLI_TRUST_WORKSPACE": "true", "NO_BROWSER": "1", "CI": "1",
    }
    return subprocess.run([str(cli), "-m", model, "-p", prompt, "--output-format", "json"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
