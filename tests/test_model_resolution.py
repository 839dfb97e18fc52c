"""Model-name rules (addons/model_resolution.py) and `[[routes]]` wildcards in ModelRouter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addons.config import BridgeConfig, ModelConfig, ProviderConfig, RouteConfig
from addons.model_resolution import ModelMapping, strip_client_suffix, substitute, wildcard_match
from addons.model_router import ModelRouter

# --- the pieces ---


@pytest.mark.parametrize(("name", "stripped"), [
    ("claude-sonnet-4-6[1m]", "claude-sonnet-4-6"),
    ("claude-sonnet-4-6[200k]", "claude-sonnet-4-6"),
    ("claude-sonnet-4-6[]", "claude-sonnet-4-6"),
    ("claude-sonnet-4-6", "claude-sonnet-4-6"),
    ("a[1m]b", "a[1m]b"),  # only a trailing suffix
    ("a[x][1m]", "a[x]"),  # only the last one
    ("[1m]", ""),
    ("gpt-4o[", "gpt-4o["),
])
def test_strip_client_suffix(name, stripped):
    assert strip_client_suffix(name) == stripped


@pytest.mark.parametrize(("glob", "name", "captures"), [
    ("claude-*", "claude-sonnet-4", ("sonnet-4",)),
    ("claude-*", "claude-", ("",)),
    ("claude-*", "claude", None),
    ("claude-*", "xclaude-sonnet", None),  # anchored at the start
    ("*-haiku", "claude-3-haiku", ("claude-3",)),
    ("*-haiku", "claude-3-haiku-x", None),  # anchored at the end
    ("*haiku*", "claude-haiku-4-5", ("claude-", "-4-5")),
    ("*", "anything at all", ("anything at all",)),
    ("a*b*c", "a1b2c", ("1", "2")),
    ("a*b*c", "abc", ("", "")),
    ("gpt-4o", "gpt-4o", ()),
    ("gpt-4o", "gpt-4o-mini", None),
    # case-insensitive; the captures keep the client's case
    ("claude-*", "CLAUDE-Sonnet-4", ("Sonnet-4",)),
    ("CLAUDE-*-Latest", "claude-Opus-latest", ("Opus",)),
    # regular-expression characters are literal
    ("gpt-4.1", "gpt-4x1", None),
    ("gpt-4.1", "gpt-4.1", ()),
    ("a+b", "aab", None),
    ("a+b", "a+b", ()),
    ("m(1)", "m(1)", ()),
    ("m(1)", "m1", None),
    ("x?", "x", None),
    ("x?", "x?", ()),
    ("[1m]*", "[1m]-y", ("-y",)),
    ("[1m]*", "1-y", None),
    ("a|b", "a", None),
    ("^a$", "^a$", ()),
    ("a\\d", "a\\d", ()),
    ("a\\d", "a1", None),
    ("line*", "line\nbreak", ("\nbreak",)),
])
def test_wildcard_match(glob, name, captures):
    assert wildcard_match(glob, name) == captures


@pytest.mark.parametrize(("target", "captures", "result"), [
    ("gpt-4.1-*", ("sonnet-4",), "gpt-4.1-sonnet-4"),
    ("*-*", ("a", "b"), "a-b"),
    ("*-*", ("b", "a")[::-1], "a-b"),
    ("x-*-y-*-z", ("1", "2"), "x-1-y-2-z"),
    ("fixed-model", ("ignored",), "fixed-model"),
    ("*", (), ""),  # more stars than captures: the missing ones are empty
    ("a*b*c", ("1",), "a1bc"),
    ("*", ("1", "2"), "1"),  # more captures than stars: the rest are dropped
    ("**", ("1", "2"), "12"),
])
def test_substitute(target, captures, result):
    assert substitute(target, captures) == result


_literal = st.text(st.characters(codec="ascii", exclude_characters="*<>"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_literal, _literal, _literal, _literal, _literal)
def test_two_wildcards_capture_what_was_put_between_the_literals(prefix, middle, suffix, first, second):
    # the captures sit between separators neither they nor the literals contain, so the match is unique
    found = wildcard_match(f"{prefix}<*>{middle}<*>{suffix}", f"{prefix}<{first}>{middle}<{second}>{suffix}")
    assert found == (first, second)
    assert substitute("X*Y*Z", found) == f"X{first}Y{second}Z"
    assert ModelMapping(map={f"{prefix}<*>{middle}<*>{suffix}": "u-*-*"}, strip_suffix=False).resolve(
        f"{prefix}<{first}>{middle}<{second}>{suffix}") == f"u-{first}-{second}"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_characters="*"), min_size=1, max_size=20))
def test_a_name_without_wildcards_matches_only_itself(name):
    assert wildcard_match(name, name) == ()
    assert wildcard_match(name, name + "x") is None
    assert wildcard_match(name, "x" + name) is None


# --- ModelMapping.resolve ---


def test_force_wins_over_everything():
    mapping = ModelMapping(force="gpt-4.1", map={"claude-sonnet-4": "x", "claude-*": "y-*"})
    for name in ("claude-sonnet-4", "claude-opus[1m]", "anything", ""):
        assert mapping.resolve(name) == "gpt-4.1"


def test_strip_suffix_then_exact_map():
    mapping = ModelMapping(map={"claude-sonnet-4-6": "gpt-4.1"})
    assert mapping.resolve("claude-sonnet-4-6[1m]") == "gpt-4.1"
    assert mapping.resolve("claude-sonnet-4-6") == "gpt-4.1"


def test_without_stripping_the_suffix_stays():
    mapping = ModelMapping(map={"claude-sonnet-4-6": "gpt-4.1"}, strip_suffix=False)
    assert mapping.resolve("claude-sonnet-4-6[1m]") == "claude-sonnet-4-6[1m]"
    assert mapping.resolve("claude-sonnet-4-6") == "gpt-4.1"


def test_exact_map_on_the_raw_name_too():
    mapping = ModelMapping(map={"claude-sonnet-4-6[1m]": "gpt-4.1-long"})
    assert mapping.resolve("claude-sonnet-4-6[1m]") == "gpt-4.1-long"
    assert mapping.resolve("claude-sonnet-4-6") == "claude-sonnet-4-6"
    both = ModelMapping(map={"m[1m]": "raw", "m": "stripped"})
    assert both.resolve("m[1m]") == "stripped"  # the stripped name is looked up first


def test_exact_before_wildcard_whatever_the_order():
    mapping = ModelMapping(map={"claude-*": "gpt-4.1-*", "claude-opus-4": "o3"})
    assert mapping.resolve("claude-opus-4") == "o3"
    assert mapping.resolve("claude-sonnet-4") == "gpt-4.1-sonnet-4"


def test_first_matching_wildcard_wins():
    mapping = ModelMapping(map={"*haiku*": "fast", "claude-*": "gpt-*", "*": "default"})
    assert mapping.resolve("claude-haiku-4-5") == "fast"
    assert mapping.resolve("claude-sonnet-4") == "gpt-sonnet-4"
    assert mapping.resolve("llama") == "default"


def test_wildcard_captures_are_substituted_in_order():
    mapping = ModelMapping(map={"*-*-*": "*/*/*", "from-*-to-*": "to-*-from-*"})
    assert mapping.resolve("a-b-c") == "a/b/c"
    # the first matching entry wins; each * but the last takes the shortest run (as fnmatch does: no backtracking)
    assert mapping.resolve("from-x-to-y") == "from/x/to-y"
    assert ModelMapping(map={"from-*-to-*": "to-*-from-*"}).resolve("from-x-to-y") == "to-x-from-y"


def test_matching_cannot_be_made_slow():
    import time

    started = time.monotonic()
    assert ModelMapping(map={"*a" * 10 + "b": "x"}).resolve("a" * 255) == "a" * 255
    assert ModelMapping(map={"*claude*sonnet*": "x"}).resolve("claude" * 40) == "claude" * 40
    assert ModelMapping(map={"*": "x"}).resolve("m" * 257) == "m" * 257  # too long to match a pattern at all
    assert time.monotonic() - started < 0.5


def test_wildcard_after_stripping_the_suffix():
    mapping = ModelMapping(map={"claude-*": "gpt-4.1-*"})
    assert mapping.resolve("claude-sonnet-4[1m]") == "gpt-4.1-sonnet-4"
    assert ModelMapping(map={"claude-*": "gpt-4.1-*"}, strip_suffix=False).resolve("claude-x[1m]") == "gpt-4.1-x[1m]"


def test_wildcard_is_case_insensitive_and_keeps_the_clients_case():
    mapping = ModelMapping(map={"Claude-*": "gpt-4.1-*"})
    assert mapping.resolve("CLAUDE-Sonnet-4") == "gpt-4.1-Sonnet-4"
    assert mapping.resolve("claude-sonnet-4") == "gpt-4.1-sonnet-4"


def test_regex_characters_in_names_are_literal():
    mapping = ModelMapping(map={"gpt-4.1*": "a*", "m(x)|y": "b", "q+": "c"})
    assert mapping.resolve("gpt-4.1-mini") == "a-mini"
    assert mapping.resolve("gpt-4x1-mini") == "gpt-4x1-mini"
    assert mapping.resolve("m(x)|y") == "b"
    assert mapping.resolve("mx") == "mx" and mapping.resolve("y") == "y"
    assert mapping.resolve("qqq") == "qqq"


def test_unmapped_names_pass_through():
    mapping = ModelMapping(map={"a": "b", "c-*": "d-*"})
    assert mapping.resolve("gpt-4o") == "gpt-4o"
    assert mapping.resolve("gpt-4o[1m]") == "gpt-4o"
    assert ModelMapping().resolve("x[1m]") == "x"


def test_a_target_without_a_star_is_taken_as_is():
    assert ModelMapping(map={"claude-*": "gpt-4.1"}).resolve("claude-opus") == "gpt-4.1"


def test_client_names():
    assert ModelMapping(force="gpt-4.1", map={"a": "b"}).client_names() == ["gpt-4.1"]
    assert ModelMapping(map={"b": "1", "claude-*": "x-*", "a": "2"}).client_names() == ["b", "a"]
    assert ModelMapping().client_names() == []


# --- [[routes]] in ModelRouter ---


def _router(routes: list[RouteConfig], models: list[ModelConfig] = (), strip: bool = True) -> ModelRouter:
    providers = [
        ProviderConfig(name="oai", protocol="openai-chat", base_url="https://oai.example.test/v1", api_key="k1"),
        ProviderConfig(name="ant", protocol="anthropic", base_url="https://ant.example.test", api_key="k2"),
    ]
    return ModelRouter(BridgeConfig(providers=providers, routes=routes, models=list(models),
                                    model_names={"strip_client_suffix": strip}))


def test_route_wildcard_is_substituted_into_the_upstream_model():
    router = _router([RouteConfig(match="claude-*", provider="oai", upstream_model="gpt-4.1-*")])
    route = router.resolve("claude-sonnet-4")
    assert (route.provider.name, route.upstream_model, route.protocol) == ("oai", "gpt-4.1-sonnet-4", "openai-chat")
    assert router.resolve("claude-sonnet-4[1m]").upstream_model == "gpt-4.1-sonnet-4"
    assert router.resolve("Claude-Opus-4").upstream_model == "gpt-4.1-Opus-4"
    assert router.resolve("gpt-4o") is None


def test_route_several_wildcards_and_fixed_targets():
    router = _router([
        RouteConfig(match="*haiku*", provider="ant", upstream_model="claude-haiku-4-5"),
        RouteConfig(match="*-*-*", provider="oai", upstream_model="*/*/*"),
        RouteConfig(match="*", provider="ant"),
    ])
    assert router.resolve("claude-3-haiku").upstream_model == "claude-haiku-4-5"
    assert router.resolve("x-y-z").upstream_model == "x/y/z"
    fallback = router.resolve("whatever")
    assert (fallback.provider.name, fallback.upstream_model) == ("ant", "whatever")


def test_route_without_suffix_stripping():
    router = _router([RouteConfig(match="claude-*", provider="oai", upstream_model="gpt-*")], strip=False)
    assert router.resolve("claude-x[1m]").upstream_model == "gpt-x[1m]"


def test_models_and_provider_prefix_come_before_routes():
    router = _router([RouteConfig(match="*", provider="oai", upstream_model="catch-*")],
                     [ModelConfig(id="claude-sonnet", provider="ant", upstream_model="claude-sonnet-4-5")])
    assert router.resolve("claude-sonnet").upstream_model == "claude-sonnet-4-5"
    assert router.resolve("ant/claude-opus-4-1").provider.name == "ant"
    assert router.resolve("ant/claude-opus-4-1").upstream_model == "claude-opus-4-1"
    assert router.resolve("other").upstream_model == "catch-other"


def test_route_options_come_from_the_route():
    router = _router([RouteConfig(match="claude-*", provider="oai", upstream_model="gpt-4.1-*", max_tokens=777,
                                  headers={"X-Team": "a"})])
    route = router.resolve("claude-x")
    assert route.options.max_tokens == 777
    assert ("x-team", "a") in route.headers
