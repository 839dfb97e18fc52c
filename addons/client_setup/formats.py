"""The three formats a client keeps its settings in, behind one small interface.

A parsed file is a mapping (nested mappings for JSON and TOML, a flat one for a .env file) addressed by
key paths such as ("env", "ANTHROPIC_BASE_URL"); `get_path`, `set_path` and `remove_path` work on any of
them. What each format keeps of the user's file when it is written again:

- JSON: every key, with its value and order; not the formatting (re-serialised with a 2-space indent).
- TOML (tomlkit): everything, comments and layout included; only the keys set or removed change.
- .env: every line but the ones that set a key this command manages.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import InlineTable, Table

from addons.client_setup.config_file import EXIT_BAD_INPUT, SetupError, malformed


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()  # a key missing from the file (JSON null is a value)

KeyPath = tuple[str, ...]


class Format:
    container = ""  # what a nested container is called in messages: "a JSON object"

    def parse(self, path: Path, data: bytes | None) -> MutableMapping:
        raise NotImplementedError

    def render(self, document: MutableMapping) -> bytes:
        raise NotImplementedError

    def plain(self, value: object) -> object:
        """`value` as plain Python (dicts, lists, str ...), for comparing and printing."""
        return value

    def new_container(self, parent: MutableMapping, holds_values: bool) -> MutableMapping:
        """An empty container to put in `parent`; `holds_values`: it will hold values, not only containers."""
        return {}

    def tidy(self, document: MutableMapping, created: list[KeyPath]) -> None:
        """Layout after the containers `created` were added and filled (TOML: a blank line after a table)."""


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise malformed(path, "it is not UTF-8 text") from None


class JsonFormat(Format):
    container = "a JSON object"

    def parse(self, path: Path, data: bytes | None) -> MutableMapping:
        if data is None:
            return {}
        text = _text(path, data)
        if not text.strip():
            return {}
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise malformed(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        if not isinstance(document, dict):
            raise malformed(path, "the top level is not a JSON object")
        return document

    def render(self, document: MutableMapping) -> bytes:
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


class TomlFormat(Format):
    container = "a TOML table"

    def parse(self, path: Path, data: bytes | None) -> MutableMapping:
        if data is None:
            return tomlkit.document()
        text = _text(path, data)
        try:
            tomllib.loads(text)  # the strict reading, as the client's own parser does
            return tomlkit.parse(text)
        except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
            raise malformed(path, f"invalid TOML: {exc}") from None

    def render(self, document: MutableMapping) -> bytes:
        return tomlkit.dumps(document).encode()

    def plain(self, value: object) -> object:
        unwrap = getattr(value, "unwrap", None)
        return unwrap() if callable(unwrap) else value

    def new_container(self, parent: MutableMapping, holds_values: bool) -> MutableMapping:
        if isinstance(parent, InlineTable):
            return tomlkit.inline_table()
        if holds_values:
            return tomlkit.table()
        return tomlkit.table(is_super_table=True)  # only a header for its sub-tables: [a.b], not [a]

    def tidy(self, document: MutableMapping, created: list[KeyPath]) -> None:
        keys = [key for key, _ in getattr(document, "body", []) if key is not None]
        for path in created:
            table = get_path(document, path)
            followed = bool(keys) and keys[-1].key != path[0]  # another table comes after it
            if isinstance(table, Table) and not table.is_super_table() and followed:
                table.add(tomlkit.nl())


class DotenvFormat(Format):
    container = "a value"  # (flat: never a container)

    def parse(self, path: Path, data: bytes | None) -> MutableMapping:
        return DotenvDocument("" if data is None else _text(path, data))

    def render(self, document: MutableMapping) -> bytes:
        assert isinstance(document, DotenvDocument)
        return document.text().encode()


# --- .env files --------------------------------------------------------------------

# A line as the `dotenv` package (the Gemini CLI's reader) finds it: `[export ]KEY=value`, the value bare (up
# to a `#`) or in single, double or back quotes, which may span lines; the last assignment of a key wins.
_ASSIGNMENT = re.compile(
    r"^[ \t]*(export[ \t]+)?([\w.-]+)(?:[ \t]*=[ \t]*|:[ \t]+)"
    r"('(?:\\'|[^'])*'|\"(?:\\\"|[^\"])*\"|`(?:\\`|[^`])*`|[^#\r\n]*)"
    r"[ \t]*(?:#[^\r\n]*)?(?:\r?\n|$)",
    re.MULTILINE,
)
_BARE = re.compile(r"[A-Za-z0-9_./:@%+=,~!?&*^-]+")


class _Assignment:
    def __init__(self, key: str, value: str, text: str, export: str) -> None:
        self.key, self.value, self.text, self.export = key, value, text, export


class DotenvDocument(MutableMapping):
    """A .env file's text; the keys this command sets are read and written, every other line is kept."""

    def __init__(self, text: str) -> None:
        self._parts: list[str | _Assignment] = []
        at = 0
        for match in _ASSIGNMENT.finditer(text):
            if match.start() > at:
                self._parts.append(text[at : match.start()])
            self._parts.append(_Assignment(match.group(2), _value(match.group(3)), match.group(0), match.group(1) or ""))
            at = match.end()
        if at < len(text):
            self._parts.append(text[at:])

    def _assignments(self, key: str) -> list[_Assignment]:
        return [p for p in self._parts if isinstance(p, _Assignment) and p.key == key]

    def __getitem__(self, key: str) -> str:
        found = self._assignments(key)
        if not found:
            raise KeyError(key)
        return found[-1].value

    def __setitem__(self, key: str, value: object) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a .env value is a string, not {type(value).__name__}")
        found = self._assignments(key)
        if found:  # in place, on the line that counts
            ending = "\n" if found[-1].text.endswith("\n") else ""
            found[-1].text, found[-1].value = f"{found[-1].export}{key}={_quoted(key, value)}{ending}", value
            return
        if self._parts and not self.text().endswith("\n"):
            self._parts.append("\n")
        self._parts.append(_Assignment(key, value, f"{key}={_quoted(key, value)}\n", ""))

    def __delitem__(self, key: str) -> None:
        found = self._assignments(key)
        if not found:
            raise KeyError(key)
        self._parts = [p for p in self._parts if not any(p is f for f in found)]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(p.key for p in self._parts if isinstance(p, _Assignment)))

    def __len__(self) -> int:
        return len(dict.fromkeys(p.key for p in self._parts if isinstance(p, _Assignment)))

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self._parts)


