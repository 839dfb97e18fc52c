"""The `bridge_config` option: loads bridge.toml (or the standard env vars) into a router."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from mitmproxy import ctx, exceptions

from addons.config import BridgeConfig, ConfigError, config_from_env, load_config
from addons.credentials.registry import build_credentials
from addons.credentials.key_pool import KeyPool
from addons.state.local import LocalState
from addons.state.redis_store import RedisState
from addons.state.store import SharedState, pool_scope
from addons.upstream.retry_policy import RetryPolicy
from addons.model_router import ModelRouter
from addons.upstream.relay import UpstreamTimeouts

log = logging.getLogger(__name__)

DEFAULT_CONFIG_FILE = "bridge.toml"


class BridgeSettings:
    def __init__(self, http_client=None, on_refreshed=lambda provider: None) -> None:
        self.config = BridgeConfig()
        self.router = ModelRouter(self.config)
        self.key_pools: dict[str, KeyPool] = {}
        self.credentials: dict = {}  # provider name -> OAuthCredential (refresh-token providers)
        self.state: SharedState = LocalState()  # what the workers share ([state] redis_url: Redis)
        self._closing: set[asyncio.Task] = set()
        self.retry_policy = RetryPolicy()
        self.timeout = UpstreamTimeouts()  # the bounds of every upstream call the relay makes
        self._http_client = http_client  # () -> httpx.AsyncClient, for token refreshes
        self._on_refreshed = on_refreshed  # (provider) -> None, after each refresh (the metrics)
        self.source = "nothing"
        self._running = False

    def running(self) -> None:
        self._running = True
        self.state.start()

    async def done(self) -> None:
        await self.state.close()

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
        state = self._state_for(config)
        try:
            credentials = build_credentials(config, self._http_client, state, self._on_refreshed)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"credentials: {exc}") from None
        if state is not self.state:
            self._replace_state(state)
        self.config = config
        self.router = ModelRouter(config)
        self.key_pools = {p.name: KeyPool(p.name, p.keys, p.key_cooldown_seconds,
                                          state=self.state.pool(pool_scope("provider", p.name, p.keys)))
                          for p in config.providers}
        self.credentials = credentials
        retries = config.retries
        self.retry_policy = RetryPolicy(retries.attempts, retries.max_retry_after_seconds,
                                        retries.backoff_initial_seconds, retries.backoff_max_seconds)
        self.timeout = UpstreamTimeouts(retries.connect_timeout_seconds, retries.read_timeout_seconds,
                                        retries.idle_timeout_seconds)
        self.source = source
        names = ", ".join(f"{p.name} ({p.protocol})" for p in config.providers) or "none"
        log.info(f"llm-bridge: providers from {source}: {names}; models: {_listed([m.id for m in config.models])}")

    def _state_for(self, config: BridgeConfig) -> SharedState:
        # LLM_BRIDGE_REDIS_URL: how a launcher of several workers (the cluster command) hands them its Redis
        url = config.state.redis_url or os.environ.get("LLM_BRIDGE_REDIS_URL") or None
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("LLM_BRIDGE_REDIS_URL: write redis://host:port[/db], rediss://... or unix:///path")
        if url == getattr(self.state, "url", None):
            return self.state
        return RedisState(url) if url else LocalState()

    def _replace_state(self, state: SharedState) -> None:
        old, self.state = self.state, state
        where = f"Redis at {state.where}" if isinstance(state, RedisState) else "this process (and the credentials file)"
        log.info(f"llm-bridge: shared state: {where}")
        if self._running:
            state.start()
            with contextlib.suppress(RuntimeError):
                self._closing.add(asyncio.get_running_loop().create_task(old.close()))  # (kept until done)


def _listed(ids: list[str], shown: int = 24) -> str:
    """The model ids a start-up line names: all of them, or the first `shown` and how many more."""
    if not ids:
        return "none (a provider's own models are listed at GET /v1/models, and `<provider>/<model>` always works)"
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
