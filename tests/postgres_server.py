"""A private PostgreSQL server for the usage-ledger test: Debian's server binaries (found, or the `postgresql`
package installed with apt-get as root, else the test is skipped with the reason), a fresh cluster made with
initdb in a temporary folder, on a free loopback port. initdb refuses to run as root: as root the cluster is
made and run by the `postgres` user (or `nobody`) through runuser."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.bridge_process import free_port
from tests.debian_packages import require

VERSIONS = ("17", "16", "15", "14", "13")


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not found:
        found = [require("postgresql", *(f"/usr/lib/postgresql/{v}/bin/initdb" for v in VERSIONS))]
    return Path(found[0]).parent


def _user() -> str | None:
    """None: run as ourselves; else the user to run the server as (we are root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("running as root, and neither a `postgres` nor a `nobody` user to run PostgreSQL as (initdb refuses root)")


def _run(user: str | None, command: list[str], timeout: float = 60) -> None:
    if user is not None:
        runuser = shutil.which("runuser") or shutil.which("su")
        if runuser is None:
            pytest.skip("running as root without runuser or su to run PostgreSQL as another user")
        command = ["runuser", "-u", user, "--", *command] if runuser.endswith("runuser") else \
            ["su", user, "-s", "/bin/sh", "-c", " ".join(command)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.skip(f"PostgreSQL: {command[-1]} did not finish within {timeout:g} s")
    if run.returncode != 0:
        pytest.skip(f"PostgreSQL could not be started: {' '.join(command)}: {(run.stdout + run.stderr)[-600:]}")


@contextmanager
def postgres_server():
    """Yields the URL of a fresh database (user `bridge`, trust authentication on loopback)."""
    bin_dir = _bin_dir()
    user = _user()
    folder = Path(tempfile.mkdtemp(prefix="llm-bridge-pg-", dir="/tmp"))  # (pytest's tmp_path is root's alone)
    data = folder / "data"
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o700)
    port = free_port()
    started = False
    try:
        _run(user, [str(bin_dir / "initdb"), "-D", str(data), "-U", "bridge", "--auth=trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions"])
        _run(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "30",
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        started = True
        yield f"postgresql://bridge@127.0.0.1:{port}/postgres"
    finally:
        if started:
            try:
                _run(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
            except pytest.skip.Exception:
                pass
        shutil.rmtree(folder, ignore_errors=True)
