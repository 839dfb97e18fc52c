"""A provider's credential: one object per provider behind one small interface.

The sender (`addons/upstream/relay.py`) asks it, per call and per attempt:

    await first_key()        the secret the call starts with (a pool's next key, a fresh access token ...)
    headers(key)             how the secret is presented (Authorization, x-api-key, api-key, a preset's set)
    sign(...)                headers signed over the exact request (AWS SigV4), else nothing
    refreshes                whether a 401 is worth one `await after_rejection(key)` and a retry
    report(key, status)      the upstream's answer to that key (a pool rests keys answered 401/403/429)
    next_key(key)            the key for the next attempt after a 429 or 5xx

so the sender never knows which kind it holds: a fixed key, the client's own
key, a key pool or a refresh token (Factory, Trae, WorkOS), each presented
as its provider wants and, for AWS providers, signed with SigV4.
The credential is never in the flow: mitmweb, `-w` files and recordings see
only `headers(None)`, the presentation without a secret.
"""

from __future__ import annotations

from typing import Callable, Mapping

from addons.config import ProviderConfig
from addons.credentials.key_headers import CredentialHeaders, credential_headers, signer
from addons.credentials.key_pool import KeyPool
from addons.guards.client_auth import presented_token
from addons.presets import preset_module
from transforms.codecs import UPSTREAM_CODECS
from transforms.errors import BridgeError

Signer = Callable[[str, str, list[tuple[bytes, bytes]], bytes], dict[str, str]]


class Credential:
    """A fixed key (or none): what the provider was configured with, or what the client sent."""

    refreshes = False
    signer: Signer | None = None  # AWS providers: SigV4 over each attempt, whatever the key's source

    def __init__(self, present: CredentialHeaders, key: str | None = None) -> None:
        self.headers = present
        self._key = key

    async def first_key(self) -> str | None:
        return self._key

    def sign(self, method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, str]:
        return {} if self.signer is None else self.signer(method, url, headers, body)

    async def after_rejection(self, key: str | None) -> str | None:
        return None

    def report(self, key: str | None, status: int) -> None:
        pass

    def next_key(self, key: str | None) -> str | None:
        return key


class PooledKeys(Credential):
    """Round robin over a provider's keys; a key answered 401/403/429 rests (addons/credentials/key_pool.py).
    `rotate=False`: the bridge's own rare calls (model lists) take a usable key without moving the turn on,
    and rest none."""

    def __init__(self, present: CredentialHeaders, pool: KeyPool, rotate: bool = True, affinity: str | None = None) -> None:
        super().__init__(present)
        self.pool = pool
        self._rotate = rotate
        self._affinity = affinity  # the conversation's name: its turns go with one key while it is usable

    async def first_key(self) -> str | None:
        # every key resting: a 429, nothing sent
        return await self.pool.take_shared(self._affinity) if self._rotate else self.pool.peek()

    def report(self, key: str | None, status: int) -> None:
        if self._rotate:  # (a key a list endpoint refuses may still serve chat: the bridge's own calls rest none)
            self.pool.report(key, status)

    def next_key(self, key: str | None) -> str | None:
        try:
            return self.pool.take(self._affinity)
        except BridgeError:  # every key rests: the same one again, after the pause
            return key


class RefreshedToken(Credential):
    """An access token from a refresh token (addons/credentials/oauth.py): refreshed when due, and once after a 401."""

    refreshes = True

    def __init__(self, present: CredentialHeaders, source) -> None:
        super().__init__(present)
        self.source = source  # OAuthCredential

    async def first_key(self) -> str | None:
        return await self.source.token()  # a failed refresh is the client's 401/503, nothing sent

    async def after_rejection(self, key: str | None) -> str | None:
        return await self.source.after_rejection(key)


def presentation(provider: ProviderConfig, protocol: str) -> CredentialHeaders:
    """How the provider's secret is presented on `protocol`: its preset's way, else its auth type's."""
    preset = preset_module(provider.preset)
    if preset is not None and hasattr(preset, "credential_headers"):
        return lambda key: preset.credential_headers(protocol, key)
    return credential_headers(provider, UPSTREAM_CODECS[protocol])


def credential_for(provider: ProviderConfig, protocol: str, *, refreshed: Mapping[str, object],
                   pools: Mapping[str, KeyPool], client_headers: Mapping[str, str], bridge_has_tokens: bool,
                   key_pool: KeyPool | None = None, rotate: bool = True, affinity: str | None = None) -> Credential:
    """The credential a call to `provider` goes with. `key_pool`: a proxy URL's own keys, which replace the
    configured provider's credentials and pools whatever its provider is called. `affinity`: the name of the
    conversation the call belongs to (session affinity over pooled keys)."""
    credential = _key_source(provider, presentation(provider, protocol), refreshed, pools, client_headers,
                             bridge_has_tokens, key_pool, rotate, affinity)
    if provider.aws is not None:
        credential.signer = signer(provider)
    return credential


def _key_source(provider, present, refreshed, pools, client_headers, bridge_has_tokens, key_pool,
                rotate, affinity) -> Credential:
    if key_pool is not None:
        return PooledKeys(present, key_pool, rotate, affinity)
    source = refreshed.get(provider.name)
    if source is not None:
        return RefreshedToken(present, source)
    if provider.client_key:
        # the bearer token is the bridge's own when the bridge has tokens; then the key is in x-api-key
        key = (client_headers.get("x-api-key") or client_headers.get("x-goog-api-key")
               or (None if bridge_has_tokens else presented_token(client_headers)))
        return Credential(present, key)
    pool = pools.get(provider.name)
    return PooledKeys(present, pool, rotate, affinity) if pool is not None else Credential(present, provider.api_key)
