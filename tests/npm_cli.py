"""A command-line client from the npm registry, installed into .cache/ (git-ignored) by the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.bridge_process import ROOT


def install(package: str, version: str, binary: str) -> Path | None:
    """The installed `binary` of `package@version`, installed when missing; None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    prefix = ROOT / ".cache" / package.rsplit("/", 1)[-1]
    path = prefix / "node_modules" / ".bin" / binary
    manifest = prefix / "node_modules" / package / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    if installed != version or not path.exists():
        subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                        f"{package}@{version}"], check=True, timeout=600)
    return path



def install_packages(name: str, packages: dict[str, str]) -> Path | None:
    """A folder with `packages` (name -> version) in its node_modules, installed when missing; None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    prefix = ROOT / ".cache" / name
    missing = [f"{package}@{version}" for package, version in packages.items()
               if not _installed(prefix / "node_modules" / package / "package.json", version)]
    if missing:
        subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                        *missing], check=True, timeout=600)
    return prefix


def _installed(manifest: Path, version: str) -> bool:
    return manifest.exists() and json.loads(manifest.read_text())["version"] == version


def installed_or_skip(install, what: str) -> Path:
    """`install()`'s binary, or the test skipped with the reason (no npm, or no registry to install from)."""
    import pytest  # noqa: PLC0415 - only tests call this

    try:
        path = install()
    except Exception as exc:  # noqa: BLE001 - no registry: say so
        pytest.skip(f"{what} could not be installed from the npm registry: {exc}")
    if path is None:
        pytest.skip("npm is not installed")
    return path
