"""`uv run python -m addons.cluster --workers N [mitmdump options]`: N bridge workers behind HAProxy.

The cluster's own options are below; everything else (`--set bridge_config=...`, `-s extra.py`, ...) goes
to every worker as it would to mitmdump. `-p/--listen-port` and `--listen-host` are where HAProxy listens
(the bridge's defaults and rule: 8080, loopback unless `[server] auth_tokens` are configured or
`--set bridge_allow_remote=true` is given); the workers always listen on loopback ports of their own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from addons.cluster import haproxy as hap
from addons.cluster.drain import drain
from addons.cluster.redis import REDIS_ENV, PrivateRedis, RedisMissing, configured_redis, find_redis_server
from addons.cluster.workers import MULTIPROC_ENV, Workers, die_with_parent, prepare_multiproc_dir
from addons.guards.loopback import is_loopback

PREFIX = "llm-bridge cluster: "
DEFAULT_PORT = 8080
DEFAULT_CONFIG_FILE = "bridge.toml"
READY_TIMEOUT_S = 60.0
TICK_S = 0.2


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m addons.cluster",
        description="Several llm-bridge workers (mitmdump -s addons/bridge.py) behind HAProxy. Other options "
                    "(--set ..., -s ...) are passed to every worker as to mitmdump.")
    parser.add_argument("--workers", type=int, default=2, help="how many workers (default 2)")
    parser.add_argument("-p", "--listen-port", type=int, default=DEFAULT_PORT, help="HAProxy's port (default 8080)")
    parser.add_argument("--listen-host", default=None,
                        help="HAProxy's address (default: loopback, or every interface with [server] auth_tokens)")
    parser.add_argument("--drain-seconds", type=float, default=30.0,
                        help="on SIGTERM/Ctrl-C, how long requests under way may run on (default 30)")
    parser.add_argument("--balance", default="leastconn",
                        help="HAProxy's balance algorithm for requests without a session header (default leastconn)")
    parser.add_argument("--no-sticky", dest="sticky", action="store_false",
                        help="no session stickiness: every request is balanced on its own")
    parser.add_argument("--haproxy", default=None, help="HAProxy's program (default: haproxy on PATH or in /usr/sbin)")
    parser.add_argument("--no-redis", dest="redis", action="store_false",
                        help="start no private redis-server: each worker keeps its own key cool-downs and turn "
                             "(started by default unless [state] redis_url or LLM_BRIDGE_REDIS_URL names one)")
    args, rest = parser.parse_known_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    for item in rest:
        if item in ("--mode", "-m") or item.startswith("--mode="):
            parser.error("--mode is not for the cluster: HAProxy listens (-p, --listen-host) and the workers "
                         "run the bridge's own reverse mode")
    return args, rest


def set_options(rest: list[str]) -> dict[str, str]:
    """The `--set name=value` options among the workers' options (the last one of a name wins)."""
    found = {}
    items = iter(rest)
    for item in items:
        if item == "--set":
            item = next(items, "")
        elif item.startswith("--set="):
            item = item[len("--set="):]
        else:
            continue
        name, equals, value = item.partition("=")
        found[name] = value if equals else "true"
    return found


def auth_tokens_configured(options: dict[str, str]) -> bool:
    path = options.get("bridge_config") or (DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).is_file() else "")
    if not path:
        return False  # providers from the environment: no [server] section
    from addons.config import ConfigError, load_config
    try:
        return bool(load_config(path).server.auth_tokens)
    except (ConfigError, OSError):
        return False  # the workers report the config's problem; until then, assume no tokens


