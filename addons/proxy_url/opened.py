"""An opened proxy URL: its configuration as the bridge sees it: a provider,
its catalog entry, the model rules and the keys in turn. Built once per token."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from addons.config import AwsConfig, ProviderConfig
from addons.credentials.key_pool import KeyPool
from addons.model_resolution import ModelMapping
from addons.presets.catalog import CatalogEntry
from addons.proxy_url.config import ProxyConfig
from addons.state.store import SharedState, pool_scope
from addons.model_router import Destination, destination_for

KEY_COOLDOWN_S = 60.0


@dataclass(frozen=True)
class OpenedProxyUrl:
    config: ProxyConfig
    provider: ProviderConfig
    entry: CatalogEntry
    mapping: ModelMapping
    key_pool: KeyPool

    @property
    def protocol(self) -> str:
        return self.provider.protocol

    def destination(self, client_model: str) -> Destination:
        return destination_for(self.provider, self.mapping.resolve(client_model))


def opened_url(config: ProxyConfig, state: SharedState | None = None) -> OpenedProxyUrl:
    """`state`: where its key pool's cool-downs and turn live (addons/state/; None: this process)."""
    target = config.target
    auth = target.auth
    keys = list(getattr(auth, "all_keys", []))
    auth_type = {"bearer": "bearer", "multiKey": "bearer", "x-api-key": "x-api-key", "azure": "azure",
                 "none": "none"}.get(auth.type)
    provider = ProviderConfig(
        name=config.provider_label,
        protocol=target.resolved_protocol,
        base_url=target.resolved_base_url,
        api_keys=keys,
        key_cooldown_seconds=KEY_COOLDOWN_S,
        auth_type=auth_type,
        api_version=getattr(auth, "apiVersion", None),
        aws=(AwsConfig(access_key_id=auth.accessKeyId, secret_access_key=auth.secretAccessKey,
                       session_token=auth.sessionToken, region=auth.region) if auth.type == "aws" else None),
        quirks=list(target.entry.quirks),
    )
    rules = config.model
    mapping = ModelMapping(force=rules.force if rules.mode == "force" else None, map=dict(rules.map),
                           strip_suffix=rules.stripClientSuffix)
    pool_state = state.pool(pool_scope("proxy-url", provider.base_url, keys)) if state is not None and keys else None
    return OpenedProxyUrl(config, provider, target.entry, mapping, KeyPool(provider.name, keys, KEY_COOLDOWN_S, state=pool_state))


class OpenedUrls:
    """Opened tokens, most recently used last: decrypting and validating once per URL, and
    one key pool per URL so its keys rotate and rest across requests. The opened URLs are kept in memory only;
    their pools' cool-downs and turn live in the bridge's shared state (addons/state/)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._targets: OrderedDict[str, OpenedProxyUrl] = OrderedDict()

    def get(self, token: str) -> OpenedProxyUrl | None:
        target = self._targets.get(token)
        if target is not None:
            self._targets.move_to_end(token)
        return target

    def put(self, token: str, target: OpenedProxyUrl) -> None:
        self._targets[token] = target
        if len(self._targets) > self._size:
            self._targets.popitem(last=False)

    def clear(self) -> None:
        self._targets.clear()
