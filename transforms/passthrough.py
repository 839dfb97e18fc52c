"""Same protocol on both sides: the client's body goes up as it is, but for the model name."""

from __future__ import annotations

import orjson


def with_model(body: dict, *, upstream_model: str) -> bytes:
    return orjson.dumps({**body, "model": upstream_model})
