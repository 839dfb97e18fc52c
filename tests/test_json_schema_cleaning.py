"""Tool schemas cleaned for strict upstreams: keywords go, names and data stay, and cleaning is a fixed point."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.json_schema_cleaning import (
    ALLOWED_FORMATS,
    GEMINI_KEPT_KEYWORDS,
    STRICT_REMOVED_KEYWORDS,
    clean_tool_schema,
)

LEVELS = ["strict", "gemini"]

# --- a walker that knows which keys are keywords, independent of the module under test ----------

SCHEMA_VALUED = {"items", "additionalItems", "additionalProperties", "unevaluatedProperties", "unevaluatedItems",
                 "propertyNames", "contains", "not", "if", "then", "else", "contentSchema"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems", "items"}
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}


def schema_nodes(schema):
    """Every dict found at a schema position, the root first."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node
        for keyword, value in node.items():
            if keyword in SCHEMA_MAPS and isinstance(value, dict):
                stack.extend(value.values())
            elif keyword in SCHEMA_LISTS and isinstance(value, list):
                stack.extend(value)
            elif keyword in SCHEMA_VALUED:
                stack.append(value)


def keywords_used(schema) -> set[str]:
    return {keyword for node in schema_nodes(schema) for keyword in node}


# Places a subschema can sit, each wrapping `sub` somewhere below the root.
POSITIONS = {
    "property": lambda sub: {"type": "object", "properties": {"p": sub}},
    "items": lambda sub: {"type": "object", "properties": {"list": {"type": "array", "items": sub}}},
    "anyOf": lambda sub: {"type": "object", "properties": {"u": {"anyOf": [sub, {"type": "integer"}]}}},
    "oneOf": lambda sub: {"type": "object", "properties": {"u": {"oneOf": [sub, {"type": "integer"}]}}},
    "allOf": lambda sub: {"type": "object", "properties": {"u": {"allOf": [sub]}}},
    "prefixItems": lambda sub: {"type": "object", "properties": {"t": {"type": "array", "prefixItems": [sub]}}},
    "deep": lambda sub: {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"anyOf": [
            {"type": "object", "properties": {"b": {"type": "object", "properties": {"c": sub}}}},
            {"type": "null"},
        ]}}},
    },
    "$defs": lambda sub: {"type": "object", "properties": {"r": {"$ref": "#/$defs/D"}}, "$defs": {"D": sub}},
    "definitions": lambda sub: {
        "type": "object", "properties": {"r": {"$ref": "#/definitions/D"}}, "definitions": {"D": sub},
    },
}
# Positions only the strict level keeps (gemini drops the container itself).
STRICT_ONLY_POSITIONS = {
    "not": lambda sub: {"type": "object", "properties": {"n": {"type": "string", "not": sub}}},
    "if/then/else": lambda sub: {"type": "object", "if": sub, "then": sub, "else": sub},
    "dependentSchemas": lambda sub: {"type": "object", "dependentSchemas": {"p": sub}},
}

SAMPLE_VALUES = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.com/tool.json",
    "$anchor": "here",
    "$dynamicAnchor": "meta",
    "$vocabulary": {"https://json-schema.org/draft/2020-12/vocab/core": True},
    "$comment": "internal note",
    "additionalProperties": False,
    "unevaluatedProperties": False,
    "propertyNames": {"pattern": "^[a-z]+$"},
    "patternProperties": {"^x-": {"type": "string"}},
    "uniqueItems": True,
    "unevaluatedItems": False,
    "contentEncoding": "base64",
    "contentMediaType": "image/png",
    "contentSchema": {"type": "object"},
    "examples": ["a", "b"],
    "deprecated": True,
    "readOnly": True,
    "writeOnly": False,
    "enumDescriptions": ["first", "second"],
    "markdownDescription": "**bold**",
    "const": "fixed",
    "default": "fallback",
}
assert set(SAMPLE_VALUES) == STRICT_REMOVED_KEYWORDS


def strict_cases():
    for keyword in sorted(STRICT_REMOVED_KEYWORDS):
        for position, wrap in {**POSITIONS, **STRICT_ONLY_POSITIONS}.items():
            yield pytest.param(keyword, wrap, id=f"{keyword}@{position}")


def gemini_cases():
    for keyword in sorted(STRICT_REMOVED_KEYWORDS):
        for position, wrap in POSITIONS.items():
            yield pytest.param(keyword, wrap, id=f"{keyword}@{position}")


