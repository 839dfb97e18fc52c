"""A private redis-server for tests: Debian's (found, or installed with apt-get as root, else the test skips
with the reason), on a free loopback port, in a temporary folder, persisting nothing."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path

from addons.cluster.redis import answers_ping
from tests.bridge_process import free_port
from tests.debian_packages import require


class RedisServer:
    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.program = require("redis-server", "/usr/bin/redis-server", "redis-server")
        self._tmp = None if folder is not None else tempfile.TemporaryDirectory(prefix="redis-")
        self.folder = Path(folder if folder is not None else self._tmp.name)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "RedisServer":
        self._log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--daemonize", "no", "--protected-mode", "yes"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.folder)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.process.returncode}): {(self.folder / 'redis.log').read_text()}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise TimeoutError("redis-server did not answer PING")

    def ping(self) -> bool:
        return answers_ping(socket.AF_INET, ("127.0.0.1", self.port))

    def kill(self) -> None:
        """SIGKILL: the server goes away as a crashed or unplugged one does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None:
            self._log.close()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
