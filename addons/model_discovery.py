"""The models a provider lists itself, for GET /v1/models and for bare model names.

A provider whose models no `[[models]]` or `[[routes]]` name (one configured by an env var alone, as the
quick start leaves it), or one with `list_models = true`, is asked for its own list (its protocol's
`models_url`, e.g. Anthropic's `/v1/models`) through the bridge's one upstream interface, with short
bounds. A provider whose upstream lists nothing (Bedrock, Azure) lists its preset's table instead. The answer is kept for ten minutes (a failure for one), and fetched again in the background when
stale: a list never holds up a chat call once it has been fetched once, and never start-up. A model a
client names bare (`claude-sonnet-4-5`) that no `[[models]]` or `[[routes]]` serve goes to the first such
provider that lists it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from addons.config import ProviderConfig
from addons.credentials.credential import credential_for
from addons.presets.catalog import preset_models
from addons.settings import BridgeSettings
from addons.upstream.relay import UpstreamTimeouts
from addons.upstream.retry_policy import NO_RETRIES
from transforms.call_plan import plan_native_call
from transforms.codecs import UPSTREAM_CODECS

log = logging.getLogger(__name__)

FRESH_S = 600.0  # a list is fetched again after this long
FAILED_S = 60.0  # a failed fetch is tried again after this long
LIST_TIMEOUTS = UpstreamTimeouts(connect_s=5.0, first_byte_s=10.0, idle_s=10.0)


class ModelDiscovery:
    def __init__(self, settings: BridgeSettings, calls) -> None:
        self.settings = settings
        self._calls = calls  # UpstreamCalls
        self._lists: dict[str, tuple[float, list[str]]] = {}  # provider -> (valid until, model ids)
        self._fetching: dict[str, asyncio.Task] = {}

    def providers(self) -> list[ProviderConfig]:
        config = self.settings.config
        named = {m.provider for m in config.models} | {r.provider for r in config.routes}
        return [p for p in config.providers
                if (_lists_itself(p) or preset_models(p.preset, p.protocol))
                and (p.list_models if p.list_models is not None else p.name not in named)]

    async def lists(self) -> dict[str, list[str]]:
        """Every listing provider's models (fetched now where none is known, else as kept)."""
        providers = self.providers()
        await asyncio.gather(*(self._ensure(p) for p in providers))
        return {p.name: self._lists.get(p.name, (0.0, []))[1] for p in providers}

    async def provider_of(self, model: str) -> ProviderConfig | None:
        """The first listing provider whose list holds `model`."""
        for provider in self.providers():
            await self._ensure(provider)
            if model in self._lists.get(provider.name, (0.0, []))[1]:
                return provider
        return None

    async def _ensure(self, provider: ProviderConfig) -> None:
        known = self._lists.get(provider.name)
        if known is not None and known[0] > time.monotonic():
            return
        task = self._fetching.get(provider.name)
        if task is None:
            task = self._fetching[provider.name] = asyncio.ensure_future(self._fetch(provider))
            task.add_done_callback(lambda _t, name=provider.name: self._fetching.pop(name, None))
        if known is None:
            await asyncio.shield(task)  # the first time: wait (bounded); later a stale list serves meanwhile

    async def _fetch(self, provider: ProviderConfig) -> None:
        table = list(preset_models(provider.preset, provider.protocol))
        if not _lists_itself(provider):
            self._lists[provider.name] = (float("inf"), table)
            return
        upstream = UPSTREAM_CODECS[provider.protocol]
        settings = self.settings
        try:
            credential = credential_for(provider, provider.protocol, refreshed=settings.credentials,
                                        pools=settings.key_pools, client_headers={}, bridge_has_tokens=True,
                                        rotate=False)
            plan = plan_native_call(upstream, upstream.models_url(provider.base_url), b"", method="GET",
                                    extra_headers=provider.headers.items())
            status, body = await self._calls.fetch(plan, credential, provider=provider.name, timeout=LIST_TIMEOUTS,
                                                   retry=NO_RETRIES)  # a failed list is asked again in a minute
            if status != 200:
                raise ValueError(f"HTTP {status}")
            ids = upstream.model_ids(body, provider=provider.name)
            self._lists[provider.name] = (time.monotonic() + FRESH_S, ids)
        except Exception as exc:  # noqa: BLE001 - the configured models are still served
            log.warning(f"llm-bridge: the model list of provider '{provider.name}' is unavailable: {exc}")
            kept = self._lists.get(provider.name, (0.0, []))[1]
            self._lists[provider.name] = (time.monotonic() + FAILED_S, kept)


def _lists_itself(provider: ProviderConfig) -> bool:
    upstream = UPSTREAM_CODECS[provider.protocol]
    return upstream.model_ids is not None and upstream.models_url is not None
