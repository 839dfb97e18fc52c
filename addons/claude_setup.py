"""Point Claude Code at the bridge by editing its user settings file.

    uv run python -m addons.claude_setup [--url URL] [--token TOKEN] [--settings PATH] [--dry-run] [--undo]

Claude Code reads `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR/settings.json`)
and exports the entries of its `"env"` object into its own environment. This
command sets `env.ANTHROPIC_BASE_URL` (and, with `--token`,
`env.ANTHROPIC_AUTH_TOKEN`, which Claude Code sends as `Authorization: Bearer`)
and leaves every other key of the file as it is.

Safety:
- Before the first change to an existing file, the file is copied to
  `settings.json.llm-bridge.bak`; later runs never overwrite that copy, so it
  keeps the earliest version this command changed.
- Writes are atomic (temp file in the same folder, fsync, os.replace) and keep
  the file's permission bits; a symlinked settings file is written through to
  its target. The JSON is re-serialised with a 2-space indent, so the other
  keys keep their values and order but not necessarily their formatting.
- A run that would change nothing reports "already set" and does not write.
- A file that is not a JSON object is refused (exit 2) and left untouched; an
  empty file counts as `{}`.
- The token is never printed in clear (shown as `sk-…abcd`).

`--undo` removes only what this command sets, and only while it still holds
this command's values: `ANTHROPIC_BASE_URL` when it equals `--url`, and
`ANTHROPIC_AUTH_TOKEN` when it equals `--token`, or (without `--token`) when
the bridge URL is removed in the same run, because a bridge token left behind
would be sent to the next endpoint Claude Code uses. An `env` object left
empty is removed too. Undo removes; it does not restore earlier values: those
are in the backup.

Exit codes: 0 done (or nothing to do), 1 the file could not be read or
written, 2 bad arguments or a malformed settings file.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BASE_URL_KEY = "ANTHROPIC_BASE_URL"
TOKEN_KEY = "ANTHROPIC_AUTH_TOKEN"
SECRET_KEYS = frozenset({TOKEN_KEY})
DEFAULT_URL = "http://127.0.0.1:8080"
BACKUP_SUFFIX = ".llm-bridge.bak"
SETTINGS_FILE = "settings.json"
NEW_FILE_MODE = 0o600  # the file may hold a token
NEW_FOLDER_MODE = 0o700

EXIT_OK = 0
EXIT_IO = 1
EXIT_BAD_INPUT = 2


class SetupError(Exception):
    """A failure to report in one sentence, with the exit code to return."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()  # a key missing from the file (JSON null is a value)


@dataclass(frozen=True)
class Change:
    """One `env` key going from `old` to `new`; `new is ABSENT` removes it."""

    key: str
    old: object
    new: object


# --- where the settings live ---------------------------------------------------


def default_settings_path(environ: dict[str, str] | None = None) -> Path:
    """`$CLAUDE_CONFIG_DIR/settings.json` when that is set, else `~/.claude/settings.json`."""
    environ = os.environ if environ is None else environ
    config_dir = environ.get("CLAUDE_CONFIG_DIR", "").strip()
    folder = Path(config_dir).expanduser() if config_dir else Path.home() / ".claude"
    return folder / SETTINGS_FILE


def backup_path(settings_path: Path) -> Path:
    return settings_path.with_name(settings_path.name + BACKUP_SUFFIX)


# --- arguments -----------------------------------------------------------------


