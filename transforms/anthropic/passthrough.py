"""Anthropic client to an Anthropic upstream: no translation. Only `model` changes
(transforms.passthrough.with_model); the client's beta and version headers travel with the body."""

from __future__ import annotations

from transforms.anthropic.decode_response import decode_usage
from transforms.ir import Usage

# client headers an Anthropic upstream must see to honour the request as sent
FORWARDED_CLIENT_HEADERS = ("anthropic-beta", "anthropic-version")


def usage_of(data: dict, so_far: Usage | None) -> Usage | None:
    """A message's usage, or a stream's: message_start's (input, cache) then message_delta's (output)."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        message = data.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
    return decode_usage(usage, so_far) if isinstance(usage, dict) else None