def _value(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"`":
        inner = value[1:-1]
        return inner.replace("\\n", "\n").replace("\\r", "\r") if value[0] == '"' else inner
    return value


def _quoted(key: str, value: str) -> str:
    if _BARE.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value and "\n" not in value:
        return f'"{value}"'
    raise SetupError(f"The value for {key} holds both ' and \" or \\: a .env file cannot hold it as is.", EXIT_BAD_INPUT)


# --- key paths ---------------------------------------------------------------------


def get_path(document: Mapping, path: KeyPath) -> object:
    node: object = document
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return ABSENT
        node = node[key]
    return node


def set_path(fmt: Format, document: MutableMapping, path: KeyPath, value: object) -> list[KeyPath]:
    """Sets `path` to `value`, creating the containers on the way; returns the containers created."""
    node = document
    created = []
    for depth, key in enumerate(path[:-1]):
        if key not in node:
            node[key] = fmt.new_container(node, holds_values=depth == len(path) - 2)
            created.append(path[: depth + 1])
        node = node[key]
    node[path[-1]] = value
    return created


def remove_path(document: MutableMapping, path: KeyPath) -> list[KeyPath]:
    """Removes `path`, then every container it leaves empty; returns the containers removed."""
    parents: list[MutableMapping] = [document]
    for key in path[:-1]:
        parents.append(parents[-1][key])
    del parents[-1][path[-1]]
    emptied = []
    for depth in range(len(path) - 1, 0, -1):
        if len(parents[depth]) == 0:
            del parents[depth - 1][path[depth - 1]]
            emptied.append(path[:depth])
        else:
            break
    return emptied


def misplaced_container(document: Mapping, path: KeyPath, leaf_is_container: bool = False) -> KeyPath | None:
    """The first key on `path` (the leaf too, when it must be a container) that holds a non-container."""
    node: object = document
    last = len(path) if leaf_is_container else len(path) - 1
    for depth, key in enumerate(path[:last]):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
        if not isinstance(node, Mapping):
            return path[: depth + 1]
    return None


def dotted(path: KeyPath) -> str:
    return ".".join(path)
