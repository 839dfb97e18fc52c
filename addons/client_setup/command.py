"""The command: `python -m addons.client_setup CLIENT [options]` (see `__init__.py`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from addons.client_setup import claude_code, codex, gemini_cli, opencode
from addons.client_setup.bridge_models import served_models
from addons.client_setup.client import Client, ConfigFile, Options
from addons.client_setup.config_file import (
    DEFAULT_URL,
    EXIT_BAD_INPUT,
    EXIT_IO,
    EXIT_OK,
    SetupError,
    backup_path,
    checked_token,
    checked_url,
    file_mode,
    malformed,
    read_original,
    write_atomically,
    write_backup_once,
)
from addons.client_setup.formats import ABSENT, dotted, get_path, misplaced_container
from addons.client_setup.plan import (
    Change,
    Entry,
    Kept,
    Role,
    apply,
    describe_all,
    describe_kept,
    holds_url,
    restorable,
    restore_changes,
    setup_changes,
    undo_plan,
)

CLIENTS: dict[str, Client] = {c.name: c for c in (claude_code.CLIENT, codex.CLIENT, gemini_cli.CLIENT, opencode.CLIENT)}

DESCRIPTION = """\
Point a coding client at the bridge: write the bridge's URL (and token) into the client's own
configuration, keeping everything else in it. Run `CLIENT --help` for what each one writes."""

SAFETY = """\
Safety: before the first change to an existing file it is copied to <file>.llm-bridge.bak (never
overwritten later, so it keeps the earliest version); writes are atomic (temp file, fsync, rename) and
keep the file's permission bits (a new file is 0600); a symlink is written through; a run that would
change nothing writes nothing; a file that cannot be parsed is refused and left untouched; the token
is never printed in clear.

--undo: when the file differs from its backup only in the keys this command manages, and those still
hold this command's values, the backup is written back byte for byte and then deleted. Otherwise (no
backup: setup created the file; or the file was changed since) only the keys still holding this
command's values are removed, and objects or tables left empty with them (a file setup created is
left empty, not deleted); earlier values stay in the backup. --undo takes the same --url (and --token)
as the setup it undoes.