def marked(keyword: str) -> dict:
    """A string schema carrying `keyword`, with a marker showing the node itself survived."""
    return {"type": "string", "description": "marker", "minLength": 1, keyword: SAMPLE_VALUES[keyword]}


def marker_survived(cleaned: dict) -> bool:
    return any(node.get("minLength") == 1 and str(node.get("description", "")).startswith("marker")
               for node in schema_nodes(cleaned))


@pytest.mark.parametrize(("keyword", "wrap"), strict_cases())
def test_strict_removes_keyword_at_every_depth(keyword, wrap):
    cleaned = clean_tool_schema(wrap(marked(keyword)), level="strict")
    assert keyword not in keywords_used(cleaned)
    assert marker_survived(cleaned)


@pytest.mark.parametrize(("keyword", "wrap"), gemini_cases())
def test_gemini_removes_keyword_at_every_depth(keyword, wrap):
    cleaned = clean_tool_schema(wrap(marked(keyword)), level="gemini")
    assert keyword not in keywords_used(cleaned)
    assert keywords_used(cleaned) <= GEMINI_KEPT_KEYWORDS
    assert marker_survived(cleaned)


def test_gemini_drops_what_its_schema_object_lacks():
    schema = {
        "type": "object",
        "title": "Args",
        "x-vendor": 1,
        "properties": {
            "n": {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 2, "title": "N", "minimum": 1},
            "s": {"type": "string", "not": {"const": "x"}, "if": {"minLength": 1}, "then": {}, "else": {}},
        },
        "dependentRequired": {"n": ["s"]},
    }
    assert clean_tool_schema(schema, level="gemini") == {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}, "s": {"type": "string"}},
    }


# --- names and data are not keywords --------------------------------------------------------------

KEYWORD_NAMES = ["format", "$comment", "default", "$schema", "additionalProperties", "const", "properties",
                 "items", "$ref", "type", "examples", "title", "anyOf", "required", "$defs"]


@pytest.mark.parametrize("level", LEVELS)
def test_properties_named_like_keywords_are_kept(level):
    named = {name: {"type": "string", "description": f"the {name} argument"} for name in KEYWORD_NAMES}
    schema = {
        "type": "object",
        "properties": {**named, "nested": {"type": "object", "properties": dict(named), "required": ["format"]}},
        "required": list(KEYWORD_NAMES),
    }
    cleaned = clean_tool_schema(schema, level=level)
    assert list(cleaned["properties"]) == [*KEYWORD_NAMES, "nested"]
    assert cleaned["properties"]["format"] == {"type": "string", "description": "the format argument"}
    assert list(cleaned["properties"]["nested"]["properties"]) == KEYWORD_NAMES
    assert cleaned["required"] == KEYWORD_NAMES
    assert cleaned["properties"]["nested"]["required"] == ["format"]


@pytest.mark.parametrize("level", LEVELS)
def test_definition_names_like_keywords_resolve(level):
    schema = {"type": "object", "properties": {"f": {"$ref": "#/$defs/format"}},
              "$defs": {"format": {"type": "string", "enum": ["a", "b"]}}}
    cleaned = clean_tool_schema(schema, level=level)
    if level == "gemini":
        assert cleaned["properties"]["f"] == {"type": "string", "enum": ["a", "b"]}
    else:
        assert cleaned["$defs"] == {"format": {"type": "string", "enum": ["a", "b"]}}


@pytest.mark.parametrize("level", LEVELS)
def test_data_values_are_copied_not_walked(level):
    member = {"$schema": "x", "format": "email", "additionalProperties": False}
    schema = {"type": "object", "properties": {"choice": {"type": "object", "enum": [member]}}}
    assert clean_tool_schema(schema, level=level)["properties"]["choice"]["enum"] == [member]


# --- rewrites --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_const_becomes_one_value_enum(level):
    schema = {"type": "object", "properties": {
        "kind": {"type": "string", "const": "file", "description": "Always file"},
        "deep": {"type": "array", "items": {"type": "object", "properties": {"v": {"const": 3, "enum": [1, 3]}}}},
        "falsy": {"type": "boolean", "const": False},
    }}
    props = clean_tool_schema(schema, level=level)["properties"]
    assert props["kind"] == {"type": "string", "enum": ["file"], "description": "Always file"}
    assert props["deep"]["items"]["properties"]["v"] == {"enum": [3]}
    assert props["falsy"] == {"type": "boolean", "enum": [False]}


