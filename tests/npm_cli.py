"""A command-line client from the npm registry, installed into .cache/ (git-ignored) by the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bridge_process import ROOT

if TYPE_CHECKING:
    from tests.bridge_process import BridgeProcess


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


def record_again(bridge: BridgeProcess, record_dir: Path, target: Path, requests: list[tuple[str, bytes, dict]]) -> None:
    """Send each (name, path-and-body, headers) through a recording bridge and file its recording as target/<name>.flow."""
    import time

    import httpx

    target.mkdir(parents=True, exist_ok=True)
    for name, (path, body), headers in requests:
        before = set(record_dir.glob("*.flow"))
        httpx.post(f"{bridge.base_url}{path}", content=body, headers={**headers, "content-type": "application/json"}, timeout=60)
        for _ in range(100):
            new = set(record_dir.glob("*.flow")) - before
            if new:
                break
            time.sleep(0.05)
        shutil.move(str(new.pop()), target / f"{name}.flow")
        print("recorded", (target / f"{name}.flow").relative_to(ROOT))

