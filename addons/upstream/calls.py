"""The one interface through which the bridge calls a provider.

    await calls.dispatch(flow, plan, credential, provider=..., connect_address=...)

and, for the calls the bridge makes for itself (a provider's model list),

    status, body = await calls.fetch(plan, credential, provider=...)

Every entry point (bridge.toml models, `<provider>/<model>`, routes, dynamic
routes, proxy URLs, count_tokens, model lists, embeddings) ends here with a
`CallPlan` (transforms/call_plan.py) and its provider's `Credential`
(addons/credentials/credential.py). The call is registered with the relay,
which sends it (`UpstreamRelay.send`, the one place a call is sent), and the
flow's request becomes the upstream request as planned, addressed to the relay.

From its answer's first byte on, the flow shows the provider's URL again, so
mitmweb, `-w` files, recordings and logs show where the call went, not the
relay; only between the request hook and the answer's head does it name the
relay's loopback port.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit

from mitmproxy import http

from addons.credentials.credential import Credential
from addons.guards.header_values import header_fields
from addons.recording.redact import SECRET_HEADERS
from addons.settings import BridgeSettings
from addons.upstream.relay import CALL_HEADER, RelayCall, UpstreamRelay, UpstreamTimeouts
from addons.upstream.retry_policy import RetryPolicy
from transforms.call_plan import CallPlan

USER_AGENT = b"llm-bridge/0.1"


class UpstreamCalls:
    def __init__(self, relay: UpstreamRelay, settings: BridgeSettings) -> None:
        self.relay = relay
        self._settings = settings
        # a flow's registered call: (call id, provider URL), dropped with the flow whatever hooks were skipped
        self._calls: weakref.WeakKeyDictionary[http.HTTPFlow, tuple[str, str]] = weakref.WeakKeyDictionary()

    async def dispatch(self, flow: http.HTTPFlow, plan: CallPlan, credential: Credential, *, provider: str,
                       connect_address: str | None = None) -> None:
        """Make `flow` carry `plan` to the relay, which sends it with `credential` within the configured bounds.
        Raises the client's error (every key resting, a refresh refused) before anything is registered."""
        key = await credential.first_key()
        settings = self._settings
        call = RelayCall(plan.url, provider, credential, key, queue_probe=plan.queue_probe,
                         retry=settings.retry_policy, timeout=settings.timeout, connect_address=connect_address)
        call_id = self.relay.register(call)
        self._calls[flow] = (call_id, plan.url)  # forgotten when the flow is answered or ends, used or not
        headers = {**plan.headers, **_without_secrets(credential.headers(None)), CALL_HEADER: call_id}
        _rewrite_request(flow, plan, headers, via=("127.0.0.1", self.relay.port))

    async def fetch(self, plan: CallPlan, credential: Credential, *, provider: str,
                    timeout: UpstreamTimeouts | None = None, retry: RetryPolicy | None = None) -> tuple[int, bytes]:
        """A call the bridge makes for itself (a provider's model list), sent the same way as a client's:
        the relay's attempts, bounds (`timeout`, else the configured ones) and credential; the answer read
        whole. Raises BridgeError."""
        key = await credential.first_key()
        settings = self._settings
        call = RelayCall(plan.url, provider, credential, key, retry=retry or settings.retry_policy,
                         timeout=timeout or settings.timeout)
        headers = [(b"accept", plan.accept), (b"user-agent", USER_AGENT)] + header_fields(plan.headers)
        return await self.relay.fetch(call, plan.method, plan.body, headers=headers)

    def answered(self, flow: http.HTTPFlow) -> None:
        """The call has its answer (or never will): its id is spent, and the flow shows the provider's URL."""
        call = self._calls.pop(flow, None)
        if call is None:
            return
        call_id, url = call
        self.relay.forget(call_id)
        show_provider(flow, url)
        flow.request.headers.pop(CALL_HEADER, None)


def show_provider(flow: http.HTTPFlow, url: str) -> None:
    """Address the flow's request to the provider's URL again (its path is already the provider's)."""
    parts = _url_parts(url)
    request = flow.request
    request.data.scheme, request.data.host, request.data.port = parts.scheme, parts.host, parts.port


def _without_secrets(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


def _rewrite_request(flow: http.HTTPFlow, plan: CallPlan, headers: dict[str, str], via: tuple[str, int]) -> None:
    """Make `flow.request` the planned upstream request: none of the client's headers (its credentials
    above all) go upstream, only `headers` and what every request needs. It is addressed to `via` (the
    relay); its Host and path stay the provider's."""
    parts = _url_parts(plan.url)
    body = plan.body
    fields = [
        (b"host", parts.authority),
        (b"accept", plan.accept),
        (b"accept-encoding", b"identity"),  # the stream translator needs plain bytes
        (b"content-length", b"%d" % len(body)),
    ]
    if body:
        fields.append((b"content-type", b"application/json"))
    if "user-agent" not in headers:  # a preset may announce itself as its upstream's own client
        fields.append((b"user-agent", USER_AGENT))
    fields += header_fields(headers)
    request = flow.request
    request.headers = http.Headers(fields)
    # set the parts directly: the `url` setter re-parses the URL and rewrites Host on every request
    method = b"POST" if plan.method == "POST" else plan.method.encode()
    request.data.method, request.data.scheme, request.data.host, request.data.port, request.data.path = (
        method, b"http", via[0], via[1], parts.path
    )
    request.raw_content = body  # identity-encoded, length set above


@dataclass(frozen=True, slots=True)
class _UrlParts:
    scheme: bytes
    host: str
    port: int
    path: bytes
    authority: bytes  # the Host header


@functools.lru_cache(maxsize=512)
def _url_parts(url: str) -> _UrlParts:
    """An upstream URL split once (there are only as many as providers x protocols)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")  # e.g. Gemini's ?alt=sse
    return _UrlParts(parts.scheme.encode(), parts.hostname or "", port, path.encode(), parts.netloc.encode())
