"""Anthropic client to an Anthropic upstream: no translation. Only `model` changes
(transforms.passthrough.with_model); the client's beta and version headers travel with the body."""

from __future__ import annotations

# client headers an Anthropic upstream must see to honour the request as sent
FORWARDED_CLIENT_HEADERS = ("anthropic-beta", "anthropic-version")
