"""Files that hold rotating tokens, written so that a crash can never lose one.

Every write is atomic and durable: a temporary file in the same folder,
fsync, rename over the old file, fsync of the folder. Readers therefore see
the old file or the new one, never half of one, and a token is on disk before
the bridge uses what came with it.

`locked()` takes an exclusive `flock` on a sidecar `<file>.lock`, so two
bridge processes sharing the file refresh one at a time (the sidecar, not the
file itself, because the file is replaced by rename on every write).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str | None
    refresh_token: str | None
    expires_at: float | None = None  # epoch seconds; None: unknown
    refresh_expires_at: float | None = None
    updated_at: float | None = None


class TokenFile(Protocol):
    path: Path

    def read(self) -> TokenSet | None: ...
    def write(self, tokens: TokenSet) -> None: ...


def atomic_write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)  # tokens: the owner only
            fh.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> dict:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Blocking exclusive lock shared by every process using `path` (run it off the event loop)."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def fingerprint(secret: str) -> str:
    """Identifies a configured seed token without storing it twice (nor logging it)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class StoreEntry:
    """One credential in the bridge's own store file:
    `{"version": 1, "credentials": {"<name>": {access_token, refresh_token, expires_at, ...}}}`."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def _entry(self, data: dict) -> dict | None:
        entry = (data.get("credentials") or {}).get(self.name)
        return entry if isinstance(entry, dict) else None

    def read(self) -> TokenSet | None:
        entry = self._entry(read_json(self.path))
        if entry is None:
            return None
        return TokenSet(
            entry.get("access_token"), entry.get("refresh_token"), entry.get("expires_at"),
            entry.get("refresh_expires_at"), entry.get("updated_at"),
        )

    def seed(self) -> str | None:
        entry = self._entry(read_json(self.path))
        return entry.get("seed") if entry else None

    def write(self, tokens: TokenSet, *, seed: str | None = None) -> None:
        data = read_json(self.path)
        data.setdefault("version", 1)
        credentials = data.setdefault("credentials", {})
        old = credentials.get(self.name) or {}
        credentials[self.name] = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "refresh_expires_at": tokens.refresh_expires_at,
            "updated_at": tokens.updated_at or time.time(),
            "seed": seed if seed is not None else old.get("seed"),
        }
        atomic_write_json(self.path, data)


class FactoryAuthFile:
    """The Factory CLI's own `~/.factory/auth.json`: read and written back in place,
    its other fields untouched, so the CLI and the bridge keep sharing one login."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> TokenSet | None:
        data = read_json(self.path)
        if not data.get("refresh_token") and not data.get("access_token"):
            return None
        access = data.get("access_token")
        return TokenSet(access, data.get("refresh_token"), jwt_expiry(access) if access else None, None,
                        _epoch(data.get("last_updated")))

    def write(self, tokens: TokenSet) -> None:
        data = read_json(self.path)
        data["access_token"] = tokens.access_token
        data["refresh_token"] = tokens.refresh_token
        data["last_updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tokens.updated_at or time.time()))
        atomic_write_json(self.path, data)


def _epoch(value: object) -> float | None:
    """An ISO 8601 time (the auth file's `last_updated`) as epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)).timestamp()


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only to schedule a refresh)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else None


def default_store_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "llm-bridge" / "credentials.json"