def checked_url(url: str) -> str:
    """The base URL without trailing slashes; refuses what Claude Code cannot use."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SetupError(f"--url {url!r} must be an http:// or https:// URL with a host, e.g. {DEFAULT_URL}.", EXIT_BAD_INPUT)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SetupError(f"--url {url!r} must not contain a query, a fragment or user information.", EXIT_BAD_INPUT)
    # Claude Code appends /v1/messages itself; ".../v1" is the bridge's OpenAI address.
    if parts.path.endswith(("/v1", "/v1/messages")):
        raise SetupError(
            f"--url {url!r} ends in {parts.path[parts.path.rfind('/v1') :]}: Claude Code appends /v1/messages itself, "
            "so pass the address without it.",
            EXIT_BAD_INPUT,
        )
    return url


def checked_token(token: str | None) -> str | None:
    if token is None:
        return None
    if not token or token != token.strip() or any(c.isspace() for c in token):
        raise SetupError("--token must be non-empty and contain no spaces or line breaks.", EXIT_BAD_INPUT)
    return token


# --- reading -------------------------------------------------------------------


def read_original(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SetupError(f"Cannot read {path}: {exc.strerror or exc}.", EXIT_IO) from None


def parse_settings(path: Path, original: bytes | None) -> dict:
    if original is None:
        return {}
    try:
        text = original.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _malformed(path, "it is not UTF-8 text") from None
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _malformed(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(settings, dict):
        raise _malformed(path, "the top level is not a JSON object")
    if not isinstance(settings.get("env", {}), dict):
        raise _malformed(path, 'its "env" entry is not a JSON object')
    return settings


def _malformed(path: Path, why: str) -> SetupError:
    return SetupError(f"Cannot use {path}: {why}. Fix or move the file and run again; it was not changed.", EXIT_BAD_INPUT)


# --- planning ------------------------------------------------------------------


def setup_changes(settings: dict, url: str, token: str | None) -> list[Change]:
    """The env keys whose value differs from what setup wants."""
    env = settings.get("env", {})
    wanted = {BASE_URL_KEY: url} | ({TOKEN_KEY: token} if token is not None else {})
    return [Change(key, env.get(key, ABSENT), value) for key, value in wanted.items() if env.get(key, ABSENT) != value]


def undo_changes(settings: dict, url: str, token: str | None) -> list[Change]:
    """Removals of the env keys that still hold this command's values (see the module docstring)."""
    env = settings.get("env", {})
    changes = []
    current_url = env.get(BASE_URL_KEY, ABSENT)
    removes_url = isinstance(current_url, str) and current_url.rstrip("/") == url
    if removes_url:
        changes.append(Change(BASE_URL_KEY, current_url, ABSENT))
    current_token = env.get(TOKEN_KEY, ABSENT)
    # Without --token, a token goes with the bridge URL: left behind, it would be
    # sent as a Bearer token to whatever endpoint Claude Code uses next.
    token_is_ours = current_token == token if token is not None else removes_url
    if current_token is not ABSENT and token_is_ours:
        changes.append(Change(TOKEN_KEY, current_token, ABSENT))
    return changes


def kept_after_undo(settings: dict, changes: list[Change]) -> list[Change]:
    """Managed keys that undo leaves in place, for the report."""
    removed = {c.key for c in changes}
    env = settings.get("env", {})
    return [Change(k, env[k], env[k]) for k in (BASE_URL_KEY, TOKEN_KEY) if k in env and k not in removed]


def applied(settings: dict, changes: list[Change]) -> dict:
    """A copy of `settings` with `changes` made; an `env` left empty is dropped."""
    result = copy.deepcopy(settings)
    env = result.setdefault("env", {})
    for change in changes:
        if change.new is ABSENT:
            env.pop(change.key, None)
        else:
            env[change.key] = change.new
    if not env:
        del result["env"]
    return result


