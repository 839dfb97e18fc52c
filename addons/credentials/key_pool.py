"""Several keys per provider: round robin over the keys not cooling down.

A key the upstream answered 401, 403 or 429 cools down for the provider's
`key_cooldown_seconds`; when every key is cooling, the client is told so,
with the time until the first comes back, rather than sent upstream to fail.

Cool-downs and the turn live in a `PoolState` (addons/state/store.py): this
process's by default, every worker's with `[state] redis_url`. Reading them
costs no network round trip; only a call without a conversation name (no
session affinity) waits for the shared turn (one Redis INCR).
"""

from __future__ import annotations

import time
import zlib
from typing import Callable

from addons.state.local import LocalPoolState
from addons.state.store import PoolState
from transforms.errors import BridgeError

COOLING_STATUSES = frozenset({401, 403, 429})


class KeyPool:
    def __init__(self, provider: str, keys: list[str], cooldown: float, clock: Callable[[], float] = time.monotonic,
                 state: PoolState | None = None) -> None:
        self.provider = provider
        self._keys = keys
        self._cooldown = cooldown
        self._clock = clock  # (a shared state's mirror is on time.monotonic)
        self._state = state if state is not None else LocalPoolState()

    def owns(self, key: str | None) -> bool:
        return key is not None and key in self._keys

    def take(self, affinity: str | None = None) -> str | None:
        """The next usable key (None when the provider has none). With `affinity` (a conversation's name), the
        key that name hashes to while it is usable, else the next usable one after it: every turn of one
        conversation goes with one key, which keeps its prompt cache warm, and the same in every process."""
        return self._pick(affinity, None)

    async def take_shared(self, affinity: str | None = None) -> str | None:
        """`take`, the round robin's turn counted by every worker sharing the pool's state."""
        turn = await self._state.shared_turn() if affinity is None and len(self._keys) > 1 else None
        return self._pick(affinity, turn)

    def _pick(self, affinity: str | None, turn: int | None) -> str | None:
        if not self._keys:
            return None
        now = self._clock()
        start = zlib.crc32(affinity.encode()) if affinity is not None else turn
        for n in range(len(self._keys)):
            if start is not None:
                key = self._keys[(start + n) % len(self._keys)]
            else:
                key = self._keys[self._state.next_turn() % len(self._keys)]
            if self._state.until(key) <= now:
                return key
        wait = max(1, int(min(self._state.until(key) for key in self._keys) - now + 0.999))
        raise BridgeError(
            "rate_limit",
            f"All {len(self._keys)} keys of provider '{self.provider}' are cooling down after 401/403/429 answers; "
            f"retry in {wait} s.",
            retry_after=str(wait),
        )

    def peek(self) -> str | None:
        """A usable key without moving the round robin on (for the bridge's own rare calls: model lists)."""
        now = self._clock()
        usable = [key for key in self._keys if self._state.until(key) <= now]
        return usable[0] if usable else (self._keys[0] if self._keys else None)

    def report(self, key: str | None, status: int) -> None:
        """The upstream's answer to a request made with `key`."""
        if key is not None and status in COOLING_STATUSES and len(self._keys) > 1:
            self._state.rest(key, self._clock() + self._cooldown, self._cooldown)

    def cooling(self) -> int:
        now = self._clock()
        return sum(1 for key in self._keys if self._state.until(key) > now)
