"""A command-line client from the npm registry, installed into .cache/ (git-ignored) by the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.bridge_process import ROOT


def install(package: str, version: str, binary: str) -> Path | None:
    """The installed `binary` of `package@version`, installed when missing; None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    prefix = ROOT / ".cache" / package.rsplit("/", 1)[-1]
    path = prefix / "node_modules" / ".bin" / binary
    manifest = prefix / "node_modules" / package / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    if installed != version or not path.exists():
        subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                        f"{package}@{version}"], check=True, timeout=600)
    return path

