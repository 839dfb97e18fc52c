"""Anthropic client to an Anthropic upstream: no translation. Only `model`
changes; the client's beta and version headers travel with the body."""

from __future__ import annotations

import orjson

# client headers an Anthropic upstream must see to honour the request as sent
FORWARDED_CLIENT_HEADERS = ("anthropic-beta", "anthropic-version")


def passthrough_request(body: dict, *, upstream_model: str) -> bytes:
    return orjson.dumps({**body, "model": upstream_model})
