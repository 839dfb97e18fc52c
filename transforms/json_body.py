"""A client's JSON request body, parsed once; malformed JSON is the client's 400."""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, invalid

# orjson parses up to 1024 levels but writes at most 254; the bridge re-encodes every body it sends
MAX_DEPTH = 254


def parse_json_object(body: bytes) -> dict:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise too_deep(f"more than {MAX_DEPTH} levels deep") from None
        raise invalid(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise invalid("Request body must be a JSON object.")
    return data


def nesting(value) -> tuple[int, str]:
    """How deep `value` nests, and the path of its deepest point (`tools[0].input_schema.properties...`).
    Walked without recursion: it is called on bodies too deep for recursion."""
    deepest, deepest_path = 0, ""
    stack = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(node))
        else:
            continue
        if depth > deepest:
            deepest, deepest_path = depth, path
        stack.extend((child, depth + 1, child_path) for child_path, child in items)
    return deepest, deepest_path


def too_deep(where: str | dict) -> BridgeError:
    """The body nests deeper than the bridge can re-encode; `where`: the parsed body, or a description."""
    if isinstance(where, dict):
        depth, path = nesting(where)
        shown = path if len(path) <= 120 else path[:60] + "..." + path[-57:]
        where = f"{depth} levels deep (at {shown})"
    return invalid(f"The request body nests JSON {where}; the bridge passes on at most {MAX_DEPTH} levels.")
