"""The safe handling of a client's configuration file, whatever its format or client.

- Read: the file's bytes, or None when it does not exist yet; a symlink is followed (the caller writes
  through it to its target instead of replacing it).
- Backup: before the first change to an existing file, its bytes are copied to `<name>.llm-bridge.bak`
  (created exclusively: a later run never overwrites it, so it keeps the earliest version changed).
- Write: atomically (a temp file in the same folder, fsync, os.replace, fsync of the folder), keeping the
  file's permission bits; a new file is 0600 (it may hold a token) in a folder created 0700.
- Report: a token is never printed in clear (`sk-…abcd`).

Nothing here knows a client; `plan.py` decides what changes and `command.py` runs it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8080"
BACKUP_SUFFIX = ".llm-bridge.bak"
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


def malformed(path: Path, why: str) -> SetupError:
    return SetupError(f"Cannot use {path}: {why}. Fix or move the file and run again; it was not changed.", EXIT_BAD_INPUT)


# --- arguments -----------------------------------------------------------------


def checked_url(url: str, suffixes: tuple[str, ...], why: str) -> str:
    """The bridge's base URL without trailing slashes; refuses what the client cannot use.

    `suffixes` are endings the address must not have (the bridge's "/v1", the client's own path), and
    `why` says who appends them, e.g. "Claude Code appends /v1/messages itself"."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SetupError(f"--url {url!r} must be an http:// or https:// URL with a host, e.g. {DEFAULT_URL}.", EXIT_BAD_INPUT)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SetupError(f"--url {url!r} must not contain a query, a fragment or user information.", EXIT_BAD_INPUT)
    for suffix in sorted(suffixes, key=len, reverse=True):
        if parts.path.endswith(suffix):
            raise SetupError(f"--url {url!r} ends in {suffix}: {why}, so pass the address without it.", EXIT_BAD_INPUT)
    return url


def checked_token(token: str | None) -> str | None:
    if token is None:
        return None
    if not token or token != token.strip() or any(c.isspace() for c in token):
        raise SetupError("--token must be non-empty and contain no spaces or line breaks.", EXIT_BAD_INPUT)
    return token


# --- reading -------------------------------------------------------------------


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_original(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SetupError(f"Cannot read {path}: {exc.strerror or exc}.", EXIT_IO) from None


def file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return NEW_FILE_MODE


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


# --- reporting -----------------------------------------------------------------


def mask_secret(value: str) -> str:
    """`sk-…abcd`: enough to recognise a token, not enough to use it."""
    return f"{value[:3]}…{value[-4:]}" if len(value) >= 12 else "…"
