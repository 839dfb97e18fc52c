"""Which provider and upstream model serve a client's model name."""

from __future__ import annotations

from dataclasses import dataclass

from addons.config import CACHE_TTL_S, BridgeConfig, ModelConfig, ProviderConfig, RouteConfig
from addons.model_resolution import strip_client_suffix, substitute, wildcard_match
from transforms.upstream_options import UpstreamOptions


@dataclass(frozen=True, slots=True)
class Destination:
    provider: ProviderConfig
    upstream_model: str
    options: UpstreamOptions  # configured max_tokens default and cap, the provider's quirks
    protocol: str = ""  # the upstream protocol serving this model (providers may speak several)
    headers: tuple[tuple[str, str], ...] = ()  # configured extra headers: the provider's, then the model's
    connect_address: str | None = None  # dynamic routes: the checked IP the connection must go to (no new DNS lookup)

    def __post_init__(self) -> None:
        if not self.protocol:
            object.__setattr__(self, "protocol", self.provider.protocol_for(self.upstream_model))

    @property
    def base_url(self) -> str:
        return self.provider.base_url_for(self.protocol)


def _options(provider: ProviderConfig, model: ModelConfig | RouteConfig | None = None) -> UpstreamOptions:
    ttl = (model and model.cache_ttl) or provider.cache_ttl
    return UpstreamOptions(
        max_tokens=(model and model.max_tokens) or provider.max_tokens,
        max_output_tokens=(model and model.max_output_tokens) or provider.max_output_tokens,
        quirks=frozenset(provider.quirks),
        locale=provider.locale,
        api_version=provider.api_version,
        prompt_cache=(model and model.cache) or provider.cache,
        cache_ttl_s=CACHE_TTL_S[ttl] if ttl else None,
    )


def destination_for(provider: ProviderConfig, upstream_model: str, model: ModelConfig | RouteConfig | None = None) -> Destination:
    headers = {**provider.headers, **{k.lower(): v for k, v in (model.headers if model else {}).items()}}
    return Destination(
        provider, upstream_model, _options(provider, model),
        protocol=(model and model.protocol) or provider.protocol_for(upstream_model),
        headers=tuple(headers.items()),
    )


class ModelRouter:
    """A model is addressed, in this order, by a `[[models]]` id, as `<provider>/<upstream model>`,
    or by the first `[[routes]]` pattern it matches (its `*` captures fill the upstream model's `*`:
    `claude-*` -> `gpt-4.1-*`); a client suffix such as `[1m]` is stripped first (model_resolution.py)."""

    def __init__(self, config: BridgeConfig) -> None:
        providers = {p.name: p for p in config.providers}
        self._providers = providers
        self._strip_suffix = config.model_names.strip_client_suffix
        self._patterns = [(route.match, route, providers[route.provider]) for route in config.routes]
        self._models = {
            m.id: destination_for(providers[m.provider], m.upstream_model or m.id, m)
            for m in config.models
        }

    def resolve(self, model: str) -> Destination | None:
        if self._strip_suffix:
            model = strip_client_suffix(model)
        route = self._models.get(model)
        if route is not None:
            return route
        provider_name, sep, upstream_model = model.partition("/")
        provider = self._providers.get(provider_name) if sep else None
        if provider is not None and upstream_model:
            return destination_for(provider, upstream_model)
        for pattern, route_config, provider in self._patterns:
            captures = wildcard_match(pattern, model)
            if captures is not None:
                upstream_model = substitute(route_config.upstream_model, captures) if route_config.upstream_model else model
                return destination_for(provider, upstream_model, route_config)
        return None

    @property
    def model_ids(self) -> list[str]:
        return list(self._models)

    @property
    def has_providers(self) -> bool:
        return bool(self._providers)

    def owner(self, model_id: str) -> str:
        return self._models[model_id].provider.name
