"""Filing recordings made by a recording bridge as fixtures under flows/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from tests.bridge_process import ROOT, BridgeProcess


def record_again(bridge: BridgeProcess, record_dir: Path, target: Path, requests: list[tuple[str, bytes, dict]]) -> None:
    """Send each (name, path-and-body, headers) through a recording bridge and file its recording as target/<name>.flow."""
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
