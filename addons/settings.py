"""The `bridge_config` option: loads bridge.toml (or the standard env vars) into a router."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mitmproxy import ctx, exceptions

from addons.config import BridgeConfig, ConfigError, config_from_env, load_config
from addons.credentials.registry import build_credentials
from addons.credentials.key_pool import KeyPool
from addons.upstream.retry_policy import RetryPolicy
from addons.model_router import ModelRouter
from addons.upstream.relay import UpstreamTimeouts

log = logging.getLogger(__name__)

DEFAULT_CONFIG_FILE = "bridge.toml"


class BridgeSettings:
    def __init__(self, http_client=None) -> None:
        self.config = BridgeConfig()
        self.router = ModelRouter(self.config)
        self.key_pools: dict[str, KeyPool] = {}
        self.credentials: dict = {}  # provider name -> OAuthCredential (refresh-token providers)
        self.retry_policy = RetryPolicy()
        self.timeout = UpstreamTimeouts()  # the bounds of every upstream call the relay makes
        self._http_client = http_client  # () -> httpx.AsyncClient, for token refreshes
        self.source = "nothing"
        self._running = False

    def running(self) -> None:
        self._running = True

    def load(self, loader) -> None:
        loader.add_option(
            "bridge_config",
            str,
            "",
            f"Path of the bridge's TOML config. Default: ./{DEFAULT_CONFIG_FILE} if present, "
            "else providers from ANTHROPIC_API_KEY, OPENAI_API_KEY, ...",
        )

    def configure(self, updated: set[str]) -> None:
        if "bridge_config" not in updated:
            return
        path = ctx.options.bridge_config
        if not path and Path(DEFAULT_CONFIG_FILE).is_file():
            path = DEFAULT_CONFIG_FILE
        try:
            config = load_config(path) if path else config_from_env(dict(os.environ))
            self.use(config, source=path or "environment")
        except ConfigError as exc:
            if self._running:  # a change made at run time (e.g. in mitmweb) is refused
                raise exceptions.OptionsError(f"llm-bridge config error: {exc}") from None
            # at start-up one line is logged, and mitmproxy's errorcheck then stops with exit status 1
            log.error(f"llm-bridge config error: {exc}")
            return

    def use(self, config: BridgeConfig, *, source: str) -> None:
        try:
            credentials = build_credentials(config, self._http_client)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"credentials: {exc}") from None
        self.config = config
        self.router = ModelRouter(config)
        self.key_pools = {p.name: KeyPool(p.name, p.keys, p.key_cooldown_seconds) for p in config.providers}
        self.credentials = credentials
        retries = config.retries
        self.retry_policy = RetryPolicy(retries.attempts, retries.max_retry_after_seconds,
                                        retries.backoff_initial_seconds, retries.backoff_max_seconds)
        self.timeout = UpstreamTimeouts(retries.connect_timeout_seconds, retries.read_timeout_seconds,
                                        retries.idle_timeout_seconds)
        self.source = source
        names = ", ".join(f"{p.name} ({p.protocol})" for p in config.providers) or "none"
        log.info(f"llm-bridge: providers from {source}: {names}; models: {_listed([m.id for m in config.models])}")


def _listed(ids: list[str], shown: int = 24) -> str:
    """The model ids a start-up line names: all of them, or the first `shown` and how many more."""
    if not ids:
        return "none (a provider's own models are listed at GET /v1/models, and `<provider>/<model>` always works)"
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
