"""Responses reasoning travels through other client protocols as one opaque
thinking signature: `<reasoning item id>:<encrypted_content>`. Both parts are
needed to hand the reasoning back to a Responses upstream with `store: false`."""

from __future__ import annotations


def pack(item_id: str | None, encrypted: str | None) -> str | None:
    if not encrypted:
        return None
    return f"{item_id}:{encrypted}" if item_id else encrypted


def unpack(signature: str | None, item_id: str | None = None) -> tuple[str | None, str | None]:
    """(item id, encrypted content) from a signature this module packed (ids start with rs_)."""
    if not signature:
        return item_id, None
    if signature.startswith("rs_") and ":" in signature:
        packed_id, _, encrypted = signature.partition(":")
        return item_id or packed_id, encrypted
    return item_id, signature
