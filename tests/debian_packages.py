"""Real programs from Debian's packages that some tests need (chromium, strace): found on this
machine, else installed with apt-get when the tests run as root, else the test is skipped with
the reason printed (CI machines are fresh: the test suite installs what it needs itself)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

APT_TIMEOUT_S = 600


def _found(commands: tuple[str, ...]) -> str | None:
    for command in commands:
        path = command if os.path.isabs(command) else shutil.which(command)
        if path and os.access(path, os.X_OK):
            return path
    return None


def _apt_install(package: str) -> str:
    """Installs the Debian package; returns apt's output tail for the skip reason."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    deadline = time.monotonic() + APT_TIMEOUT_S
    try:
        run = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S)
        missing_lists = "Unable to locate package" in run.stderr or "no installation candidate" in run.stderr
        if run.returncode != 0 and missing_lists:  # a fresh image without package lists
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=max(1, deadline - time.monotonic()))
            run = subprocess.run(install, env=env, capture_output=True, text=True, timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return f"apt-get did not finish within {APT_TIMEOUT_S} s"
    return (run.stdout + run.stderr)[-400:]


def require(package: str, *commands: str) -> str:
    """The path of the package's program (`commands`: where to look, first found wins)."""
    found = _found(commands)
    if found:
        return found
    is_root = getattr(os, "geteuid", lambda: -1)() == 0
    if not (is_root and shutil.which("apt-get")):
        pytest.skip(f"no {commands[0]}, and not root with apt-get to install the Debian package `{package}`")
    output = _apt_install(package)
    found = _found(commands)
    if not found:
        pytest.skip(f"{commands[0]} is missing and `apt-get install {package}` failed: {output}")
    return found