@pytest.mark.parametrize("level", LEVELS)
def test_default_moves_into_the_description(level):
    schema = {"type": "object", "properties": {
        "flag": {"type": "boolean", "default": False, "description": "Replace all"},
        "bare": {"type": "integer", "default": 5},
        "big": {"type": "array", "default": ["x" * 100]},
    }}
    props = clean_tool_schema(schema, level=level)["properties"]
    assert props["flag"] == {"type": "boolean", "description": "Replace all (default: false)"}
    assert props["bare"] == {"type": "integer", "description": "Default: 5"}
    assert props["big"] == {"type": "array"}  # too long to be worth a hint


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("type_", "fmt"), [(t, f) for t, fmts in ALLOWED_FORMATS.items() for f in sorted(fmts)])
def test_allowed_formats_are_kept(level, type_, fmt):
    schema = {"type": "object", "properties": {"v": {"type": type_, "format": fmt}}}
    assert clean_tool_schema(schema, level=level)["properties"]["v"] == {"type": type_, "format": fmt}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("type_", "fmt"), [("string", "email"), ("string", "uri"), ("string", "int64"),
                                            ("integer", "date-time"), (None, "date-time")])
def test_other_formats_become_hints(level, type_, fmt):
    prop = {"format": fmt, "description": "Value"} | ({"type": type_} if type_ else {})
    schema = {"type": "object", "properties": {"v": prop}}
    cleaned = clean_tool_schema(schema, level=level)["properties"]["v"]
    assert "format" not in cleaned
    assert cleaned["description"] == f"Value (format: {fmt})"


def test_strict_keeps_refs_and_boolean_schemas():
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}, "b": True},
              "$defs": {"A": {"type": "string", "$comment": "x"}}}
    assert clean_tool_schema(schema) == {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}, "b": True},
                                         "$defs": {"A": {"type": "string"}}}


# --- gemini: references ------------------------------------------------------------------------------


def test_gemini_inlines_refs_everywhere():
    schema = {
        "type": "object",
        "properties": {
            "owner": {"$ref": "#/$defs/Person", "description": "Who owns it"},
            "members": {"type": "array", "items": {"$ref": "#/definitions/Person"}},
            "either": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "string"}]},
            "via_pointer": {"$ref": "#/properties/members"},
        },
        "$defs": {"Person": {"$ref": "#/definitions/Person"}},
        "definitions": {"Person": {"type": "object", "description": "A person",
                                   "properties": {"name": {"type": "string"}}, "required": ["name"]}},
    }
    person = {"type": "object", "description": "A person", "properties": {"name": {"type": "string"}},
              "required": ["name"]}
    assert clean_tool_schema(schema, level="gemini") == {
        "type": "object",
        "properties": {
            "owner": {**person, "description": "Who owns it"},
            "members": {"type": "array", "items": person},
            "either": {"anyOf": [person, {"type": "string"}]},
            "via_pointer": {"type": "array", "items": person},
        },
    }


def test_gemini_recursive_ref_stops_at_an_object_placeholder():
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "required": ["tree"],
        "$defs": {"Node": {
            "type": "object",
            "description": "A tree node",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "parent": {"$ref": "#/$defs/Node", "description": "Back link"},
            },
        }},
    }
    cleaned = clean_tool_schema(schema, level="gemini")
    assert cleaned == {
        "type": "object",
        "properties": {"tree": {
            "type": "object",
            "description": "A tree node",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"type": "object", "description": "A tree node"}},
                "parent": {"type": "object", "description": "Back link"},
            },
        }},
        "required": ["tree"],
    }


def test_gemini_mutual_recursion_and_self_reference_terminate():
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}, "me": {"$ref": "#"}},
        "$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                  "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}},
    }
    cleaned = clean_tool_schema(schema, level="gemini")
    assert cleaned["properties"]["a"]["properties"]["b"]["properties"]["a"] == {"type": "object"}
    assert cleaned["properties"]["me"]["properties"]["me"] == {"type": "object"}
    assert clean_tool_schema(cleaned, level="gemini") == cleaned


def test_gemini_unresolvable_refs_become_placeholders():
    schema = {"type": "object", "properties": {
        "missing": {"$ref": "#/$defs/Nope", "description": "Gone"},
        "remote": {"$ref": "https://example.com/schema.json"},
        "anchor": {"$ref": "#here"},
    }}
    assert clean_tool_schema(schema, level="gemini")["properties"] == {
        "missing": {"type": "object", "description": "Gone"},
        "remote": {"type": "object"},
        "anchor": {"type": "object"},
    }


