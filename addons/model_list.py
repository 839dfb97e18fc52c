"""`GET /v1/models`: the configured models, plus the models of each provider whose protocol has its own
list (Trae), as `<provider>/<model>`."""

from __future__ import annotations

import logging

from addons.config import ProviderConfig
from addons.credentials.credential import credential_for
from addons.settings import BridgeSettings
from transforms.call_plan import plan_native_call
from transforms.codecs import UPSTREAM_CODECS

log = logging.getLogger(__name__)


async def model_list(settings: BridgeSettings, calls) -> dict:
    """`calls`: the bridge's UpstreamCalls, through which each provider's own list is fetched."""
    router = settings.router
    data = [
        {"id": model_id, "object": "model", "created": 0, "owned_by": router.owner(model_id)}
        for model_id in router.model_ids
    ]
    for provider in settings.config.providers:
        if UPSTREAM_CODECS[provider.protocol].model_list_url is not None:
            data += [{"id": f"{provider.name}/{name}", "object": "model", "created": 0, "owned_by": provider.name}
                     for name in await _provider_models(settings, provider, calls)]
    return {"object": "list", "data": data}


async def _provider_models(settings: BridgeSettings, provider: ProviderConfig, calls) -> list[str]:
    upstream = UPSTREAM_CODECS[provider.protocol]
    try:
        credential = credential_for(provider, provider.protocol, refreshed=settings.credentials,
                                    pools=settings.key_pools, client_headers={}, bridge_has_tokens=True)
        plan = plan_native_call(upstream, upstream.model_list_url(provider.base_url), b"", method="GET",
                                extra_headers=provider.headers.items())
        status, body = await calls.fetch(plan, credential, provider=provider.name)
        if status != 200:
            raise ValueError(f"HTTP {status}")
        return upstream.model_names(body, provider=provider.name)
    except Exception as exc:  # noqa: BLE001 - the configured models are still listed
        log.warning(f"llm-bridge: the model list of provider '{provider.name}' is unavailable: {exc}")
        return []
