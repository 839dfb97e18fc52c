"""HAProxy in front of the workers: where it is, the config it runs, and its process.

The config (written 0600 into the cluster's private run directory):

- `mode http`, listening where the bridge would (the listen guard's rule, applied by `__main__`).
- Health checks: `GET /healthz` on every worker, `inter 1s fastinter 500ms downinter 1s fall 2 rise 1`:
  a dead worker is out after two failed checks (at most ~2 s; sooner, see `observe`), a restarted one
  is back after its first passing check and gets nothing before. `observe layer4 error-limit 1
  on-error mark-down` takes a worker out at once when a connection to it fails.
- Retries: `retry-on conn-failure empty-response`, `retries 3`, `option redispatch 1` (every retry goes
  to another worker). A request that never reached a live worker, or whose worker died before sending
  any byte of the answer, is sent again to another worker (`option http-buffer-request`: HAProxy reads the
  whole request before it connects, else a request sent in two parts could not be replayed). `response-timeout` is left out on purpose:
  `timeout server` is long (an LLM may think for minutes), and a request that timed out there already
  ran upstream for that long; repeating it would only double the bill. Only a request that fits in one
  HAProxy buffer (`tune.bufsize`, 16 KiB by default) can be replayed after it was sent (HAProxy's L7
  retries); a bigger one gets a 502 and the client's SDK retries it.
- Timeouts suited to long streams: `timeout client` and `timeout server` 30 min (inactivity on either
  side; a streaming answer is never cut by a pause shorter than that), `timeout http-request` 30 s for
  the request head, `timeout http-keep-alive` 60 s between requests, `timeout connect` 5 s.
- `option http-keep-alive` with `http-reuse safe`: connections to the workers are kept and reused (a client's
  first request always on a connection of its own). A new connection per request made a worker's CPU per
  request twice a single mitmdump's: mitmproxy's per-connection cost. A request sent on a pooled connection to
  a worker that has just died gets an empty response, which `retry-on empty-response` replays elsewhere.
- Routing: `balance leastconn`. A request naming its conversation in a session header (the ones the
  bridge itself keys session affinity on: x-session-affinity, x-session-id, session_id, session-id)
  goes to a second backend, `balance hash` on that value with `hash-type consistent`: one
  conversation stays on one worker (its in-process state: response items, key affinity), and losing
  a worker moves only its conversations. Its servers `track` the first backend's, so each worker is
  checked once. The Authorization bearer is not a key: it names a client (often one token for a
  whole team, or the provider key itself), not a conversation, and would pin all its traffic to one
  worker.
- `http-response set-header x-llm-bridge-worker <server name>`: which worker answered.
- A stats socket (admin level, 0600) in the run directory: `echo "show stat" | socat - UNIX:<path>`.
- Soft stop on SIGUSR1 (`drain`), bounded by `hard-stop-after`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from addons.health import HEALTH_PATH

SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # where Debian puts it; not on a plain user's PATH
INSTALL_HINT = "apt-get install haproxy"
SESSION_HEADERS = ("x-session-affinity", "x-session-id", "session_id", "session-id")  # most preferred first
CHECK = "inter 1s fastinter 500ms downinter 1s fall 2 rise 1"
WORKER_HEADER = "x-llm-bridge-worker"


class HAProxyMissing(Exception):
    pass


def find_haproxy(explicit: str | None = None, path: str | None = None, sbin: tuple[str, ...] | None = None) -> str:
    """HAProxy's program: `explicit` if given, else `haproxy` on PATH or in the sbin directories."""
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise HAProxyMissing(f"HAProxy is missing: {explicit} is not an executable file; install Debian's package "
                             f"with `sudo {INSTALL_HINT}`")
    sbin = SBIN if sbin is None else sbin
    search = os.pathsep.join([path if path is not None else os.environ.get("PATH", ""), *sbin])
    found = shutil.which("haproxy", path=search)
    if found:
        return found
    where = "PATH" + (f" or {', '.join(sbin)}" if sbin else "")
    raise HAProxyMissing(f"HAProxy is missing (no `haproxy` on {where}): install Debian's package with "
                         f"`sudo {INSTALL_HINT}` (or pass --haproxy PATH)")


