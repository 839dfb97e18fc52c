"""The cluster's private Redis: Debian's `redis-server` on a unix socket in the cluster's private run directory
(no TCP port, nothing persisted), handed to the workers as LLM_BRIDGE_REDIS_URL so they share key cool-downs,
the round robin and refresh-token rotation (addons/state). Not started when the configuration names its own
Redis (`[state] redis_url`, or LLM_BRIDGE_REDIS_URL already set), nor with --no-redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS_ENV = "LLM_BRIDGE_REDIS_URL"
INSTALL_HINT = "apt-get install redis-server"
SBIN = ("/usr/bin", "/usr/sbin", "/usr/local/bin")


class RedisMissing(Exception):
    pass


def find_redis_server(path: str | None = None) -> str:
    search = os.pathsep.join([path if path is not None else os.environ.get("PATH", ""), *SBIN])
    found = shutil.which("redis-server", path=search)
    if found:
        return found
    raise RedisMissing(f"redis-server is missing (the workers share key cool-downs and token refreshes through it): "
                       f"install Debian's package with `sudo {INSTALL_HINT}`, or pass --no-redis (each worker then "
                       f"keeps its own)")


def configured_redis(config_path: str) -> str | None:
    """The Redis the configuration or the environment already names, if any."""
    if os.environ.get(REDIS_ENV):
        return os.environ[REDIS_ENV]
    if not config_path:
        return None
    from addons.config import ConfigError, load_config  # noqa: PLC0415 - only when a config is named
    try:
        return load_config(config_path).state.redis_url
    except (ConfigError, OSError):
        return None  # the workers report the config's problem


def answers_ping(family: int, address) -> bool:
    """Whether a Redis server answers PING at `address` (a unix socket's path, or (host, port))."""
    try:
        with socket.socket(family) as s:
            s.settimeout(0.5)
            s.connect(address)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    def __init__(self, program: str, run_dir: Path) -> None:
        self.program = program
        self.socket = run_dir / "redis.sock"
        self.folder = run_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10, **popen) -> None:
        self.process = subprocess.Popen(
            [self.program, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.process.returncode}) while starting")
            if self.ping():
                return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not answer PING")

    def ping(self) -> bool:
        return answers_ping(socket.AF_UNIX, str(self.socket))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