Exit codes: 0 done (or nothing to do), 1 a file (or the bridge's model list) could not be read or
written, 2 bad arguments or a malformed file."""


# --- arguments ---------------------------------------------------------------------


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=SAFETY,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    clients = parser.add_subparsers(dest="client", metavar="CLIENT", required=True, title="clients")
    for client in CLIENTS.values():
        sub = clients.add_parser(client.name, help=client.summary, description=client.description, epilog=SAFETY,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--url", default=DEFAULT_URL,
                         help=f"the bridge's address, without /v1 (default: {DEFAULT_URL})")
        sub.add_argument("--token", help=client.token_help)
        names = ", ".join(f.name for f in client.files)
        sub.add_argument("--config", *client.config_aliases, dest="config", type=Path, metavar="PATH",
                         help=f"the {client.files[0].name} to edit instead of the default one"
                         + (f" (the others, {names}, are written beside it)" if len(client.files) > 1 else ""))
        if client.model_help:
            sub.add_argument("--model", action="append", metavar="MODEL", help=client.model_help)
        sub.add_argument("--dry-run", action="store_true", help="print the changes (token masked) and write nothing")
        sub.add_argument("--undo", action="store_true", help="take out what this command set (see below)")
    return parser


def _models(client: Client, given: list[str] | None) -> tuple[str, ...]:
    models = tuple(given or ())
    for model in models:
        if not model or model != model.strip() or any(c.isspace() for c in model):
            raise SetupError("--model must be non-empty and contain no spaces or line breaks.", EXIT_BAD_INPUT)
    if client.single_model and len(models) > 1:
        raise SetupError(f"{client.name} takes one --model.", EXIT_BAD_INPUT)
    return models


# --- the files -----------------------------------------------------------------------


@dataclass
class FileState:
    config: ConfigFile
    path: Path  # as named
    target: Path  # where it is written: a symlink's target
    original: bytes | None
    document: Mapping = field(default_factory=dict)

    @classmethod
    def read(cls, config: ConfigFile, path: Path) -> FileState:
        target = path.resolve()  # write through a symlink instead of replacing it
        state = cls(config, path, target, read_original(target))
        state.document = state.fresh()
        return state

    def fresh(self):
        """The file parsed anew (a copy to change)."""
        return self.config.format.parse(self.path, self.original)


@dataclass
class Write:
    state: FileState
    data: bytes
    lines: list[str]
    restores: bool = False  # `data` is the backup, which goes once written back


def _check_containers(states: Mapping[str, FileState], entries: list[Entry]) -> None:
    for entry in entries:
        state = states[entry.file]
        bad = misplaced_container(state.document, entry.path, entry.must_be_container)
        if bad is not None:
            raise malformed(state.path, f'its "{dotted(bad)}" entry is not {state.config.format.container}')


def _rendered(state: FileState, document: Mapping) -> bytes:
    """The file's new bytes, once checked to read back as the document they were made from."""
    fmt = state.config.format
    data = fmt.render(document)
    if fmt.plain(fmt.parse(state.path, data)) != fmt.plain(document):
        # e.g. a new top-level TOML key placed after a table by tomlkit, next to top-level dotted keys
        raise SetupError(f"Cannot edit {state.path} safely: its layout would make the new settings read back "
                         "differently. It was not changed; set them by hand (see --help), or move the file and "
                         "run again.", EXIT_BAD_INPUT)
    return data


def _named(states: Mapping[str, FileState]) -> str:
    return " and ".join(str(s.path) for s in states.values())


# --- setting up ----------------------------------------------------------------------


def _setup(client: Client, states: dict[str, FileState], options: Options, dry_run: bool,
           environ: Mapping[str, str]) -> int:
    entries = client.entries(options)
    formats = {label: s.config.format for label, s in states.items()}
    changes = setup_changes(entries, {label: s.document for label, s in states.items()}, formats)
    if not changes:
        print(f"Already set in {_named(states)}; nothing changed.")
        return EXIT_OK
    writes, after = [], {}
    for label, state in states.items():
        document = state.fresh()
        mine = [c for c in changes if c.file == label]
        if mine:
            apply(state.config.format, document, mine)
            writes.append(Write(state, _rendered(state, document), describe_all(mine, [])))
        after[label] = document
    if dry_run:
        _print_writes(writes, "Dry run: would change {path} (nothing written):")
        return EXIT_OK
    _write_all(writes, back_up=True)
    _print_writes(writes, "Updated {path}:")
    for line in client.notes(after, options, environ) + _readable_token_notes(writes, changes):
        print(line)
    print(client.next_step(options))
    return EXIT_OK


def _readable_token_notes(writes: list[Write], changes: list[Change]) -> list[str]:
    files = {c.file for c in changes if c.entry.role is Role.TOKEN and c.new is not ABSENT}
    notes = []
    for write in writes:
        mode = file_mode(write.state.target)
        if write.state.config.label in files and mode & 0o077:
            notes.append(f"Note: {write.state.path} holds the token and other users may read it "
                         f"(mode {mode:04o}); chmod 600 it.")
    return notes


# --- undoing ---------------------------------------------------------------------------


def _undo(client: Client, states: dict[str, FileState], options: Options, dry_run: bool) -> int:
    entries = client.entries(options)
    formats = {label: s.config.format for label, s in states.items()}
    plan = undo_plan(entries, {label: s.document for label, s in states.items()}, formats, options.token)
    for kept in plan.kept:
        print(describe_kept(kept))
    if not plan.changes:
        print(f"Nothing to undo in {_named(states)}.")
        return EXIT_OK
    backups = {label: _backup(state) for label, state in states.items()}
    # A backup that itself points at this bridge (saved by a second setup) is not the state to go back to.
    may_restore = not any(
        e.role is Role.URL and backups[e.file] is not None
        and holds_url(formats[e.file].plain(get_path(backups[e.file][1], e.path)), e.value)
        for e in entries
    )
    writes, notes = [], []
    for label, state in states.items():
        mine = [c for c in plan.changes if c.file == label]
        if not mine:
            continue
        kept = [k for k in plan.kept if k.entry.file == label]
        managed = [e for e in entries if e.file == label]
        write = _undo_write(state, mine, kept, managed, backups[label] if may_restore else None)
        writes.append(write)
        if backups[label] is not None and not write.restores:
            notes.append(f"Kept the backup {backup_path(state.path)}: the file was changed otherwise since the setup "
                         "(or the backup points at this bridge too), so only this command's keys were removed; "
                         "earlier values are in the backup.")
    if dry_run:
        _print_writes(writes, "Dry run: would change {path} (nothing written):")
        return EXIT_OK
    _write_all(writes, back_up=False)
    _print_writes(writes, "Undid {path}:")
    for line in notes:
        print(line)
    return EXIT_OK


def _undo_write(state: FileState, changes: list[Change], kept: list[Kept], managed: list[Entry],
                backup: tuple[bytes, Mapping] | None) -> Write:
    """The backup's bytes when they undo exactly this command's settings, else the file less them."""
    fmt = state.config.format
    if backup is not None and restorable(fmt, state.fresh(), fmt.parse(state.path, backup[0]), changes, kept):
        restored = fmt.parse(state.path, backup[0])
        emptied = [p for p in apply(fmt, state.fresh(), changes) if get_path(restored, p) is ABSENT]
        lines = describe_all(restore_changes(managed, state.document, restored, fmt), emptied)
        lines.append(f"  (that is {backup_path(state.path)} byte for byte, deleted once written back)")
        return Write(state, backup[0], lines, restores=True)
    document = state.fresh()
    emptied = apply(fmt, document, changes)
    return Write(state, _rendered(state, document), describe_all(changes, emptied))


def _backup(state: FileState) -> tuple[bytes, Mapping] | None:
    """The backup's bytes and parse, or None when there is none or it cannot be parsed any more."""
    data = read_original(backup_path(state.path))
    if data is None:
        return None
    try:
        return data, state.config.format.parse(backup_path(state.path), data)
    except SetupError:
        return None


# --- writing ----------------------------------------------------------------------------


def _write_all(writes: list[Write], back_up: bool) -> None:
    """Every write or none: a failure puts back the files already written (and drops new backups)."""
    done: list[tuple[Write, int]] = []
    saved: list[Path] = []
    write = None
    try:
        for write in writes:
            state = write.state
            mode = file_mode(state.target)
            if back_up and state.original is not None and write_backup_once(backup_path(state.path), state.original, mode):
                saved.append(backup_path(state.path))
            write_atomically(state.target, write.data, mode)
            done.append((write, mode))
    except OSError as exc:
        assert write is not None
        left = _roll_back(done, saved)
        also = f" {left}" if left else (" The files written before it were put back." if done else "")
        raise SetupError(f"Cannot write {write.state.path}: {exc.strerror or exc}.{also}", EXIT_IO) from None
    for path in saved:
        print(f"Saved the original as {path}.")
    for write in writes:
        if write.restores:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup_path(write.state.path))


