"""Which provider and upstream model serve a client's model name."""

from __future__ import annotations

from dataclasses import dataclass

from addons.config import BridgeConfig, ModelConfig, ProviderConfig
from transforms.upstream_options import UpstreamOptions


@dataclass(frozen=True, slots=True)
class Route:
    provider: ProviderConfig
    upstream_model: str
    options: UpstreamOptions  # configured max_tokens default and cap, the provider's quirks


def _options(provider: ProviderConfig, model: ModelConfig | None = None) -> UpstreamOptions:
    return UpstreamOptions(
        max_tokens=(model and model.max_tokens) or provider.max_tokens,
        max_output_tokens=(model and model.max_output_tokens) or provider.max_output_tokens,
        quirks=frozenset(provider.quirks),
    )


class ModelRouter:
    """A model is addressed by a `[[models]]` id, or as `<provider>/<upstream model>`."""

    def __init__(self, config: BridgeConfig) -> None:
        providers = {p.name: p for p in config.providers}
        self._providers = providers
        self._models = {
            m.id: Route(providers[m.provider], m.upstream_model or m.id, _options(providers[m.provider], m))
            for m in config.models
        }

    def resolve(self, model: str) -> Route | None:
        route = self._models.get(model)
        if route is not None:
            return route
        provider_name, sep, upstream_model = model.partition("/")
        provider = self._providers.get(provider_name) if sep else None
        if provider is not None and upstream_model:
            return Route(provider, upstream_model, _options(provider))
        return None

    @property
    def model_ids(self) -> list[str]:
        return list(self._models)

    @property
    def has_providers(self) -> bool:
        return bool(self._providers)

    def owner(self, model_id: str) -> str:
        return self._models[model_id].provider.name
