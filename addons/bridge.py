"""llm-bridge: the script to pass to mitmproxy.

    uv run mitmdump -s addons/bridge.py [--set bridge_config=bridge.toml] [-p 8080]

Serves OpenAI-compatible clients at http://127.0.0.1:8080/v1 and translates
for each model's provider.
"""

from __future__ import annotations

import sys
from pathlib import Path

# mitmproxy puts only this file's folder on sys.path; the project root holds `addons` and `transforms`
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from addons.bridge_addon import Bridge  # noqa: E402
from addons.guards.request_guard import CorsAnswers, RequestGuard  # noqa: E402
from addons.guards.listen import ListenGuard  # noqa: E402
from addons.health import Health  # noqa: E402
from addons.proxy_url.api import ProxyUrls  # noqa: E402
from addons.recording.recorder import Recorder  # noqa: E402
from addons.recording.replay import Replay  # noqa: E402
from addons.reverse_mode import ReverseMode  # noqa: E402
from addons.settings import BridgeSettings  # noqa: E402
from addons.upstream.relay import UpstreamRelay  # noqa: E402
from addons.views import register as register_views  # noqa: E402
from addons.recording.exchange_log import ExchangeLog  # noqa: E402
from addons.recording.visibility import FlowKeeping, flows_visible  # noqa: E402
from addons.usage.addon import Usage, UsageEndpoints, UsageRecorder  # noqa: E402

register_views()  # SSE, LLM Chat and LLM Exchange: chosen by mitmweb's "auto" for LLM bodies
relay = UpstreamRelay()
settings = BridgeSettings(http_client=lambda: relay.client, on_refreshed=lambda provider: relay.observer.refreshed(provider))
recorder = Recorder()
keeping = FlowKeeping(recording=lambda: recorder.enabled)
replay = Replay(settings)
proxy_urls = ProxyUrls(settings, relay)
request_guard = RequestGuard(settings, relay)
usage = Usage(settings)  # GET /metrics, GET /api/usage: the metrics and the usage ledger
relay.observer = usage.metrics  # failed upstream attempts, answers broken off, retries, refreshes

addons = [
    ReverseMode(),
    settings,
    ListenGuard(settings),  # after the settings: it needs to know whether auth tokens are configured
    Health(),  # GET /healthz, answered before anything reads a request (HAProxy's check of a cluster worker)
    request_guard,  # before anything reads a request: refuses cross-site callers, non-JSON and oversized bodies
    UsageEndpoints(usage),  # before the proxy URLs (their /api/* answers) and the bridge: the token's id, the endpoints
    proxy_urls,  # before the bridge: lifts /proxy/ tokens out of paths, answers /api/* and the console
    keeping,
    Bridge(settings, relay=relay, keep_streams=keeping.stream_limit, flows_visible=flows_visible,
           proxy_urls=proxy_urls),
    replay,  # after the bridge: matches the translated upstream request against recordings
    ExchangeLog(),  # after the bridge: one log line per exchange, and its summary in mitmweb's list
    UsageRecorder(usage),  # after the bridge: each finished exchange to the metrics and the ledger
    recorder,
    CorsAnswers(request_guard),  # last: the bridge replaces an answer's headers when it translates
]