def test_gemini_root_ref_like_pydantic():
    schema = {"$ref": "#/$defs/Args", "$defs": {"Args": {
        "type": "object", "title": "Args", "properties": {"q": {"type": "string", "title": "Q"}}, "required": ["q"],
    }}}
    assert clean_tool_schema(schema, level="gemini") == {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
    }


# --- gemini: nullable and unions ----------------------------------------------------------------------


def test_gemini_collapses_nullable_types_and_unions():
    schema = {"type": "object", "properties": {
        "type_list": {"type": ["string", "null"], "description": "d"},
        "null_first": {"type": ["null", "integer"], "format": "int64"},
        "any_of": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                   "default": None, "title": "When"},
        "one_of": {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]},
        "multi": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "multi_types": {"type": ["string", "integer", "null"]},
        "two_types": {"type": ["string", "number"]},
        "only_null": {"type": ["null"]},
        "null_member": {"type": ["string", "null"], "enum": ["a", None]},
        "single": {"anyOf": [{"type": "boolean"}], "description": "kept"},
    }}
    assert clean_tool_schema(schema, level="gemini")["properties"] == {
        "type_list": {"type": "string", "description": "d", "nullable": True},
        "null_first": {"type": "integer", "format": "int64", "nullable": True},
        "any_of": {"description": "Default: null", "type": "string", "format": "date-time", "nullable": True},
        "one_of": {"type": "array", "items": {"type": "string"}, "nullable": True},
        "multi": {"anyOf": [{"type": "string", "nullable": True}, {"type": "integer", "nullable": True}]},
        "multi_types": {"anyOf": [{"type": "string", "nullable": True}, {"type": "integer", "nullable": True}]},
        "two_types": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        "only_null": {"type": "null"},
        "null_member": {"type": "string", "enum": ["a"], "nullable": True},
        "single": {"description": "kept", "type": "boolean"},
    }


def test_gemini_folds_all_of_and_tuples():
    schema = {"type": "object", "properties": {
        "mixin": {"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b", "a"]},
        ], "description": "Both"},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
        "old_tuple": {"type": "array", "items": [{"type": "string"}]},
    }}
    assert clean_tool_schema(schema, level="gemini")["properties"] == {
        "mixin": {"description": "Both", "type": "object",
                  "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
        "pair": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"}]}},
        "old_tuple": {"type": "array", "items": {"type": "string"}},
    }


def test_gemini_boolean_subschemas():
    schema = {"type": "object", "properties": {"any": True, "never": False, "kept": {"type": "string"}},
              "required": ["any", "never", "kept"]}
    assert clean_tool_schema(schema, level="gemini") == {
        "type": "object", "properties": {"any": {}, "kept": {"type": "string"}}, "required": ["any", "kept"],
    }


# --- gemini: top level, required, empty containers -----------------------------------------------------


@pytest.mark.parametrize("schema", [None, {}, {"type": "object"}, {"properties": {}}, {"type": "object", "required": []}])
def test_gemini_empty_schemas_become_an_empty_object(schema):
    assert clean_tool_schema(schema, level="gemini") == {"type": "object", "properties": {}}


def test_strict_none_becomes_an_empty_object_and_empty_stays_empty():
    assert clean_tool_schema(None) == {"type": "object", "properties": {}}
    assert clean_tool_schema({}) == {}


def test_gemini_forces_an_object_top_level():
    schema = {"properties": {"a": {"type": "string"}}, "type": ["object", "null"], "description": "Args"}
    assert clean_tool_schema(schema, level="gemini") == {
        "type": "object", "properties": {"a": {"type": "string"}}, "description": "Args",
    }


def test_gemini_prunes_required_and_empty_nested_properties():
    schema = {"type": "object", "properties": {
        "config": {"type": "object", "properties": {}, "required": ["ghost"], "additionalProperties": True},
        "opts": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x", "y", "x", 3],
                 "propertyOrdering": ["y", "x"]},
    }, "required": ["config", "missing", "opts"]}
    assert clean_tool_schema(schema, level="gemini") == {
        "type": "object",
        "properties": {
            "config": {"type": "object"},
            "opts": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"],
                     "propertyOrdering": ["x"]},
        },
        "required": ["config", "opts"],
    }


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="level"):
        clean_tool_schema({}, level="lenient")  # type: ignore[arg-type]


