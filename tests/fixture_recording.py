"""Filing recordings made by a recording bridge as fixtures under flows/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import orjson
from mitmproxy import io

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


def captured_requests(record_dir: Path, kept_headers: tuple[str, ...]) -> list[tuple[str, dict, dict]]:
    """What a client sent through a recording bridge: (path, body, the headers named in `kept_headers`) per
    exchange, in the order they were recorded."""
    out = []
    for file in sorted(record_dir.glob("*.flow")):
        with file.open("rb") as fh:
            for flow in io.FlowReader(fh).stream():
                request = flow.metadata["llm_bridge"]["client_request"]
                headers = {k.lower(): v for k, v in request["headers"] if k.lower() in kept_headers}
                out.append((request["path"], orjson.loads(request["body"]), headers))
    return out