def _roll_back(done: list[tuple[Write, int]], saved: list[Path]) -> str:
    failed = []
    for write, mode in reversed(done):
        state = write.state
        try:
            if state.original is None:
                os.unlink(state.target)
            else:
                write_atomically(state.target, state.original, mode)
        except OSError:
            failed.append(str(state.path))
    for path in saved:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return f"Could not put back {', '.join(failed)}: see its backup." if failed else ""


# --- the command ---------------------------------------------------------------------------


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = CLIENTS[args.client]
    url = checked_url(args.url, client.url_suffixes, client.url_why)
    token = checked_token(args.token)
    models = _models(client, getattr(args, "model", None))
    paths = client.paths(args.config, environ)
    states = {f.label: FileState.read(f, paths[f.label]) for f in client.files}
    options = Options(url, token, models[0] if models else None, models)
    _check_containers(states, client.entries(options))
    if args.undo:
        return _undo(client, states, options, args.dry_run)
    if client.lists_models and not models:
        options = Options(url, token, None, served_models(url, token))
    return _setup(client, states, options, args.dry_run, environ)


def main(argv: Sequence[str] | None = None, prog: str = "python -m addons.client_setup") -> int:
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help, or an argparse error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return run(args, os.environ)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _print_writes(writes: list[Write], heading: str) -> None:
    """Each file's `heading` (its path in `{path}`), then what changed in it."""
    for write in writes:
        print(heading.format(path=write.state.path))
        print("\n".join(write.lines))
