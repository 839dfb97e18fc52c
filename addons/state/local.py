"""The default shared state: in this process, and for tokens the file store shared by the processes of one
host (atomic durable writes, an `flock` on `<store>.lock`: addons/credentials/token_file.py)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from addons.credentials.token_file import TokenFile, TokenSet, locked
from addons.state.store import Fence


class LocalPoolState:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._turn = 0

    def until(self, key: str) -> float:
        return self._until.get(key, 0.0)

    def rest(self, key: str, until: float, seconds: float) -> None:
        self._until[key] = until

    def next_turn(self) -> int:
        turn = self._turn
        self._turn += 1
        return turn

    async def shared_turn(self) -> int:
        return self.next_turn()


class FileTokenStore:
    """A token file: read inside the flock every time (another process may have rotated the token)."""

    def __init__(self, file: TokenFile) -> None:
        self.file = file

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Fence]:
        with_lock = locked(self.file.path)
        await asyncio.to_thread(with_lock.__enter__)  # other processes: wait for theirs to finish
        try:
            yield None
        finally:
            with_lock.__exit__(None, None, None)

    async def read(self, fence: Fence) -> TokenSet | None:
        return self.file.read()

    async def write(self, tokens: TokenSet, fence: Fence) -> TokenSet:
        self.file.write(tokens)  # durable before the new access token is used anywhere
        return tokens


class LocalState:
    kind = "local"
    items = None  # each process keeps its own output items (addons/output_items.py)

    def pool(self, scope: str) -> LocalPoolState:
        return LocalPoolState()

    def tokens(self, name: str, file: TokenFile) -> FileTokenStore:
        return FileTokenStore(file)

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
