"""The design rules the code holds to, checked on its source (issue 12, points 1 and 6): `transforms/` is
pure; one interface for an upstream call and one place that sends it; no provider name tested in shared
code; the protocol names listed once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from addons.presets.catalog import CATALOG
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.protocols import CLIENT_PROTOCOLS, UPSTREAM_PROTOCOLS

ROOT = Path(__file__).resolve().parent.parent
ADDONS = sorted((ROOT / "addons").rglob("*.py"))
TRANSFORMS = sorted((ROOT / "transforms").rglob("*.py"))
PROTOCOL_NAMES = set(UPSTREAM_PROTOCOLS) | set(CLIENT_PROTOCOLS)
# names that are a provider's and never a protocol's (Trae is both: an IDE backend with its own protocol)
PROVIDER_NAMES = (set(CATALOG) | {"factory", "trae"}) - (PROTOCOL_NAMES - {"trae"})
# where a provider is named on purpose: its preset, its credential, the configuration's validation
PROVIDER_HOMES = ("addons/presets/", "addons/credentials/", "addons/config.py")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", TRANSFORMS, ids=_relative)
def test_transforms_is_a_pure_library(path):
    forbidden = {"mitmproxy", "asyncio", "socket", "httpx", "aiohttp", "addons", "ssl", "subprocess"}
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        assert not {name.split(".")[0] for name in names} & forbidden, f"{_relative(path)} imports {names}"


def _calls(attribute: str):
    """(file, function) of every `<something>.<attribute>(...)` call in addons/."""
    for path in ADDONS:
        tree = _tree(path)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute:
                    yield _relative(path), function.name


def test_one_place_sends_an_upstream_call():
    # the relay's pool sends every upstream call; `_reenter` passes a held client request to the bridge itself
    senders = {(path, function) for path, function in _calls("request")
               if path != "addons/guards/request_guard.py"}  # (reads flow.request, not a call)
    assert senders <= {("addons/upstream/relay.py", "_attempts"), ("addons/upstream/relay.py", "_reenter")}, senders
    assert ("addons/upstream/relay.py", "_attempts") in senders


def test_every_entry_point_registers_its_call_through_one_interface():
    registrations = set(_calls("register"))
    assert registrations == {("addons/upstream/calls.py", "dispatch")}, registrations
    dispatches = {path for path, _ in _calls("dispatch")}
    assert dispatches == {"addons/model_calls.py"}, dispatches  # chat and native calls of every entry point
    natives = {path for path, _ in _calls("native")} | {path for path, _ in _calls("chat")}
    assert "addons/proxy_url/serve.py" in natives  # proxy URLs use the public interface, not the Bridge's insides


def test_no_module_reaches_into_the_bridge():
    """Nothing calls another object's private methods across modules (`bridge._route`, `bridge._send` ...)."""
    for path in ADDONS:
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("_")
                    and not node.func.attr.startswith("__") and isinstance(node.func.value, ast.Name)
                    and node.func.value.id not in ("self", "cls")):
                module_level = node.func.value.id
                assert module_level[0].isupper() or module_level in ("os", "sys", "asyncio", "ssl", "socket", "select",
                                                                      "servers", "server"), \
                    f"{_relative(path)}:{node.lineno} calls {module_level}.{node.func.attr}"


@pytest.mark.parametrize("path", [p for p in ADDONS if not _relative(p).startswith(PROVIDER_HOMES)], ids=_relative)
def test_shared_code_never_tests_a_provider_name(path):
    for node in ast.walk(_tree(path)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        strings = {o.value for o in operands if isinstance(o, ast.Constant) and isinstance(o.value, str)}
        for o in operands:
            if isinstance(o, (ast.Tuple, ast.Set, ast.List)):
                strings |= {e.value for e in o.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        assert not strings & PROVIDER_NAMES, f"{_relative(path)}:{node.lineno} tests {strings & PROVIDER_NAMES}"
        names = [o for o in operands if isinstance(o, ast.Attribute) and o.attr == "name"
                 and "provider" in ast.unparse(o.value)]
        assert not (names and strings), f"{_relative(path)}:{node.lineno} tests a provider's name: {ast.unparse(node)}"


@pytest.mark.parametrize("path", ADDONS + TRANSFORMS, ids=_relative)
def test_the_protocol_names_are_listed_once(path):
    if _relative(path) == "transforms/protocols.py":
        return
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            listed = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            assert len(listed & PROTOCOL_NAMES) < 4, f"{_relative(path)}:{node.lineno} lists protocols: {sorted(listed)}"


def test_the_codec_registry_matches_the_protocol_list():
    assert set(CLIENT_CODECS) == set(CLIENT_PROTOCOLS)
    assert set(UPSTREAM_CODECS) == set(UPSTREAM_PROTOCOLS)
    assert all(codec.name == name for name, codec in {**CLIENT_CODECS, **UPSTREAM_CODECS}.items())
