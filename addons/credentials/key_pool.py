"""Several keys per provider: round robin over the keys not cooling down.

A key the upstream answered 401, 403 or 429 cools down for the provider's
`key_cooldown_seconds`; when every key is cooling, the client is told so,
with the time until the first comes back, rather than sent upstream to fail.
"""

from __future__ import annotations

import time
import zlib
from typing import Callable

from transforms.errors import BridgeError

COOLING_STATUSES = frozenset({401, 403, 429})


class KeyPool:
    def __init__(self, provider: str, keys: list[str], cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self._keys = keys
        self._cooldown = cooldown
        self._clock = clock
        self._next = 0
        self._cooling_until: dict[str, float] = {}

    def owns(self, key: str | None) -> bool:
        return key is not None and key in self._keys

    def take(self, affinity: str | None = None) -> str | None:
        """The next usable key (None when the provider has none). With `affinity` (a conversation's name), the
        key that name hashes to while it is usable, else the next usable one after it: every turn of one
        conversation goes with one key, which keeps its prompt cache warm, and the same in every process."""
        if not self._keys:
            return None
        now = self._clock()
        start = zlib.crc32(affinity.encode()) if affinity is not None else None
        for n in range(len(self._keys)):
            if start is not None:
                key = self._keys[(start + n) % len(self._keys)]
            else:
                key = self._keys[self._next % len(self._keys)]
                self._next += 1
            if self._cooling_until.get(key, 0.0) <= now:
                return key
        wait = max(1, int(min(self._cooling_until.values()) - now + 0.999))
        raise BridgeError(
            "rate_limit",
            f"All {len(self._keys)} keys of provider '{self.provider}' are cooling down after 401/403/429 answers; "
            f"retry in {wait} s.",
            retry_after=str(wait),
        )

    def peek(self) -> str | None:
        """A usable key without moving the round robin on (for the bridge's own rare calls: model lists)."""
        now = self._clock()
        usable = [key for key in self._keys if self._cooling_until.get(key, 0.0) <= now]
        return usable[0] if usable else (self._keys[0] if self._keys else None)

    def report(self, key: str | None, status: int) -> None:
        """The upstream's answer to a request made with `key`."""
        if key is not None and status in COOLING_STATUSES and len(self._keys) > 1:
            self._cooling_until[key] = self._clock() + self._cooldown

    def cooling(self) -> int:
        now = self._clock()
        return sum(1 for until in self._cooling_until.values() if until > now)