# --- a realistic Claude Code-style tool ------------------------------------------------------------------

EDIT_TOOL = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
        "edits": {
            "type": "array",
            "minItems": 1,
            "description": "Edits applied in order",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "old_string": {"type": "string", "description": "The text to replace"},
                    "new_string": {"type": "string", "description": "The replacement text"},
                    "replace_all": {"type": "boolean", "default": False, "description": "Replace every occurrence"},
                },
                "required": ["old_string", "new_string"],
            },
        },
        "mode": {"type": "string", "enum": ["fast", "careful"], "enumDescriptions": ["Skip checks", "Check twice"]},
        "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 600000},
        "source_url": {"type": "string", "format": "uri"},
        "labels": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z]+$"},
            "additionalProperties": {"type": "string", "$comment": "free-form"},
        },
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    },
    "required": ["file_path", "edits"],
}


def test_claude_code_tool_strict():
    assert clean_tool_schema(EDIT_TOOL, level="strict") == {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
            "edits": {
                "type": "array",
                "minItems": 1,
                "description": "Edits applied in order",
                "items": {
                    "type": "object",
                    "properties": {
                        "old_string": {"type": "string", "description": "The text to replace"},
                        "new_string": {"type": "string", "description": "The replacement text"},
                        "replace_all": {"type": "boolean", "description": "Replace every occurrence (default: false)"},
                    },
                    "required": ["old_string", "new_string"],
                },
            },
            "mode": {"type": "string", "enum": ["fast", "careful"]},
            "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 600000},
            "source_url": {"type": "string", "description": "Format: uri"},
            "labels": {"type": "object"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["file_path", "edits"],
    }


def test_claude_code_tool_gemini():
    assert clean_tool_schema(EDIT_TOOL, level="gemini") == {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
            "edits": {
                "type": "array",
                "minItems": 1,
                "description": "Edits applied in order",
                "items": {
                    "type": "object",
                    "properties": {
                        "old_string": {"type": "string", "description": "The text to replace"},
                        "new_string": {"type": "string", "description": "The replacement text"},
                        "replace_all": {"type": "boolean", "description": "Replace every occurrence (default: false)"},
                    },
                    "required": ["old_string", "new_string"],
                },
            },
            "mode": {"type": "string", "enum": ["fast", "careful"]},
            "timeout": {"type": "number", "maximum": 600000, "nullable": True},
            "source_url": {"type": "string", "description": "Format: uri"},
            "labels": {"type": "object"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["file_path", "edits"],
    }


# --- purity -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_input_is_not_mutated_and_output_shares_nothing(level):
    schema = copy.deepcopy(EDIT_TOOL)
    schema["$defs"] = {"Edit": schema["properties"]["edits"]["items"]}
    schema["properties"]["again"] = {"$ref": "#/$defs/Edit"}
    schema["properties"]["opt"] = {"anyOf": [{"$ref": "#/$defs/Edit"}, {"type": "null"}], "default": {"a": [1]}}
    snapshot = copy.deepcopy(schema)
    cleaned = clean_tool_schema(schema, level=level)
    assert schema == snapshot
    scribble(cleaned)
    assert schema == snapshot


def scribble(value) -> None:
    """Mutate every container in `value`, so shared structure would show in the input."""
    if isinstance(value, dict):
        for item in list(value.values()):
            scribble(item)
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            scribble(item)
        value.append("scribbled")


@pytest.mark.parametrize("level", LEVELS)
def test_deterministic(level):
    first = orjson.dumps(clean_tool_schema(EDIT_TOOL, level=level))
    assert all(orjson.dumps(clean_tool_schema(copy.deepcopy(EDIT_TOOL), level=level)) == first for _ in range(3))


def nested(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels // 2):
        schema = {"type": "object", "properties": {"next": {"type": "array", "items": schema}}, "$comment": "x"}
    return schema


@pytest.mark.parametrize("level", LEVELS)
def test_deep_nesting_is_fine(level):
    cleaned = clean_tool_schema(nested(200), level=level)
    assert "$comment" not in keywords_used(cleaned)


@pytest.mark.parametrize("level", LEVELS)
def test_absurd_nesting_is_a_value_error(level):
    with pytest.raises(ValueError, match="nested too deeply"):
        clean_tool_schema(nested(5000), level=level)


# --- properties over generated schemas ------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "format", "default", "$comment", "type", "items", "properties", "$ref", "x-y"])
TYPES = st.sampled_from(["string", "integer", "number", "boolean", "object", "array", "null"])
DATA = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(NAMES, inner, max_size=2),
    max_leaves=4,
)
REFS = st.sampled_from(["#/$defs/A", "#/$defs/B", "#/definitions/C", "#", "#/$defs/missing",
                        "#/properties/a", "https://example.com/s.json"])
ANNOTATIONS = {
    "description": st.text(max_size=8),
    "title": st.text(max_size=5),
    "format": st.sampled_from(["date-time", "enum", "email", "int64", "double", "uri"]),
    "default": DATA,
    "const": DATA,
    "enum": st.lists(DATA, max_size=3),
    "examples": st.lists(DATA, max_size=2),
    "$comment": st.text(max_size=5),
    "uniqueItems": st.booleans(),
    "deprecated": st.booleans(),
    "nullable": st.booleans(),
    "minLength": st.integers(0, 5),
    "enumDescriptions": st.lists(st.text(max_size=3), max_size=2),
    "x-extra": DATA,
}
LEAF = st.fixed_dictionaries({}, optional={"type": TYPES | st.lists(TYPES, max_size=3), **ANNOTATIONS})


def composite(children):
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(NAMES, children, max_size=3)},
                              optional={"required": st.lists(NAMES, max_size=3),
                                        "additionalProperties": st.booleans() | children,
                                        "patternProperties": st.dictionaries(NAMES, children, max_size=1),
                                        "propertyOrdering": st.lists(NAMES, max_size=2),
                                        "default": DATA, "description": st.text(max_size=4)}),
        st.fixed_dictionaries({"type": st.just("array")},
                              optional={"items": children | st.lists(children, max_size=2),
                                        "prefixItems": st.lists(children, max_size=2)}),
        *(st.fixed_dictionaries({union: st.lists(children, max_size=3)}, optional=ANNOTATIONS)
          for union in ("anyOf", "oneOf", "allOf")),
        st.fixed_dictionaries({"$ref": REFS}, optional={"description": st.text(max_size=4)}),
        st.fixed_dictionaries({}, optional={"not": children, "if": children, "then": children}),
        st.booleans(),
    )


