"""`GET /v1/models`: the configured models, plus each Trae provider's own list as `<provider>/<model>`."""

from __future__ import annotations

import logging

import httpx

from addons.config import ProviderConfig
from addons.settings import BridgeSettings
from transforms.trae import endpoint as trae_endpoint
from transforms.trae.errors import error_in_json
from transforms.trae.model_list import parse_model_list

log = logging.getLogger(__name__)


async def model_list(settings: BridgeSettings, client: httpx.AsyncClient) -> dict:
    router = settings.router
    data = [
        {"id": model_id, "object": "model", "created": 0, "owned_by": router.owner(model_id)}
        for model_id in router.model_ids
    ]
    for provider in settings.config.providers:
        if provider.protocol == "trae":
            data += [{"id": f"{provider.name}/{name}", "object": "model", "created": 0, "owned_by": provider.name}
                     for name in await _trae_models(settings, provider, client)]
    return {"object": "list", "data": data}


async def _trae_models(settings: BridgeSettings, provider: ProviderConfig, client: httpx.AsyncClient) -> list[str]:
    try:
        credential = settings.credentials.get(provider.name)
        token = await credential.token() if credential is not None else provider.api_key
        headers = {**provider.headers, **trae_endpoint.request_headers(token)}
        response = await client.get(trae_endpoint.model_list_url(provider.base_url), headers=headers, timeout=15)
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        error = error_in_json(response.content, provider=provider.name)  # Trae also says no with HTTP 200
        if error is not None:
            raise ValueError(error.message)
        return parse_model_list(response.content)
    except Exception as exc:  # noqa: BLE001 - the configured models are still listed
        log.warning(f"llm-bridge: the model list of provider '{provider.name}' is unavailable: {exc}")
        return []
