"""The output items of recent answers to Responses clients, for their `item_reference`s.

A bounded in-memory store, not ids that carry their items: an assistant message or a reasoning item can be
any size, and clients and upstreams keep ids short. Per process (issue 16 shares it across workers); an
item is kept for an hour, and the oldest go first beyond `MAX_ITEMS`. A reference to an item no longer held
is a 400 naming its id (transforms/openai_responses/item_references.py).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

MAX_ITEMS = 20_000
KEEP_S = 3600.0


class OutputItems:
    def __init__(self, max_items: int = MAX_ITEMS, keep_s: float = KEEP_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._items: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._max, self._keep, self._clock = max_items, keep_s, clock

    def remember(self, items: list[dict]) -> None:
        until = self._clock() + self._keep
        for item in items:
            self._items[item["id"]] = (until, item)
            self._items.move_to_end(item["id"])
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def get(self, item_id: str) -> dict | None:
        held = self._items.get(item_id)
        if held is None:
            return None
        if held[0] < self._clock():
            del self._items[item_id]
            return None
        return held[1]
