"""The usage addons: `GET /metrics`, `GET /api/usage`, and each finished exchange counted.

    UsageEndpoints  before the proxy-URL service and the bridge: notes the id of the bridge token a request
                    presents (before the bridge takes secrets out of a visible flow and rewrites the request),
                    answers the two endpoints (behind `[server] auth_tokens` when set)
    UsageRecorder   after the bridge and the exchange log: counts open streams, and gives every finished
                    exchange to the metrics and the ledger

The ledger: `[ledger]` in bridge.toml; by default on when the bridge runs from a config file, in
`llm-bridge-usage.sqlite` beside it, and off with no config file (providers from environment variables:
a quick start writes no file anywhere unasked).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path

import orjson
from mitmproxy import http

from addons.answers import METADATA_KEY, json_response
from addons.client_paths import chat_protocol
from addons.guards.client_auth import is_authorized, presented_token
from addons.settings import BridgeSettings
from addons.upstream.relay import key_id
from addons.usage.exchange import finished_exchange
from addons.usage.ledger import DEFAULT_FILE, GROUPS, Ledger, parse_since, store_for
from addons.usage.metrics import Metrics

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
USAGE_PATH = "/api/usage"


class Usage:
    """What the two addons share: the metrics, the ledger, and what each flow noted on its way in."""

    def __init__(self, settings: BridgeSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.ledger: Ledger | None = None
        self._ledger_config = None  # what the ledger was opened from (a config change reopens it)
        # per flow: (client protocol by its path, the bridge token's id), noted at requestheaders
        self.arrivals: weakref.WeakKeyDictionary[http.HTTPFlow, tuple[str | None, str | None]] = weakref.WeakKeyDictionary()
        self.streams: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self.recorded: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()

    # the ledger follows the configuration

    def configure_ledger(self) -> None:
        settings = self.settings
        config = settings.config.ledger
        source = settings.source
        wanted = (config, source)
        if wanted == self._ledger_config:
            return
        self._ledger_config = wanted
        self.close_ledger()
        from_file = source not in ("nothing", "environment")
        enabled = config.enabled if config.enabled is not None else (from_file or bool(config.path or config.url))
        if not enabled:
            return
        base = Path(source).resolve().parent if from_file else Path.cwd()
        path = config.path
        if path is None and not config.url:
            path = DEFAULT_FILE
        try:
            store = store_for(str(_beside(base, path)) if path else None, config.url)
        except ValueError as exc:
            log.error(f"llm-bridge: {exc}; the usage ledger is off")
            return
        self.ledger = Ledger(store)
        log.info(f"llm-bridge: usage ledger: {store.where}")

    def close_ledger(self) -> None:
        if self.ledger is not None:
            ledger, self.ledger = self.ledger, None
            ledger.close()


def _beside(base: Path, path: str) -> Path:
    if path.startswith("sqlite:///"):
        path = path[len("sqlite:///"):]
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


class UsageEndpoints:
    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self._authorized: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()  # endpoint calls with a valid token

    def configure(self, updated: set[str]) -> None:
        if "bridge_config" in updated:
            self.usage.configure_ledger()

    def done(self) -> None:
        self.usage.close_ledger()
        self.usage.metrics.close()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Decided now: when flows are visible, the bridge replaces the credentials with markers next."""
        bare_path = flow.request.path.split("?", 1)[0]
        tokens = self.usage.settings.config.server.auth_tokens
        authorized = is_authorized(flow.request.headers, tokens)
        if bare_path in (METRICS_PATH, USAGE_PATH):
            if authorized:
                self._authorized.add(flow)
            return
        protocol = chat_protocol(bare_path)
        token_id = key_id(presented_token(flow.request.headers)) if tokens and authorized else None
        if protocol is not None or token_id is not None:
            self.usage.arrivals[flow] = (protocol, token_id)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.request.stream:  # answered, or refused with its body discarded
            return
        path = flow.request.path.split("?", 1)[0]
        if path not in (METRICS_PATH, USAGE_PATH):
            return
        if flow.request.method != "GET":
            flow.response = _error(405, "invalid_request_error", f"{path} answers GET only.")
            return
        if flow not in self._authorized:
            flow.response = _error(401, "authentication_error", "Missing or invalid bridge token: send "
                                   "'Authorization: Bearer <token>' with a token from [server] auth_tokens.")
            return
        if path == METRICS_PATH:
            body, content_type = self.usage.metrics.exposition()
            flow.response = http.Response.make(200, body, {"content-type": content_type, "cache-control": "no-store"})
            return
        await self._usage(flow)

    async def _usage(self, flow: http.HTTPFlow) -> None:
        ledger = self.usage.ledger
        if ledger is None:
            flow.response = _error(404, "not_found_error", "The usage ledger is off: it is on by default when the "
                                   "bridge runs from a config file; see [ledger] in the README.")
            return
        query = flow.request.query
        group_by = query.get("group_by", "model")
        if group_by not in GROUPS:
            flow.response = _error(400, "invalid_request_error",
                                   f"group_by must be one of {', '.join(GROUPS)}, not '{group_by[:40]}'.")
            return
        try:
            since = parse_since(query.get("since"))
        except ValueError:
            flow.response = _error(400, "invalid_request_error", "since must be an ISO 8601 time "
                                   "(2026-01-31T12:00:00Z) or unix seconds.")
            return
        try:
            summary = await asyncio.to_thread(ledger.summary, group_by, since)
        except Exception as exc:  # noqa: BLE001 - the database is down: say so
            log.warning(f"llm-bridge: the usage ledger ({ledger.store.where}) cannot be read: {type(exc).__name__}: {exc}")
            flow.response = _error(503, "api_error", f"The usage ledger ({ledger.store.where}) cannot be read now "
                                   f"({type(exc).__name__}); the bridge's log has the details.")
            return
        flow.response = json_response(200, orjson.dumps(summary), {"cache-control": "no-store"})


class UsageRecorder:
    def __init__(self, usage: Usage) -> None:
        self.usage = usage

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        usage = self.usage
        counted = flow in usage.arrivals or METADATA_KEY in flow.metadata
        if flow.response is not None and flow.response.stream and counted and flow not in usage.streams:
            usage.streams.add(flow)
            usage.metrics.stream_opened()

    def response(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def _finished(self, flow: http.HTTPFlow) -> None:
        usage = self.usage
        if flow in usage.streams:
            usage.streams.discard(flow)
            usage.metrics.stream_closed()
        if not flow.live or flow in usage.recorded:
            return
        meta = flow.metadata.get(METADATA_KEY)
        arrival = usage.arrivals.get(flow)
        protocol, token_id = arrival if arrival is not None else (None, None)
        if not isinstance(meta, dict) and protocol is None:
            return  # not a model call (a model list, the console, /metrics itself)
        usage.recorded.add(flow)
        try:
            exchange = finished_exchange(meta, flow, client_protocol=protocol, client_token_id=token_id)
            usage.metrics.exchange(exchange)
            if usage.ledger is not None:
                usage.ledger.record(exchange)
        except Exception:  # noqa: BLE001 - counting never fails an exchange
            log.exception("llm-bridge: the exchange could not be counted")


def _error(status: int, kind: str, message: str) -> http.Response:
    return json_response(status, orjson.dumps({"error": {"type": kind, "message": message}}))