@dataclass(frozen=True)
class Frontend:
    host: str  # "" = every interface
    port: int

    @property
    def bind(self) -> str:
        if not self.host:
            return f":::{self.port} v4v6"
        return f"[{self.host.strip('[]')}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        host = self.host or "127.0.0.1"
        host = f"[{host.strip('[]')}]" if ":" in host else host
        return f"http://{host}:{self.port}"


def server_name(index: int) -> str:
    return f"worker{index}"


def render_config(frontend: Frontend, worker_ports: list[int], *, stats_socket: Path, drain_seconds: float,
                  balance: str = "leastconn", sticky: bool = True) -> str:
    servers = [(server_name(i), port) for i, port in enumerate(worker_ports, start=1)]
    lines = [
        "global",
        "    log stderr format raw local0 notice",  # server up/down and alerts; no line per request
        f"    stats socket {stats_socket} mode 600 level admin",
        f"    hard-stop-after {max(1, int(round(drain_seconds)))}s",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        "    option httplog",
        "    option dontlog-normal",  # no line per request: only a failed or retried one,
        "    option log-separate-errors",  # logged at 'err', above the 'notice' threshold
        "    option http-keep-alive",  # connections to the workers are kept and reused: mitmproxy's per-connection
        "    http-reuse safe",  # cost doubled a worker's CPU per request (tests/cluster_bench.py)
        "    option http-buffer-request",  # the whole request before a worker sees it: what makes L7 retries possible
        "    timeout connect 5s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout http-request 30s",
        "    timeout http-keep-alive 60s",
        "    timeout queue 30s",
        "    timeout tunnel 1h",
        "    timeout check 2s",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "",
        "frontend llm_bridge",
        f"    bind {frontend.bind}",
    ]
    if sticky:
        for header in reversed(SESSION_HEADERS):  # the last one set wins: the most preferred header
            lines.append(f"    http-request set-var(txn.session) req.hdr({header}) if {{ req.hdr({header}) -m found }}")
        lines.append("    use_backend workers_by_session if { var(txn.session) -m found }")
    lines += ["    default_backend workers", ""]
    lines += [
        "backend workers",
        f"    balance {balance}",
        f"    option httpchk GET {HEALTH_PATH}",
        "    http-check expect status 200",
        f"    default-server check {CHECK} observe layer4 error-limit 1 on-error mark-down",
        f"    http-response set-header {WORKER_HEADER} %[srv_name]",
    ]
    lines += [f"    server {name} 127.0.0.1:{port}" for name, port in servers]
    if sticky:
        lines += [
            "",
            "backend workers_by_session",
            "    balance hash var(txn.session)",
            "    hash-type consistent",
            f"    http-response set-header {WORKER_HEADER} %[srv_name]",
        ]
        lines += [f"    server {name} 127.0.0.1:{port} track workers/{name}" for name, port in servers]
    return "\n".join(lines) + "\n"


def write_config(run_dir: Path, text: str) -> Path:
    path = run_dir / "haproxy.cfg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def check_config(program: str, config: Path) -> str | None:
    """HAProxy's own verdict on the config (None: valid)."""
    run = subprocess.run([program, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30)
    return None if run.returncode == 0 else (run.stderr or run.stdout).strip()


class HAProxy:
    def __init__(self, program: str, config: Path, stats_socket: Path) -> None:
        self.program = program
        self.config = config
        self.stats_socket = stats_socket
        self.process: subprocess.Popen | None = None

    def start(self, **popen) -> None:
        # -db: stay in the foreground, one process; SIGUSR1 soft-stops it, SIGTERM stops it at once
        self.process = subprocess.Popen([self.program, "-db", "-f", str(self.config)], **popen)

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def soft_stop(self) -> None:
        """Stop accepting (the listener closes: new connections are refused), finish what runs, then exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)

    def stop(self, timeout: float = 5) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def command(self, line: str, timeout: float = 2) -> str:
        """One command on the stats socket (`show stat`, `show servers state` ...), its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.stats_socket))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def server_status(self) -> dict[str, str]:
        """Each worker's status in the main backend: UP, DOWN, MAINT ..."""
        return server_status(self.command("show stat"))


def server_status(show_stat: str) -> dict[str, str]:
    lines = show_stat.strip().splitlines()
    if not lines:
        return {}
    header = lines[0].lstrip("# ").split(",")
    status = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == "workers" and row.get("svname") not in ("FRONTEND", "BACKEND"):
            status[row["svname"]] = row.get("status", "")
    return status
