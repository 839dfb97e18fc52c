"""State the bridge's workers share, behind one interface.

What is shared, and how the code that uses it sees it:

    pool(scope)          a key pool's state (addons/credentials/key_pool.py): when each key stops resting
                         (`until`, read from a local mirror: no network on the hot path), `rest` (the mirror
                         at once, the others soon after), and the round robin's turn (`next_turn` locally,
                         `await shared_turn()` one shared counter)
    tokens(name, file)   where a refresh-token credential's tokens live (addons/credentials/oauth.py):
                         `async with exclusive() as fence` one refresh at a time across every process that
                         shares the store, `await read(fence)`, `await write(tokens, fence)` which stores the
                         rotated token before anything uses it and answers what is stored (a newer token
                         wins over a stale lock holder's)

    items                the output items of recent answers to Responses clients (addons/output_items.py), or
                         None where each process keeps its own: `put(items, keep_s)` in the background,
                         `await get(ids)` the ones held

Two implementations: `local.LocalState` (in process; tokens in the file store, flock across the processes
of one host), the default; `redis_store.RedisState` when `[state] redis_url` is set (every worker on every
host). Session affinity needs none of it: it is a hash of the conversation's name (key_pool.py).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from addons.credentials.token_file import TokenSet, fingerprint

Fence = int | None  # the generation a refresh holds (Redis), None where a lock alone suffices


class PoolState(Protocol):
    def until(self, key: str) -> float:
        """When `key` stops resting, on the monotonic clock (0: usable)."""
        ...

    def rest(self, key: str, until: float, seconds: float) -> None:
        """`key` rests until `until` (monotonic), that is for `seconds`."""
        ...

    def next_turn(self) -> int:
        """The round robin's next turn, counted in this process."""
        ...

    async def shared_turn(self) -> int:
        """The round robin's next turn, counted by every worker sharing the state (else `next_turn()`)."""
        ...


class TokenStore(Protocol):
    def exclusive(self) -> AbstractAsyncContextManager[Fence]:
        """Held while a refresh reads, exchanges and writes: one at a time across the store's users."""
        ...

    async def read(self, fence: Fence) -> TokenSet | None:
        """The newest tokens stored (raises OSError/ValueError when the file store cannot be read)."""
        ...

    async def write(self, tokens: TokenSet, fence: Fence) -> TokenSet:
        """Stores rotated tokens, durably, before they are used; answers the tokens to use: `tokens`, or a
        newer set another holder stored (fencing: a stale lock holder never overwrites a newer token)."""
        ...


class ItemStore(Protocol):
    def put(self, items: list[dict], keep_s: float) -> None:
        """Keeps `items` (each with its "id") for `keep_s` seconds; returns at once (the write goes on alone)."""
        ...

    async def get(self, ids: list[str]) -> dict[str, dict]:
        """The items held among `ids`, by id ({} when the store does not answer in time)."""
        ...


class SharedState(Protocol):
    kind: str  # "local" | "redis", for log lines
    items: ItemStore | None  # None: each process keeps its own output items

    def pool(self, scope: str) -> PoolState: ...
    def tokens(self, name: str, file) -> TokenStore: ...  # file: addons.credentials.token_file.TokenFile
    def start(self) -> None: ...  # inside the event loop: background work (Redis: the cool-down listener)
    async def close(self) -> None: ...


def pool_scope(kind: str, name: str, keys: list[str]) -> str:
    """A key pool's name in shared state: its kind, its name and a fingerprint of its keys (never the keys),
    so two pools share state only when they hold the same keys."""
    return f"{kind}:{name}:{fingerprint(chr(10).join(keys))}"
