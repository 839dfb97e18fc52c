"""What a setup or an undo changes, decided on parsed files (no I/O).

A client says what it writes as `Entry`s: a file, a key path and a value, with a role that says how undo
recognises it as this command's:

- URL: the bridge's address, which marks the client's settings as this command's. Undo removes it while
  it still equals --url (trailing slashes aside).
- TOKEN: removed when it equals --token or, without --token, when the client's URL is removed in the same
  run: a bridge token left behind would be sent to whatever endpoint the client uses next.
- FIXED: a constant (`wire_api = "responses"`); removed with the URL, while it still holds that constant.
- CHOSEN: a choice made with --model; removed with the URL (with --model, only while it equals it).

Undo removes only what is still this command's, and drops a container (a JSON object, a TOML table) that
the removal leaves empty. When the file has a backup and differs from it only in what this command
manages, undo writes the backup back instead, byte for byte (see `restorable`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import Enum

from addons.client_setup.config_file import mask_secret
from addons.client_setup.formats import ABSENT, Format, KeyPath, dotted, get_path, remove_path, set_path


class Role(Enum):
    URL = "url"
    TOKEN = "token"
    FIXED = "fixed"
    CHOSEN = "chosen"


@dataclass(frozen=True)
class Entry:
    """One setting a client's setup writes: `value` at `path` in the client's file `file`."""

    file: str
    path: KeyPath
    value: object  # None: this run does not write it (a CHOSEN entry without --model)
    role: Role
    merge: Callable[[object], object] | None = None  # the value to write, given the current one
    show: Callable[[object], str] | None = None  # how to print a value (default: JSON)
    must_be_container: bool = False  # the value is an object/table the user may extend
    mine: Callable[[object], bool] | None = None  # for a CHOSEN entry undone without --model: is it ours?


@dataclass(frozen=True)
class Change:
    """`entry`'s key going from `old` to `new`; `new is ABSENT` removes it."""

    entry: Entry
    old: object
    new: object

    @property
    def file(self) -> str:
        return self.entry.file


@dataclass(frozen=True)
class Kept:
    """A managed key undo leaves in place, and why."""

    entry: Entry
    value: object
    why: str


@dataclass
class UndoPlan:
    changes: list[Change] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


# --- setting up --------------------------------------------------------------------


def setup_changes(entries: list[Entry], documents: Mapping[str, Mapping], formats: Mapping[str, Format]) -> list[Change]:
    """The entries whose value differs from what setup wants."""
    changes = []
    for entry in entries:
        if entry.value is None:
            continue
        current = formats[entry.file].plain(get_path(documents[entry.file], entry.path))
        wanted = entry.merge(current) if entry.merge else entry.value
        if current != wanted or type(current) is not type(wanted):
            changes.append(Change(entry, current, wanted))
    return changes


# --- undoing -----------------------------------------------------------------------


def holds_url(value: object, url: object) -> bool:
    return isinstance(value, str) and isinstance(url, str) and value.rstrip("/") == url.rstrip("/")


def undo_plan(entries: list[Entry], documents: Mapping[str, Mapping], formats: Mapping[str, Format],
              token: str | None) -> UndoPlan:
    """Removals of the entries that still hold this command's values (see the module docstring)."""
    current = {id(e): formats[e.file].plain(get_path(documents[e.file], e.path)) for e in entries}
    url_is_ours = any(e.role is Role.URL and holds_url(current[id(e)], e.value) for e in entries)
    plan = UndoPlan()
    for entry in entries:
        value = current[id(entry)]
        if value is ABSENT:
            continue
        why = _why_kept(entry, value, url_is_ours, token)
        if why is None:
            plan.changes.append(Change(entry, value, ABSENT))
        else:
            plan.kept.append(Kept(entry, value, why))
    return plan


def _why_kept(entry: Entry, value: object, url_is_ours: bool, token: str | None) -> str | None:
    """None when undo removes the entry, else the reason it stays."""
    if entry.role is Role.URL:
        return None if holds_url(value, entry.value) else "it is not --url"
    if entry.role is Role.TOKEN:
        if token is not None:
            return None if value == token else "it is not --token"
        return None if url_is_ours else "it goes with another URL; pass --token to remove it"
    if not url_is_ours:
        return "it goes with another URL"
    if entry.role is Role.FIXED and value != entry.value:
        return "it was changed since"
    if entry.role is Role.CHOSEN and entry.value is not None and entry.merge is None and value != entry.value:
        return "it is not --model"
    if entry.role is Role.CHOSEN and entry.value is None and entry.mine is not None and not entry.mine(value):
        return "it is not this command's"
    return None


# --- applying ------------------------------------------------------------------------


def apply(fmt: Format, document: MutableMapping, changes: list[Change]) -> list[KeyPath]:
    """Makes `changes` in `document` (in place); returns the containers removals left empty and removed."""
    emptied: list[KeyPath] = []
    created: list[KeyPath] = []
    for change in changes:
        if change.new is ABSENT:
            emptied += remove_path(document, change.entry.path)
        else:
            created += set_path(fmt, document, change.entry.path, change.new)
    fmt.tidy(document, created)
    return emptied


def restorable(fmt: Format, current: MutableMapping, backup: MutableMapping, changes: list[Change],
               kept: list[Kept]) -> bool:
    """Whether writing the backup back undoes exactly this command's settings in this file.

    True when the file without this command's keys equals the backup without the same keys (the user
    changed nothing else since), and each managed key undo keeps holds the backup's value (one the user
    set since would be lost). `current` and `backup` are fresh parses; both are changed here."""
    if not changes or any(fmt.plain(get_path(backup, k.entry.path)) != k.value for k in kept):
        return False
    apply(fmt, current, changes)
    for change in changes:
        if get_path(backup, change.entry.path) is not ABSENT:
            remove_path(backup, change.entry.path)
    return fmt.plain(current) == fmt.plain(backup)


def restore_changes(entries: list[Entry], current: Mapping, backup: Mapping, fmt: Format) -> list[Change]:
    """What writing the backup back does to the managed keys, for the report."""
    changes = []
    for entry in entries:
        old, new = fmt.plain(get_path(current, entry.path)), fmt.plain(get_path(backup, entry.path))
        if old != new:
            changes.append(Change(entry, old, new))
    return changes


# --- reporting ------------------------------------------------------------------------


def shown(entry: Entry, value: object) -> str:
    if value is ABSENT:
        return "(absent)"
    if entry.role is Role.TOKEN:
        return json.dumps(mask_secret(value if isinstance(value, str) else json.dumps(value)), ensure_ascii=False)
    if entry.show is not None:
        return entry.show(value)
    return json.dumps(value, ensure_ascii=False)


def describe(change: Change) -> str:
    new = "(removed)" if change.new is ABSENT else shown(change.entry, change.new)
    return f"  {dotted(change.entry.path)}: {shown(change.entry, change.old)} -> {new}"


def describe_all(changes: list[Change], emptied: list[KeyPath]) -> list[str]:
    return [describe(c) for c in changes] + [f"  {dotted(path)}: {{}} -> (removed, left empty)" for path in emptied]


def describe_kept(kept: Kept) -> str:
    return f"Kept {dotted(kept.entry.path)} = {shown(kept.entry, kept.value)}: {kept.why}."
