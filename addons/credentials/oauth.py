"""A credential that refreshes itself, shared safely by concurrent requests and processes.

The token store is the only source of truth for the refresh token: it is read
inside its lock, every time, so a token another process rotated is never
sent again, and the rotated token is stored (durably) before the new access
token is handed to any request. One refresh at a time: an asyncio lock within
the process, the store's lock across processes (addons/state/: an flock on the
file store, or a Redis lock with a fencing generation across hosts); whoever
waited finds the fresh token stored and does not refresh again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Protocol

import httpx

from addons.credentials.refresh_errors import RefreshRejected, RefreshUnavailable
from addons.credentials.token_file import TokenFile, TokenSet
from addons.state.store import TokenStore
from transforms.errors import BridgeError

log = logging.getLogger(__name__)


class Refresher(Protocol):
    service: str

    async def refresh(self, client: httpx.AsyncClient, refresh_token: str) -> TokenSet: ...


class OAuthCredential:
    def __init__(
        self,
        provider: str,
        file: TokenFile,
        refresher: Refresher,
        http_client: Callable[[], httpx.AsyncClient],
        *,
        refresh_before: float,
        login_hint: str,
        clock: Callable[[], float] = time.time,
        store: TokenStore | None = None,
        on_refreshed: Callable[[str], None] = lambda provider: None,
    ) -> None:
        self.provider = provider
        self.file = file  # named in messages; `store` reads and writes it (and Redis, when configured)
        if store is None:
            from addons.state.local import FileTokenStore
            store = FileTokenStore(file)
        self.store = store
        self.refresher = refresher
        self._http = http_client
        self.refresh_before = refresh_before  # seconds before expiry at which a token counts as due
        self.login_hint = login_hint  # how a person gets a new refresh token, for error messages
        self._clock = clock
        self._on_refreshed = on_refreshed  # the metrics: a refresh this process made at the token endpoint
        self._lock = asyncio.Lock()
        self._current: TokenSet | None = None
        self._refused: tuple[str, str] | None = None  # (refresh token, why): refused once, never presented again

    def _due(self, tokens: TokenSet | None) -> bool:
        if tokens is None or not tokens.access_token:
            return True
        return tokens.expires_at is not None and tokens.expires_at - self.refresh_before <= self._clock()

    async def token(self) -> str:
        """A usable access token, refreshed first when it expires within `refresh_before`."""
        current = self._current
        if not self._due(current):
            return current.access_token
        async with self._lock:
            if not self._due(self._current):  # refreshed while this request waited
                return self._current.access_token
            return await self._refresh(rejected=None)

    async def after_rejection(self, rejected: str) -> str | None:
        """The upstream answered 401 to `rejected`: a new token (refreshed at most once for it)."""
        async with self._lock:
            if self._current is not None and self._current.access_token != rejected and not self._due(self._current):
                return self._current.access_token
            return await self._refresh(rejected=rejected)

    async def _refresh(self, rejected: str | None) -> str:
        async with self.store.exclusive() as fence:  # other processes: wait for theirs to finish
            stored = await self._read(fence)
            if stored is not None and stored.access_token != rejected and not self._due(stored):
                self._current = stored  # another process refreshed; its token is stored
                return stored.access_token
            fresh = await self._exchange(stored)
            kept = await self.store.write(fresh, fence)  # durable before the new access token is used anywhere
            self._current = kept
            self._on_refreshed(self.provider)
            if kept is fresh:
                log.info(f"llm-bridge: refreshed the access token of provider '{self.provider}' ({self.refresher.service})")
            return kept.access_token

    async def _read(self, fence) -> TokenSet | None:
        try:
            return await self.store.read(fence)
        except (OSError, ValueError) as exc:
            raise BridgeError("api_error", f"Provider '{self.provider}': cannot read its token file: {exc}", status=503) from None

    async def _exchange(self, stored: TokenSet | None) -> TokenSet:
        if stored is None or not stored.refresh_token:
            raise BridgeError("authentication", f"Provider '{self.provider}' has no refresh token in {self.file.path}. {self.login_hint}")
        if stored.refresh_expires_at is not None and stored.refresh_expires_at <= self._clock():
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stored.refresh_expires_at))
            raise BridgeError("authentication", f"Provider '{self.provider}': its refresh token expired on {when}. {self.login_hint}")
        if self._refused is not None and self._refused[0] == stored.refresh_token:
            raise BridgeError("authentication", self._refused[1])  # (each waiting request: the same verdict)
        try:
            return await self.refresher.refresh(self._http(), stored.refresh_token)
        except RefreshRejected as exc:
            message = f"Provider '{self.provider}': {exc}. {self.login_hint}"
            self._refused = (stored.refresh_token, message)  # presenting it again could look like a stolen token
            raise BridgeError("authentication", message) from None
        except RefreshUnavailable as exc:
            raise BridgeError("overloaded", f"Provider '{self.provider}': could not refresh its access token: {exc}. Retry shortly.", status=503) from None