def listen_host(asked: str | None, options: dict[str, str]) -> str:
    """Where HAProxy listens, by the listen guard's rule (addons/guards/listen.py); SystemExit when refused."""
    protected = options.get("bridge_allow_remote", "false").lower() in ("true", "1", "yes", "on") \
        or auth_tokens_configured(options)
    host = asked if asked is not None else ("" if protected else "127.0.0.1")
    if protected or is_loopback(host):
        return host
    if host == "":
        return "127.0.0.1"
    raise SystemExit(f"{PREFIX}refusing to listen on {host} (--listen-host {host}) with no [server] auth_tokens "
                     "configured: anyone who can reach it could use your providers' keys. Configure [server] "
                     "auth_tokens, or pass --set bridge_allow_remote=true if that is meant.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Output:
    """The cluster's stdout, shared by its own lines and its children's (each line whole)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout.buffer
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.stream.write(data)

    def flush(self) -> None:
        with self.lock:
            self.stream.flush()

    def say(self, text: str) -> None:
        self.write((PREFIX + text + "\n").encode())
        self.flush()


def _copy_haproxy(stream, output: Output) -> None:
    """HAProxy's lines: in the foreground it prints a warning (a server down, a proxy stopped) both as
    `[WARNING]  (pid) : text` and as its log line `text`; the second is skipped."""
    said = b""
    for line in stream:
        if line.strip() and line.strip() == said:
            continue
        head, sep, text = line.partition(b") : ")
        said = text.strip() if sep and head.startswith((b"[WARNING]", b"[NOTICE]", b"[ALERT]")) else b""
        output.write(b"[haproxy] " + line)
        output.flush()


def _wait_listening(process: subprocess.Popen, frontend: hap.Frontend, timeout: float = 10) -> bool:
    host = frontend.host or "127.0.0.1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((host.strip("[]"), frontend.port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def haproxy_version(program: str) -> str:
    try:
        out = subprocess.run([program, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    words = out.split()
    return words[2] if len(words) > 2 else "?"


def summary(frontend: hap.Frontend, workers: Workers, proxy: hap.HAProxy, version: str, args, run_dir: Path,
            multiproc_dir: Path) -> list[str]:
    lines = [f"listening on {frontend.url} (OpenAI clients: {frontend.url}/v1) through HAProxy {version} "
             f"(pid {proxy.process.pid})",
             f"{len(workers.workers)} worker(s): " + ", ".join(
                 f"{hap.server_name(w.index)} 127.0.0.1:{w.port} (pid {w.pid})" for w in workers),
             f"health checks: GET {hap.HEALTH_PATH} on each worker, {hap.CHECK}",
             f"routing: {args.balance}" + (f"; one conversation stays on one worker when it names itself in "
                                           f"{', '.join(hap.SESSION_HEADERS)}" if args.sticky else ""),
             f"HAProxy stats: echo 'show stat' | socat - UNIX:{proxy.stats_socket}",
             f"run directory: {run_dir} (haproxy.cfg); shared metrics directory: {multiproc_dir}",
             f"SIGTERM or Ctrl-C drains (up to {args.drain_seconds:g} s)"]
    return lines


def main(argv: list[str] | None = None) -> int:
    args, worker_options = parse(sys.argv[1:] if argv is None else argv)
    output = Output()
    try:
        program = hap.find_haproxy(args.haproxy)
    except hap.HAProxyMissing as missing:
        print(PREFIX + str(missing), file=sys.stderr)
        return 1
    options = set_options(worker_options)
    config_path = options.get("bridge_config") or (DEFAULT_CONFIG_FILE if Path(DEFAULT_CONFIG_FILE).is_file() else "")
    redis_program = None
    if args.redis and configured_redis(config_path) is None:
        try:
            redis_program = find_redis_server()
        except RedisMissing as missing:
            print(PREFIX + str(missing), file=sys.stderr)
            return 1
    frontend = hap.Frontend(listen_host(args.listen_host, options), args.listen_port)

    run_dir = Path(tempfile.mkdtemp(prefix="llm-bridge-cluster-"))  # 0700
    own_multiproc = MULTIPROC_ENV not in os.environ
    multiproc_dir = run_dir / "prometheus" if own_multiproc else Path(os.environ[MULTIPROC_ENV])
    prepare_multiproc_dir(multiproc_dir)
    stats_socket = run_dir / "haproxy.sock"

    stop_asked = []
    signal.signal(signal.SIGTERM, lambda *_: stop_asked.append(time.monotonic()))
    signal.signal(signal.SIGINT, lambda *_: stop_asked.append(time.monotonic()))

    redis = PrivateRedis(redis_program, run_dir) if redis_program else None
    workers = Workers([free_port() for _ in range(args.workers)], worker_options, multiproc_dir, output, output.say,
                      extra_env={REDIS_ENV: redis.url} if redis else {})
    proxy = None
    try:
        if redis is not None:
            redis.start(process_group=0, preexec_fn=die_with_parent)
            output.say(f"shared state: a private redis-server on {redis.socket}")
        config = hap.write_config(run_dir, hap.render_config(
            frontend, [w.port for w in workers], stats_socket=stats_socket, drain_seconds=args.drain_seconds,
            balance=args.balance, sticky=args.sticky))
        problem = hap.check_config(program, config)
        if problem:
            output.say(f"HAProxy refuses the generated config: {problem}")
            return 1
        workers.start()
        try:
            exited = workers.wait_ready(READY_TIMEOUT_S, stop=lambda: bool(stop_asked))
        except TimeoutError as exc:
            output.say(str(exc))
            return 1
        if exited is not None:
            time.sleep(0.3)  # its last lines (the reason) are still being copied
            output.say(f"worker {exited.index} exited ({exited.process.returncode}) while starting; see its lines above")
            return 1
        if stop_asked:
            return 0
        proxy = hap.HAProxy(program, config, stats_socket)
        proxy.start(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0,
                    preexec_fn=die_with_parent)
        threading.Thread(target=_copy_haproxy, args=(proxy.process.stdout, output), daemon=True).start()
        if not _wait_listening(proxy.process, frontend):
            output.say(f"HAProxy did not start listening on {frontend.bind} (exit status {proxy.poll()})")
            return 1
        for line in summary(frontend, workers, proxy, haproxy_version(program), args, run_dir, multiproc_dir):
            output.say(line)
        while not stop_asked:
            if proxy.poll() is not None:
                output.say(f"HAProxy exited unexpectedly (status {proxy.poll()}); stopping the workers")
                return 1
            workers.supervise()
            time.sleep(TICK_S)
        first = len(stop_asked)
        drain(proxy, workers, args.drain_seconds, output.say, hurry=lambda: len(stop_asked) > first)
        output.say("stopped")
        return 0
    finally:
        if proxy is not None:
            proxy.stop()
        workers.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