def render(settings: dict) -> bytes:
    return (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode()


# --- writing -------------------------------------------------------------------


def write_backup_once(backup: Path, original: bytes, mode: int) -> bool:
    """Copy the original file; False when a backup already exists (never overwritten)."""
    try:
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(original)
        out.flush()
        os.fsync(out.fileno())
    return True


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Readers see the old file or the new one, never a partial write."""
    path.parent.mkdir(mode=NEW_FOLDER_MODE, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)  # mkstemp creates 0600; keep the original's bits
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return NEW_FILE_MODE


# --- reporting -----------------------------------------------------------------


def mask_secret(value: str) -> str:
    """`sk-…abcd`: enough to recognise a token, not enough to use it."""
    return f"{value[:3]}…{value[-4:]}" if len(value) >= 12 else "…"


def shown(key: str, value: object) -> str:
    if value is ABSENT:
        return "(absent)"
    if key in SECRET_KEYS:
        value = mask_secret(value if isinstance(value, str) else json.dumps(value))
    return json.dumps(value, ensure_ascii=False)


def describe(change: Change) -> str:
    new = "(removed)" if change.new is ABSENT else shown(change.key, change.new)
    return f"  env.{change.key}: {shown(change.key, change.old)} -> {new}"


def describe_all(settings: dict, changes: list[Change]) -> list[str]:
    lines = [describe(c) for c in changes]
    env_after = applied(settings, changes).get("env")
    if "env" in settings and env_after is None:
        lines.append("  env: {} -> (removed, left empty)")
    return lines


# --- the command ---------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m addons.claude_setup",
        description=(
            "Point Claude Code at the bridge: set env.ANTHROPIC_BASE_URL (and env.ANTHROPIC_AUTH_TOKEN) "
            "in Claude Code's settings.json, keeping every other setting."
        ),
        epilog=(
            "The settings file is $CLAUDE_CONFIG_DIR/settings.json when CLAUDE_CONFIG_DIR is set, else "
            "~/.claude/settings.json. The first change to an existing file saves the original as "
            "settings.json.llm-bridge.bak. --undo removes ANTHROPIC_BASE_URL only if it still equals --url, "
            "and ANTHROPIC_AUTH_TOKEN only if it equals --token or, without --token, if that URL is removed too. "
            "Undo does not restore earlier values; the backup has them. Exit codes: 0 done, 1 read/write failure, 2 bad arguments or "
            "malformed settings."
        ),
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the bridge's address, without /v1 (default: {DEFAULT_URL})")
    parser.add_argument(
        "--token",
        help=(
            "a token from the bridge's [server] auth_tokens, written as ANTHROPIC_AUTH_TOKEN. If the bridge has "
            "no auth_tokens, any value works (it only spares Claude Code's login prompt). ANTHROPIC_API_KEY is "
            "not needed: the bridge uses its own provider keys."
        ),
    )
    parser.add_argument("--settings", type=Path, metavar="PATH", help="settings file to edit (default: see below)")
    parser.add_argument("--dry-run", action="store_true", help="print the changes (token masked) and write nothing")
    parser.add_argument("--undo", action="store_true", help="remove the keys this command set")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    url = checked_url(args.url)
    token = checked_token(args.token)
    path = (args.settings or default_settings_path()).expanduser()
    target = path.resolve()  # write through a symlink instead of replacing it
    original = read_original(target)
    settings = parse_settings(path, original)
    if args.undo:
        changes = undo_changes(settings, url, token)
    else:
        changes = setup_changes(settings, url, token)
    if args.undo:
        _report_kept(settings, changes, token)
    if not changes:
        print(f"Nothing to undo in {path}." if args.undo else f"Already set in {path}; nothing changed.")
        return EXIT_OK
    if args.dry_run:
        print(f"Dry run: would change {path} (nothing written):")
        print("\n".join(describe_all(settings, changes)))
        return EXIT_OK
    _write(path, target, original, applied(settings, changes))
    print(f"{'Undid' if args.undo else 'Updated'} {path}:")
    print("\n".join(describe_all(settings, changes)))
    if not args.undo:
        _report_api_key(settings)
        print("Start a new Claude Code session to use the bridge.")
    return EXIT_OK


def _write(path: Path, target: Path, original: bytes | None, settings: dict) -> None:
    mode = file_mode(target)
    try:
        if original is not None and write_backup_once(backup_path(path), original, mode):
            print(f"Saved the original as {backup_path(path)}.")
        write_atomically(target, render(settings), mode)
    except OSError as exc:
        raise SetupError(f"Cannot write {path}: {exc.strerror or exc}.", EXIT_IO) from None


def _report_kept(settings: dict, changes: list[Change], token: str | None) -> None:
    for kept in kept_after_undo(settings, changes):
        if kept.key == BASE_URL_KEY:
            why = "it is not --url"
        elif token is not None:
            why = "it is not --token"
        else:
            why = "it goes with another URL; pass --token to remove it"
        print(f"Kept env.{kept.key} = {shown(kept.key, kept.old)}: {why}.")


def _report_api_key(settings: dict) -> None:
    if "ANTHROPIC_API_KEY" in settings.get("env", {}):
        print("Note: env.ANTHROPIC_API_KEY is also set; the bridge does not need it and Claude Code will send it along.")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, or an argparse error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return run(args)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
