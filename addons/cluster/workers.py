"""The workers: `mitmdump -s addons/bridge.py` each on its own loopback port, watched and restarted.

Every worker gets the options the cluster was given (minus where to listen: 127.0.0.1 and its own port,
so the listen guard has nothing to move) and its identity in the environment:

- `LLM_BRIDGE_WORKER=i` (1..N): the worker knows it is one of several, and which;
- `PROMETHEUS_MULTIPROC_DIR`: one private directory shared by all the workers (prometheus_client's
  multi-process mode), emptied when the cluster starts.

A worker that exits is started again on the same port after a backoff (0.5 s, doubling to 30 s; back
to 0.5 s once a worker has stayed up 60 s). HAProxy marked it down when it died and sends it nothing
until its health check passes again. Children run in their own process group (Ctrl-C reaches the
cluster only, which drains), and die with the cluster (PR_SET_PDEATHSIG) if it is killed outright.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from addons.health import HEALTH_PATH, WORKER_ENV

ROOT = Path(__file__).resolve().parent.parent.parent
BRIDGE_SCRIPT = ROOT / "addons" / "bridge.py"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
PR_SET_PDEATHSIG = 1
# HAProxy checks each worker every second: those flows are not printed (unless the options set their own filter)
CONNECTION_LINE = re.compile(rb"\] (client|server) (connect|disconnect)\b")  # mitmproxy's, one pair per connection
QUIET_HEALTH_CHECKS = f"--set=dumper_filter=!(~u {HEALTH_PATH}$)"


def mitmdump() -> str:
    """The mitmdump of this Python environment (the one `uv run` set up)."""
    beside = Path(sys.executable).parent / "mitmdump"
    return str(beside) if beside.exists() else (shutil.which("mitmdump") or "mitmdump")


def die_with_parent() -> None:
    """In the child, before exec: its own process group, and SIGTERM when the cluster process dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the children outlive a killed cluster


def prepare_multiproc_dir(path: Path) -> None:
    """The shared metrics directory, emptied: counters of a previous run must not add to this one's."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def mark_dead(pid: int, multiproc_dir: Path) -> None:
    """prometheus_client's clean-up for a dead worker's live gauges (when the metrics library is there)."""
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    try:
        multiprocess.mark_process_dead(pid, str(multiproc_dir))
    except OSError:
        pass


class Worker:
    def __init__(self, index: int, port: int, options: list[str], env: dict[str, str], output) -> None:
        self.index = index
        self.port = port
        self.options = options
        self.env = env
        self.output = output  # where its log lines go, each prefixed with [worker i]
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.backoff = BACKOFF_FIRST_S
        self.restart_at: float | None = None
        self.restarts = 0

    @property
    def argv(self) -> list[str]:
        quiet = [] if any("dumper_filter" in option for option in self.options) else [QUIET_HEALTH_CHECKS]
        return [mitmdump(), "-s", str(BRIDGE_SCRIPT), *quiet, *self.options, "--listen-host", "127.0.0.1",
                "-p", str(self.port)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, cwd=os.getcwd(), env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, process_group=0, preexec_fn=die_with_parent,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        threading.Thread(target=self._copy_output, args=(self.process,), daemon=True,
                         name=f"worker{self.index}-log").start()

    def _copy_output(self, process: subprocess.Popen) -> None:
        prefix = f"[worker {self.index}] ".encode()
        for line in process.stdout:
            if CONNECTION_LINE.search(line):
                continue  # one pair per request and per health check (every second): noise here
            self.output.write(prefix + line)
            self.output.flush()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}{HEALTH_PATH}", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()


class Workers:
    def __init__(self, ports: list[int], options: list[str], multiproc_dir: Path, output, log,
                 extra_env: dict[str, str] | None = None) -> None:
        base = {**os.environ, MULTIPROC_ENV: str(multiproc_dir), **(extra_env or {})}
        self.multiproc_dir = multiproc_dir
        self.log = log  # the cluster's own messages
        self.workers = [Worker(i, port, options, {**base, WORKER_ENV: str(i)}, output)
                        for i, port in enumerate(ports, start=1)]

    def __iter__(self):
        return iter(self.workers)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def wait_ready(self, timeout: float, stop=lambda: False) -> Worker | None:
        """Waits until every worker answers its health check (or `stop()`); the first worker that exited instead."""
        deadline = time.monotonic() + timeout
        waiting = list(self.workers)
        while waiting and not stop():
            for worker in list(waiting):
                if not worker.alive():
                    return worker
                if worker.healthy():
                    waiting.remove(worker)
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"worker {waiting[0].index} did not answer GET /healthz within {timeout:g} s")
            if waiting:
                time.sleep(0.1)
        return None

    def supervise(self) -> None:
        """One round: a worker that exited is scheduled for a restart, and restarted when its backoff is over."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.alive():
                if now - worker.started_at > STABLE_AFTER_S:
                    worker.backoff = BACKOFF_FIRST_S
                continue
            if worker.restart_at is None:
                code = worker.process.returncode if worker.process is not None else None
                mark_dead(worker.pid, self.multiproc_dir)
                worker.restart_at = now + worker.backoff
                self.log(f"worker {worker.index} (pid {worker.pid}) exited ({_exit_status(code)}); "
                         f"restarting it in {worker.backoff:g} s")
                worker.backoff = min(worker.backoff * 2, BACKOFF_MAX_S)
            elif now >= worker.restart_at:
                worker.restarts += 1
                worker.start()
                self.log(f"worker {worker.index} restarted (pid {worker.pid}, port {worker.port}); HAProxy sends it "
                         "requests once its health check passes")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM to every worker, SIGKILL to those still running after `timeout`."""
        for worker in self.workers:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def _exit_status(code: int | None) -> str:
    if code is None:
        return "status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
