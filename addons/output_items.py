"""The output items of recent answers to Responses clients, for their `item_reference`s.

A bounded in-memory store, not ids that carry their items: an assistant message or a reasoning item can be
any size, and clients and upstreams keep ids short. An item is kept for an hour, and the oldest go first
beyond `MAX_ITEMS`. A reference to an item no longer held is a 400 naming its id
(transforms/openai_responses/item_references.py).

Shared by the workers when the state is Redis (`SharedState.items`): each item remembered here is also sent
there (in the background, with the same hour), and a request naming an item this process does not hold asks
for it there once (one `MGET`, bounded like every Redis read a request waits for), so a client whose turns
land on different workers still finds its items. A request whose references are all held here waits for
nothing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

from addons.state.store import ItemStore

MAX_ITEMS = 20_000
KEEP_S = 3600.0


class OutputItems:
    def __init__(self, max_items: int = MAX_ITEMS, keep_s: float = KEEP_S,
                 clock: Callable[[], float] = time.monotonic,
                 shared: Callable[[], ItemStore | None] = lambda: None) -> None:
        self._items: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._max, self._keep, self._clock = max_items, keep_s, clock
        self._shared = shared  # the workers' store, when there is one (the settings may change it)

    def remember(self, items: list[dict]) -> None:
        self._hold(items)
        shared = self._shared()
        if shared is not None and items:
            shared.put(items, self._keep)

    async def load(self, ids: list[str]) -> None:
        """Fetch from the workers' store the items named in `ids` that this process does not hold."""
        missing = [item_id for item_id in ids if self.get(item_id) is None]
        shared = self._shared() if missing else None
        if shared is not None:
            self._hold(list((await shared.get(missing)).values()))

    def get(self, item_id: str) -> dict | None:
        held = self._items.get(item_id)
        if held is None:
            return None
        if held[0] < self._clock():
            del self._items[item_id]
            return None
        return held[1]

    def _hold(self, items: list[dict]) -> None:
        until = self._clock() + self._keep
        for item in items:
            self._items[item["id"]] = (until, item)
            self._items.move_to_end(item["id"])
        while len(self._items) > self._max:
            self._items.popitem(last=False)