SUBSCHEMA = st.recursive(LEAF, composite, max_leaves=12)
SCHEMAS = st.fixed_dictionaries(
    {"properties": st.dictionaries(NAMES, SUBSCHEMA, max_size=4)},
    optional={"type": TYPES | st.lists(TYPES, max_size=2), "$schema": st.just("x"), "required": st.lists(NAMES),
              "$defs": st.dictionaries(st.sampled_from(["A", "B"]), SUBSCHEMA, max_size=2),
              "definitions": st.dictionaries(st.just("C"), SUBSCHEMA, max_size=1),
              "additionalProperties": st.booleans(), "anyOf": st.lists(SUBSCHEMA, max_size=2)},
) | SUBSCHEMA.filter(lambda s: isinstance(s, dict))


@settings(max_examples=200, deadline=None)
@given(SCHEMAS, st.sampled_from(LEVELS))
def test_cleaning_is_idempotent(schema, level):
    once = clean_tool_schema(schema, level=level)
    assert clean_tool_schema(once, level=level) == once


@settings(max_examples=150, deadline=None)
@given(SCHEMAS, st.sampled_from(LEVELS))
def test_generated_input_untouched_and_output_is_json(schema, level):
    snapshot = copy.deepcopy(schema)
    cleaned = clean_tool_schema(schema, level=level)
    assert schema == snapshot
    assert orjson.loads(orjson.dumps(cleaned)) == cleaned
    assert not (keywords_used(cleaned) & STRICT_REMOVED_KEYWORDS)


@settings(max_examples=150, deadline=None)
@given(SCHEMAS)
def test_gemini_output_fits_the_gemini_schema_object(schema):
    cleaned = clean_tool_schema(schema, level="gemini")
    assert cleaned["type"] == "object" and isinstance(cleaned["properties"], dict)
    for node in schema_nodes(cleaned):
        assert set(node) <= GEMINI_KEPT_KEYWORDS
        assert not isinstance(node.get("type"), list)
        properties = node.get("properties", {})
        assert set(node.get("required", [])) <= set(properties)
        assert node.get("required", ["non-empty"]) != []
        if node is not cleaned:
            assert properties != {} or "properties" not in node
        for sub in [*properties.values(), *node.get("anyOf", []), node.get("items", {})]:
            assert isinstance(sub, dict)
