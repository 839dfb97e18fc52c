"""The credential of each provider configured with `auth` (a refresh token)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import httpx

from addons.config import BridgeConfig, ProviderConfig
from addons.credentials.oauth import OAuthCredential
from addons.credentials.token_file import FactoryAuthFile, StoreEntry, TokenSet, default_store_path, fingerprint, locked
from addons.credentials.trae_exchange import TRAE_AUTH_BASE_URL, TraeExchangeRefresher
from addons.credentials.workos import FACTORY_CLIENT_ID, WORKOS_URL, WorkOSRefresher
from addons.state.store import SharedState

WORKOS_REFRESH_BEFORE = 2 * 3600.0  # 8-hour tokens, refreshed after 6 hours (as the Factory CLI does)
TRAE_REFRESH_BEFORE = 300.0  # Trae: when under 5 minutes of life remain


def store_path(config: BridgeConfig) -> Path:
    return Path(config.credentials.store).expanduser() if config.credentials.store else default_store_path()


def build_credentials(config: BridgeConfig, http_client: Callable[[], httpx.AsyncClient],
                      state: SharedState | None = None,
                      on_refreshed: Callable[[str], None] = lambda provider: None) -> dict[str, OAuthCredential]:
    """`state`: where the tokens live and who refreshes (addons/state/); None: the file store alone.
    `on_refreshed(provider)`: after each refresh this process made (the metrics)."""
    store = store_path(config)
    return {p.name: _credential(p, store, http_client, state, on_refreshed) for p in config.providers if p.auth is not None}


def _credential(provider: ProviderConfig, store: Path, http_client, state: SharedState | None,
                on_refreshed: Callable[[str], None]) -> OAuthCredential:
    auth = provider.auth
    if auth.type == "factory-cli":
        file = FactoryAuthFile(Path(auth.file or "~/.factory/auth.json").expanduser())
        return OAuthCredential(
            provider.name, file, WorkOSRefresher(auth.token_url or WORKOS_URL, auth.client_id or FACTORY_CLIENT_ID), http_client,
            refresh_before=auth.refresh_before_seconds if auth.refresh_before_seconds is not None else WORKOS_REFRESH_BEFORE,
            login_hint=f"Log in again with the Factory CLI, which rewrites {file.path}.",
            store=state.tokens(provider.name, file) if state is not None else None, on_refreshed=on_refreshed,
        )
    entry = StoreEntry(store, provider.name)
    seed_store(entry, auth.refresh_token)
    if auth.type == "workos":
        refresher = WorkOSRefresher(auth.token_url or WORKOS_URL, auth.client_id or FACTORY_CLIENT_ID)
        before, hint = WORKOS_REFRESH_BEFORE, "Put a new refresh token in DROID_REFRESH_KEY (or auth.refresh_token) and restart."
    else:
        refresher = TraeExchangeRefresher(auth.client_id, auth.user_id, auth.token_url or TRAE_AUTH_BASE_URL)
        before, hint = TRAE_REFRESH_BEFORE, "Sign in to Trae again, put its new refresh token in TRAE_REFRESH_TOKEN (or auth.refresh_token) and restart."
    return OAuthCredential(
        provider.name, entry, refresher, http_client,
        refresh_before=auth.refresh_before_seconds if auth.refresh_before_seconds is not None else before,
        login_hint=hint, store=state.tokens(provider.name, entry) if state is not None else None,
        on_refreshed=on_refreshed,
    )


def seed_store(entry: StoreEntry, refresh_token: str) -> None:
    """The configured refresh token enters the store once. After that the store's rotated token
    is used, even though the configuration still names the old, spent one; a different token in
    the configuration (a new login) replaces the stored one."""
    seed = fingerprint(refresh_token)
    with locked(entry.path):
        if entry.seed() == seed:
            return
        entry.write(TokenSet(None, refresh_token, 0.0, None, time.time()), seed=seed)
