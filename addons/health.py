"""`GET /healthz`: the process is up and serving (HAProxy's health check of each cluster worker).

Answered before anything else reads the request, with no bridge token needed and nothing sent upstream:
`{"status": "ok"}`, plus `"worker": i` in a cluster worker (LLM_BRIDGE_WORKER, set by addons/cluster).
"""

from __future__ import annotations

import os

import orjson
from mitmproxy import http

from addons.answers import json_response

HEALTH_PATH = "/healthz"
WORKER_ENV = "LLM_BRIDGE_WORKER"


class Health:
    def __init__(self) -> None:
        worker = os.environ.get(WORKER_ENV)
        body = {"status": "ok", **({"worker": int(worker)} if worker and worker.isdigit() else {})}
        self._body = orjson.dumps(body)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or not flow.live or flow.request.method not in ("GET", "HEAD"):
            return
        if flow.request.path.split("?", 1)[0] == HEALTH_PATH:
            flow.response = json_response(200, self._body, {"cache-control": "no-store"})
