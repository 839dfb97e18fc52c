"""`item_reference` input items: a Responses client (the Vercel AI SDK with its default `store: true`) refers
to an output item of an earlier answer by its id instead of sending it again.

The bridge keeps the output items it minted (addons/output_items.py) and puts each referenced item back in
place before the request is read; what it does not hold stays a reference, which a Responses upstream
resolves itself (it minted those ids) and any other upstream cannot: `unresolved` names it for a 400.
"""

from __future__ import annotations

from typing import Callable

import orjson

from transforms.errors import invalid


def referenced_ids(body: dict) -> list[str]:
    """The ids the body's `item_reference`s name, in order."""
    items = body.get("input")
    return [item["id"] for item in items if _is_reference(item) and isinstance(item.get("id"), str)] \
        if isinstance(items, list) else []


def resolve_item_references(body: dict, lookup: Callable[[str], dict | None]) -> dict:
    """`body` with every `item_reference` whose item `lookup` knows replaced by that item."""
    items = body.get("input")
    if not isinstance(items, list) or not any(_is_reference(item) for item in items):
        return body
    resolved = []
    for item in items:
        if _is_reference(item):
            held = lookup(item["id"]) if isinstance(item.get("id"), str) else None
            resolved.append(held if held is not None else item)
        else:
            resolved.append(item)
    return {**body, "input": resolved}


def unresolved(body: dict) -> None:
    """A 400 naming the first reference left: an upstream of another protocol has no such item."""
    items = body.get("input")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if _is_reference(item):
            raise invalid(
                f"Invalid 'input[{i}].id': the item_reference {item.get('id')!r} names an output item this bridge "
                "does not hold (it keeps the items of its recent answers for an hour: in this process, or shared by "
                "its workers through Redis). Send the "
                "item itself, or set store: false so the client does.", f"input[{i}].id")


def _is_reference(item: object) -> bool:
    return isinstance(item, dict) and item.get("type") == "item_reference"


def output_items(answer: object) -> list[dict]:
    """The output items of an answer the bridge sent a Responses client: a whole answer's body (bytes) or a
    finished stream's encoder (its `output_items`)."""
    if isinstance(answer, (bytes, bytearray)):
        try:
            output = orjson.loads(answer).get("output")
        except (orjson.JSONDecodeError, AttributeError):
            return []
    else:
        output = getattr(answer, "output_items", None)
    return [item for item in output or () if isinstance(item, dict) and isinstance(item.get("id"), str)]
