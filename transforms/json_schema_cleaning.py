"""Tool `parameters` schemas cleaned of the JSON Schema keywords strict upstreams reject.

OpenAI clients (Claude Code, MCP servers, pydantic) send full JSON Schema; Gemini's OpenAI
endpoint, Vertex and some vLLM/Groq models accept only an OpenAPI-3.0-like subset and answer
400 to the rest. `clean_tool_schema` returns a cleaned copy at one of two levels.

"strict" removes, at every schema position:
  - `$schema`, `$id`, `$anchor`, `$dynamicAnchor`, `$vocabulary`, `$comment`: meta-schema
    identifiers and comments; they never constrain a value and are unknown to OpenAPI 3.0.
  - `additionalProperties`, `unevaluatedProperties`, `propertyNames`, `patternProperties`:
    object-key constraints Gemini/Vertex reject ("Unknown name ... Cannot find field").
  - `uniqueItems`, `unevaluatedItems`, `contentEncoding`, `contentMediaType`, `contentSchema`:
    array and content constraints outside the subset.
  - `examples`, `deprecated`, `readOnly`, `writeOnly`, `enumDescriptions`,
    `markdownDescription`: annotations (the last two are VS Code's) the model does not need.
  - `const`: rewritten as a one-value `enum`, which every upstream accepts.
  - `default`: dropped, and when it renders in at most 80 characters it is appended to the
    description ("(default: false)") so the model still knows what omitting the field means.
  - `format` unless the pair is in `ALLOWED_FORMATS` (string: date-time, enum; integer: int32,
    int64; number: float, double; the formats Gemini/Vertex document). A dropped format is
    appended to the description ("(format: uri)"): it is a useful hint, not a constraint.
  Everything else (including `$ref`/`$defs`) is kept, only cleaned inside.

"gemini" additionally targets Gemini's Schema object, which has no references, no boolean
schemas, no tuples and one type per schema:
  - inlines local `$ref`s (`#/$defs/...`, `#/definitions/...`, any `#/...` pointer); a ref that
    recurses, or that cannot be resolved, becomes `{"type": "object"}` with its description;
  - folds `allOf` branches into their parent, reads `oneOf` as `anyOf`, turns a tuple
    (`prefixItems` / list-form `items`) into `items` (one schema, or an `anyOf` of them);
  - collapses `type: [T, "null"]` and `anyOf: [T, {"type": "null"}]` into `T` plus
    `nullable: true`; several non-null types become an `anyOf` of single types; a `null`
    enum member likewise becomes `nullable: true`;
  - keeps only the keywords of Gemini's Schema (`GEMINI_KEPT_KEYWORDS`): this also drops
    `$ref`, `$defs`, `definitions`, `not`, `if`/`then`/`else`, `title` (peers strip it and it
    only costs tokens), `exclusiveMinimum`, `multipleOf` and vendor `x-*` keys;
  - drops boolean subschemas `false` (that property or branch can never be supplied) and
    reads `true` as `{}`;
  - removes `required` / `propertyOrdering` names with no matching property (Gemini 400s on
    them) and leaves out `required` when it ends up empty;
  - removes an empty nested `properties` (older Gemini models answer "properties: should be
    non-empty for OBJECT type"), but the top level is always
    `{"type": "object", "properties": {...}, ...}`, as the parameters of a tool must be an
    OBJECT schema; a None or empty schema becomes `{"type": "object", "properties": {}}`.

Keys of `properties`, `$defs`, `patternProperties` are names chosen by the tool author and are
never treated as keywords; values of data keywords (`enum`, `const`, `default`, `required`,
...) are copied, never walked. The function works on one schema only: it must never be
given a request or tool-call arguments, where keyword-looking keys are user data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import unquote

import orjson

SchemaLevel = Literal["strict", "gemini"]

STRICT_REMOVED_KEYWORDS: Final = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "additionalProperties",
        "unevaluatedProperties",
        "propertyNames",
        "patternProperties",
        "uniqueItems",
        "unevaluatedItems",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "enumDescriptions",
        "markdownDescription",
        "const",  # rewritten as enum
        "default",  # moved into the description
    }
)

ALLOWED_FORMATS: Final = {
    "string": frozenset({"date-time", "enum"}),
    "integer": frozenset({"int32", "int64"}),
    "number": frozenset({"float", "double"}),
}

GEMINI_KEPT_KEYWORDS: Final = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "items",
        "properties",
        "required",
        "propertyOrdering",
        "anyOf",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minProperties",
        "maxProperties",
    }
)

# Read by the gemini level and rewritten into kept keywords, so they must survive the walk.
_GEMINI_FOLDED: Final = frozenset({"allOf", "oneOf", "prefixItems"})

# Where subschemas live: a single schema, a list of schemas, or a map from names to schemas.
_SCHEMA_VALUED: Final = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "propertyNames",
        "contains",
        "not",
        "if",
        "then",
        "else",
        "contentSchema",
    }
)
_SCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_SCHEMA_MAPS: Final = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)

_MAX_HINT_CHARS: Final = 80
_DROP: Final = object()  # a subschema that has no place in the output


def clean_tool_schema(schema: dict | None, *, level: SchemaLevel = "strict") -> dict:
    """A copy of `schema` without the keywords strict upstreams reject. Never mutates the input."""
    if level not in ("strict", "gemini"):
        raise ValueError(f"unknown schema cleaning level: {level!r}")
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    try:
        return _clean_node(schema, _Pass(level, schema), (), is_root=True)
    except RecursionError:
        # Hundreds of levels are far beyond any real tool; the caller can answer 400, not crash.
        raise ValueError("tool schema is nested too deeply to clean") from None


@dataclass(frozen=True, slots=True)
class _Pass:
    level: SchemaLevel
    root: dict  # the untouched input, which `$ref` pointers resolve against

    @property
    def gemini(self) -> bool:
        return self.level == "gemini"

    def keeps(self, keyword: str) -> bool:
        if keyword in STRICT_REMOVED_KEYWORDS:
            return False
        return not self.gemini or keyword in GEMINI_KEPT_KEYWORDS or keyword in _GEMINI_FOLDED


def _clean_node(node: dict, ctx: _Pass, expanding: tuple[str, ...], *, is_root: bool = False) -> dict:
    if ctx.gemini:
        node, expanding = _inline_ref(node, ctx, expanding)
    out: dict[str, Any] = {}
    for keyword, value in node.items():
        if ctx.keeps(keyword):
            cleaned = _clean_keyword_value(keyword, value, ctx, expanding)
            if cleaned is not _DROP:
                out[keyword] = cleaned
    _rewrite_const(node, out)
    _hint_default(node, out)
    if ctx.gemini:
        _shape_for_gemini(out)
        if is_root:
            out = _as_object_root(out)
    # Last, so the check sees the type a gemini union collapse or the root rule settled on.
    _restrict_format(out)
    return out


def _clean_keyword_value(keyword: str, value: Any, ctx: _Pass, expanding: tuple[str, ...]) -> Any:
    if keyword in _SCHEMA_MAPS and isinstance(value, dict):
        # Keys here are property / definition names, never keywords: copied as they are.
        cleaned_map = {name: _clean_subschema(sub, ctx, expanding) for name, sub in value.items()}
        return {name: sub for name, sub in cleaned_map.items() if sub is not _DROP}
    if keyword in _SCHEMA_LISTS and isinstance(value, list):
        cleaned_list = [_clean_subschema(sub, ctx, expanding) for sub in value]
        return [sub for sub in cleaned_list if sub is not _DROP]
    if keyword in _SCHEMA_VALUED:
        return _clean_subschema(value, ctx, expanding)
    return _copy_json(value)  # data: enum members, required names, descriptions...


def _clean_subschema(value: Any, ctx: _Pass, expanding: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return _clean_node(value, ctx, expanding)
    if isinstance(value, bool) and ctx.gemini:
        # Gemini has no boolean schemas: `true` allows anything, `false` nothing at all.
        return {} if value else _DROP
    return _copy_json(value)  # boolean schemas stay at "strict"; lists of names under `dependencies`


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


# --- strict rewrites -------------------------------------------------------------------------


def _rewrite_const(node: dict, out: dict) -> None:
    if "const" in node:
        # A one-value enum says the same thing; const is the tighter constraint, so it wins over an enum.
        out["enum"] = [_copy_json(node["const"])]


def _hint_default(node: dict, out: dict) -> None:
    if "default" in node:
        rendered = _render_hint_value(node["default"])
        if rendered is not None:
            _append_hint(out, f"default: {rendered}")


def _restrict_format(out: dict) -> None:
    if "format" not in out:
        return
    fmt = out["format"]
    if isinstance(fmt, str) and fmt in ALLOWED_FORMATS.get(_single_type(out.get("type")), ()):
        return
    del out["format"]
    if isinstance(fmt, str):
        _append_hint(out, f"format: {fmt}")


def _single_type(type_value: Any) -> str | None:
    """The one non-null type a schema declares, if it declares exactly one."""
    if isinstance(type_value, str):
        return type_value
    if isinstance(type_value, list):
        non_null = {t for t in type_value if isinstance(t, str) and t != "null"}
        if len(non_null) == 1:
            return non_null.pop()
    return None


def _render_hint_value(value: Any) -> str | None:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: not JSON (e.g. an int beyond 64 bits)
        return None
    return text if len(text) <= _MAX_HINT_CHARS else None


def _append_hint(out: dict, hint: str) -> None:
    description = out.get("description")
    if description is None or description == "":
        out["description"] = hint[0].upper() + hint[1:]
    elif isinstance(description, str):
        out["description"] = f"{description} ({hint})"
    # A non-string description is the author's odd choice: left as it is, without the hint.


# --- gemini: references ----------------------------------------------------------------------


def _inline_ref(node: dict, ctx: _Pass, expanding: tuple[str, ...]) -> tuple[dict, tuple[str, ...]]:
    """`node` with its `$ref` replaced by the target, the ref's siblings winning over the target's keys.

    `expanding` holds the refs being inlined on the path from the root, so a recursive schema
    stops at its second visit instead of expanding forever.
    """
    while isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        target = _resolve_pointer(ctx.root, ref)
        if ref in expanding or not isinstance(target, dict):
            return _ref_placeholder(node, target), expanding
        expanding = (*expanding, ref)
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        node = {**target, **siblings}
    return node, expanding


def _resolve_pointer(root: dict, ref: str) -> Any:
    """The value a local JSON pointer names; None when external (a pure library fetches nothing) or absent."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment == "":
        return root
    if not fragment.startswith("/"):
        return None  # a named anchor: `$anchor` is among the removed keywords
    current: Any = root
    for token in fragment[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isascii() and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return None
    return current


def _ref_placeholder(node: dict, target: Any) -> dict:
    placeholder: dict[str, Any] = {"type": "object"}
    description = node.get("description")
    if not isinstance(description, str) and isinstance(target, dict):
        description = target.get("description")
    if isinstance(description, str):
        placeholder["description"] = description
    return placeholder


# --- gemini: shape -----------------------------------------------------------------------------


def _shape_for_gemini(out: dict) -> None:
    """Rewrite a node whose subschemas are already clean into Gemini's Schema shape."""
    _fold_all_of(out)
    _fold_tuple(out)
    _read_one_of_as_any_of(out)
    _collapse_null_union(out)
    _collapse_type_list(out)
    _null_enum_member_as_nullable(out)
    _prune_property_names(out, "required")
    _prune_property_names(out, "propertyOrdering")
    if out.get("properties") == {}:
        del out["properties"]


def _finish_synthesized(out: dict) -> dict:
    """A node built here from clean parts, given the same final touches as a walked one."""
    _shape_for_gemini(out)
    _restrict_format(out)
    return out


def _merge_branch(out: dict, branch: dict) -> None:
    """Fold `branch` into `out`: `out`'s keys win, except properties and required, which combine."""
    for keyword, value in branch.items():
        current = out.get(keyword)
        if keyword == "properties" and isinstance(value, dict) and isinstance(current, dict):
            out[keyword] = {**current, **{name: sub for name, sub in value.items() if name not in current}}
        elif keyword == "required" and isinstance(value, list) and isinstance(current, list):
            out[keyword] = current + [name for name in value if name not in current]
        else:
            out.setdefault(keyword, value)


def _fold_all_of(out: dict) -> None:
    # Gemini has no intersection; for the object mixins allOf is used for, the merge is exact.
    branches = out.pop("allOf", None)
    if isinstance(branches, list):
        for branch in branches:
            if isinstance(branch, dict):
                _merge_branch(out, branch)


def _fold_tuple(out: dict) -> None:
    # Gemini has no tuples: "an array of any of these" keeps the item shapes in front of the model.
    prefix_items = out.pop("prefixItems", None)
    items = out.get("items")
    if isinstance(items, list):
        del out["items"]
        tuple_schemas = items
    elif isinstance(prefix_items, list) and not isinstance(items, dict):
        tuple_schemas = prefix_items
    else:
        return
    schemas = [schema for schema in tuple_schemas if isinstance(schema, dict)]
    if len(schemas) == 1:
        out["items"] = schemas[0]
    elif schemas:
        out["items"] = _finish_synthesized({"anyOf": schemas})


def _read_one_of_as_any_of(out: dict) -> None:
    # Exclusivity rarely matters to a model filling in arguments; Gemini only has anyOf.
    one_of = out.pop("oneOf", None)
    if isinstance(one_of, list) and "anyOf" not in out:
        out["anyOf"] = one_of


def _collapse_null_union(out: dict) -> None:
    branches = out.get("anyOf")
    if not isinstance(branches, list):
        return
    schemas = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
    has_null = any(isinstance(b, dict) and b.get("type") == "null" for b in branches)
    if len(schemas) > 1:
        out["anyOf"] = [{**schema, "nullable": True} for schema in schemas] if has_null else schemas
        return
    del out["anyOf"]
    if schemas:
        _merge_branch(out, schemas[0])
    if has_null:
        out["nullable"] = True


def _collapse_type_list(out: dict) -> None:
    types = out.get("type")
    if not isinstance(types, list):
        return
    names = list(dict.fromkeys(t for t in types if isinstance(t, str)))
    non_null = [name for name in names if name != "null"]
    has_null = "null" in names
    if len(non_null) > 1:
        del out["type"]
        if "anyOf" not in out:
            nullable = {"nullable": True} if has_null else {}
            out["anyOf"] = [{"type": name, **nullable} for name in non_null]
            return
    elif non_null:
        out["type"] = non_null[0]
    elif has_null:
        out["type"] = "null"
    else:
        del out["type"]
    if has_null and out.get("type") != "null":
        out["nullable"] = True


def _null_enum_member_as_nullable(out: dict) -> None:
    # Gemini's enum holds strings only; a null member is what `nullable` is for.
    members = out.get("enum")
    if not isinstance(members, list) or None not in members:
        return
    non_null = [member for member in members if member is not None]
    if non_null:
        out["enum"] = non_null
    else:
        del out["enum"]
    if out.get("type") != "null":
        out["nullable"] = True


def _prune_property_names(out: dict, keyword: str) -> None:
    # Gemini rejects names with no property behind them, and an empty list says nothing.
    if keyword not in out:
        return
    properties = out.get("properties")
    known = properties if isinstance(properties, dict) else {}
    names = out[keyword] if isinstance(out[keyword], list) else []
    pruned = list(dict.fromkeys(name for name in names if isinstance(name, str) and name in known))
    if pruned:
        out[keyword] = pruned
    else:
        del out[keyword]


def _as_object_root(out: dict) -> dict:
    # A tool's parameters must be an OBJECT schema ("parameters schema should be of type OBJECT").
    properties = out.get("properties")
    rest = {key: value for key, value in out.items() if key not in ("type", "properties", "nullable")}
    return {"type": "object", "properties": properties if isinstance(properties, dict) else {}, **rest}
