"""A client's JSON request body, parsed once; malformed JSON is the client's 400."""

from __future__ import annotations

import orjson

from transforms.errors import invalid


def parse_json_object(body: bytes) -> dict:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise invalid("Request body must be a JSON object.")
    return data
