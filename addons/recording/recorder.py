"""`--set bridge_record=DIR`: each bridged exchange saved as DIR/<time>-<model>.flow.

A recording holds both sides of the translation: the request as sent upstream
(flow.request) and the answer as sent to the client (flow.response), plus in
flow.metadata["llm_bridge"] the client's original request and the upstream's
answer with per-chunk timing. Every credential is redacted before writing.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from mitmproxy import ctx, exceptions, http, io

from addons.answers import METADATA_KEY
from addons.recording.redact import redact_headers, redact_query

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self) -> None:
        self.directory: Path | None = None
        self._count = 0

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def load(self, loader) -> None:
        loader.add_option("bridge_record", str, "", "Save every bridged exchange as a redacted .flow file in this folder.")

    def configure(self, updated: set[str]) -> None:
        if "bridge_record" not in updated:
            return
        value = ctx.options.bridge_record
        if not value:
            self.directory = None
            return
        directory = Path(value)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise exceptions.OptionsError(f"bridge_record: cannot create {directory}: {exc}") from None
        self.directory = directory

    def response(self, flow: http.HTTPFlow) -> None:
        self._save(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._save(flow)

    def _save(self, flow: http.HTTPFlow) -> None:
        if self.directory is None or METADATA_KEY not in flow.metadata or not flow.live:
            return  # (a flow read from a file is recorded already)
        copy = redacted_copy(flow)
        self._count += 1
        model = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(copy.metadata[METADATA_KEY].get("upstream_model", "flow")))
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{self._count:04d}-{model}.flow"
        with path.open("wb") as fh:
            io.FlowWriter(fh).add(copy)
        log.info(f"llm-bridge: recorded {path}")


def redacted_copy(flow: http.HTTPFlow) -> http.HTTPFlow:
    copy = flow.copy()
    redact_headers(copy.request.headers)
    redact_query(copy.request)
    if copy.response is not None:  # (a streamed answer's body is what the client was sent: the bridge kept it)
        redact_headers(copy.response.headers)
    return copy
