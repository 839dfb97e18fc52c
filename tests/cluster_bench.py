"""Benchmark (issue 16, point 5): a single mitmdump, and HAProxy in front of 1 and of 2 workers, in one run.

    uv run python -m tests.cluster_bench [--rounds 8] [--seconds 3] [--concurrency 16] [--latency-seconds 1]
                                         [--redis] [--no-fresh] [--pin-load CPU] [--haproxy PATH]

About 4 minutes with the defaults (8 rounds of 7 measurements of 3 + 1 s, and start-up).

The targets, all started by this script on this machine, all in front of the simulator (tests/simulator, a
process of its own):

- `mitmdump -s addons/bridge.py`: the default single process;
- `python -m addons.cluster --workers 1 --no-redis`: HAProxy in front of one worker: what HAProxy adds;
- `python -m addons.cluster --workers 2 --no-redis`: HAProxy in front of two workers;
- with `--redis`, also two workers sharing the cluster's private redis-server;
- unless `--no-fresh`, the single mitmdump again, given a new connection for every request (whole answers
  only): what a worker would cost if HAProxy opened a connection per request (as `option http-server-close`
  does; the cluster keeps its connections to the workers), so the report tells connection cost from HAProxy.

Every target gets the same request: an OpenAI chat completion for `claude-sim`, which the bridge translates
to the Anthropic simulator ("hi", max_tokens 16), answered whole (JSON) or streamed (SSE). Each measurement:
`--concurrency` keep-alive connections for `--seconds` (requests/s, p50/p99 under load), then one connection
for `--latency-seconds` (latency unloaded: what HAProxy adds to one request). The targets are interleaved
over `--rounds` rounds, the order rotated every round, and medians reported: this VM's speed drifts, so each
ratio compares measurements taken close together (ratios are medians of the per-round ratios).

CPU per request: utime + stime (/proc/<pid>/stat) of every process of the target: the mitmdump; or HAProxy,
the workers, the cluster's supervisor (and redis-server), found as the supervisor's descendants. The
simulator's and this load generator's are measured too, and the machine's busy time (/proc/stat): they all
share the machine's cores. Nothing is pinned unless `--pin-load CPU` (the simulator and the load generator on
that CPU; the proxies never: pinning the workers to one CPU would defeat the point).

Not a test: it prints a Markdown report. Every process it starts is stopped on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import orjson

from addons.cluster import haproxy as hap
from addons.cluster.__main__ import haproxy_version
from addons.cluster.redis import REDIS_ENV
from addons.cluster.workers import MULTIPROC_ENV, die_with_parent
from tests.bench import ANTHROPIC_KEY, OPENAI_KEY, _cpu_seconds, _median_row, _pct, raw_request, \
    read_response, throughput, wait_port
from tests.bridge_process import ROOT, BridgeProcess, free_port
from tests.conftest import bridge_toml
from tests.test_cluster import Cluster

CLK_TCK = os.sysconf("SC_CLK_TCK")
HAPROXY_PID = re.compile(r"HAProxy \S+ \(pid (\d+)\)")
SINGLE = "single mitmdump"
FRESH = "single mitmdump, new connection per request"
KINDS = ("whole", "streamed")


# --- the targets ---------------------------------------------------------------------------------------

class BenchCluster(Cluster):
    """tests/test_cluster.py's Cluster (its readiness wait on the summary, its status, its stop), started on
    this benchmark's config, quiet (-q, as the single mitmdump), in its own process group (Ctrl-C reaches this
    script, which stops it) and dying with this script if it is killed outright."""

    def __init__(self, folder: Path, config: Path, haproxy: str, workers: int, redis: bool) -> None:
        self.port = free_port()
        self.log_path = folder / "cluster.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "addons.cluster", "--workers", str(workers), "-p", str(self.port),
             "--haproxy", haproxy, "--drain-seconds", "5", *([] if redis else ["--no-redis"]), "-q",
             f"--set=bridge_config={config}"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0,
            preexec_fn=die_with_parent)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = {}

    def wait_up(self, timeout: float = 30) -> None:
        """Every worker UP in HAProxy's eyes (not "UP 1/2", before its first check)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status and all(s == "UP" for s in status.values()):
                return
            time.sleep(0.1)
        raise TimeoutError(f"workers not UP: {self.status()}")


@dataclass
class Target:
    name: str
    port: int
    roles: dict[int, str]  # pid -> its role: mitmdump, haproxy, workers, supervisor, redis
    kinds: tuple[str, ...] = KINDS
    fresh: bool = False  # a new connection for every request (what HAProxy's http-server-close would do to a worker)


def descendants(root: int) -> dict[int, str]:
    """Every process below `root`: pid -> command name."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                table[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), stat[stat.index("(") + 1:stat.rindex(")")])
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, comm) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = comm
                frontier.append(pid)
    return found


def cluster_roles(cluster: BenchCluster) -> dict[int, str]:
    haproxy_pid = int(HAPROXY_PID.search(cluster.log()).group(1))
    worker_pids = {pid for _, pid in cluster.workers.values()}
    roles = {cluster.process.pid: "supervisor"}
    for pid, comm in descendants(cluster.process.pid).items():
        roles[pid] = ("haproxy" if pid == haproxy_pid else "workers" if pid in worker_pids
                      else "redis" if comm.startswith("redis") else f"other ({comm})")
    missing = ({haproxy_pid} | worker_pids) - set(roles)
    if missing:
        raise RuntimeError(f"processes of the cluster not found below its supervisor: {missing}")
    return roles


def spawn(args: list[str], log: Path, cpus: set[int] | None) -> subprocess.Popen:
    proc = subprocess.Popen(args, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, process_group=0, preexec_fn=die_with_parent)
    if cpus is not None:
        os.sched_setaffinity(proc.pid, cpus)
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def started_at(pid: int) -> int | None:
    """When the process started (clock ticks since boot: with the pid, names one process), None once it is gone
    or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


# --- measuring -------------------------------------------------------------------------------------------

def busy_ticks() -> int:
    """The machine's busy time over all CPUs, in clock ticks (/proc/stat: all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) - values[3] - values[4]


def snapshot(target: Target, sim_pid: int) -> dict:
    cpu = {}
    for pid, role in target.roles.items():
        try:
            cpu[role] = cpu.get(role, 0.0) + _cpu_seconds(pid)
        except (OSError, IndexError):
            raise RuntimeError(f"{target.name}: {role} (pid {pid}) exited during the benchmark") from None
    return {"t": time.perf_counter(), "cpu": cpu, "sim": _cpu_seconds(sim_pid), "load": _cpu_seconds(os.getpid()),
            "busy": busy_ticks() / CLK_TCK}


async def throughput_fresh(port: int, request: bytes, connections: int, seconds: float) -> dict:
    """tests/bench.py's `throughput`, but every request on a new connection (the request asks to close it)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status, _ = await read_response(reader)
            writer.close()
            latencies.append(time.perf_counter() - start)
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": _pct(latencies, 50), "p99": _pct(latencies, 99), "errors": errors}


async def measure(target: Target, request: bytes, connections: int, seconds: float, latency_seconds: float,
                  sim_pid: int) -> dict:
    throughput_of = throughput_fresh if target.fresh else throughput
    before = snapshot(target, sim_pid)
    loaded = await asyncio.wait_for(throughput_of(target.port, request, connections, seconds), seconds + 60)
    after = snapshot(target, sim_pid)
    elapsed = after["t"] - before["t"]
    requests = max(1.0, loaded["rps"] * elapsed)
    per_request = {role: (after["cpu"][role] - before["cpu"][role]) / requests * 1e3 for role in before["cpu"]}
    own = sum(after["cpu"].values()) - sum(before["cpu"].values())
    sim, load, busy = (after[k] - before[k] for k in ("sim", "load", "busy"))
    unloaded = await asyncio.wait_for(throughput_of(target.port, request, 1, latency_seconds), latency_seconds + 60)
    return {"rps": loaded["rps"], "p50": loaded["p50"] * 1e3, "p99": loaded["p99"] * 1e3,
            "errors": loaded["errors"] + unloaded["errors"], "cpu_ms": own / requests * 1e3,
            **{f"cpu_ms {role}": ms for role, ms in per_request.items()},
            "sim_ms": sim / requests * 1e3, "load_ms": load / requests * 1e3,
            "busy_cores": busy / elapsed, "other_cores": (busy - own - sim - load) / elapsed,
            "p50_1": unloaded["p50"] * 1e3, "p99_1": unloaded["p99"] * 1e3}


async def check_answers(targets: list[Target], requests: dict[str, bytes]) -> int:
    """One request of each kind to every target: a 200 with the simulator's answer. The SSE events per
    streamed answer (the same everywhere)."""
    events = set()
    for target in targets:
        for kind, request in requests.items():
            reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
            writer.write(request)
            status, body = await asyncio.wait_for(read_response(reader), 30)
            writer.close()
            if status != 200:
                raise RuntimeError(f"{target.name}, {kind}: HTTP {status}: {body[:300]!r}")
            if kind == "whole":
                text = orjson.loads(body)["choices"][0]["message"]["content"]
            else:
                chunks = [orjson.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: {")]
                text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
                if b"data: [DONE]" not in body:
                    raise RuntimeError(f"{target.name}: the stream did not end with [DONE]: {body[-300:]!r}")
                events.add(body.count(b"data: "))
            if "simulator" not in text:
                raise RuntimeError(f"{target.name}, {kind}: not the simulator's answer: {body[:300]!r}")
    return max(events)


# --- the run -----------------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> str:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # SIGTERM: the same clean-up as Ctrl-C
    for name in (REDIS_ENV, MULTIPROC_ENV):  # the targets run as configured here, not as this shell says
        os.environ.pop(name, None)
    program = hap.find_haproxy(args.haproxy)
    load_cpus = {args.pin_load} if args.pin_load is not None else None
    tmp = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    sim_port = free_port()
    targets: list[Target] = []
    cleanups = []
    sim = None
    finished = False
    try:
        sim = spawn([sys.executable, "-m", "tests.simulator", "--port", str(sim_port), "--anthropic-key", ANTHROPIC_KEY,
                     "--openai-key", OPENAI_KEY], tmp / "sim.log", load_cpus)
        cleanups.append(lambda: stop_process(sim))
        if load_cpus is not None:
            os.sched_setaffinity(0, load_cpus)

        def config_in(name: str) -> Path:  # a folder each: its own usage ledger beside its config
            folder = tmp / name
            folder.mkdir()
            config = folder / "bridge.toml"  # the default retry policy (every call through the relay)
            config.write_text(bridge_toml(f"http://127.0.0.1:{sim_port}", anthropic_key=ANTHROPIC_KEY,
                                          openai_key=OPENAI_KEY).replace("[retries]\nattempts = 1\n", ""))
            return config

        # every target starts at once (each takes seconds on this machine), then each is waited for
        single_config = config_in("single")
        single = BridgeProcess("-q", f"--set=bridge_config={single_config}", log_path=single_config.parent / "mitmdump.log")
        cleanups.append(single.stop)
        layouts = [("HAProxy + 1 worker", 1, False), ("HAProxy + 2 workers", 2, False)]
        if args.redis:
            layouts.append(("HAProxy + 2 workers + Redis", 2, True))
        clusters = []
        for name, workers, redis in layouts:
            config = config_in(f"cluster-{workers}{'-redis' if redis else ''}")
            cluster = BenchCluster(config.parent, config, program, workers, redis)
            cleanups.append(cluster.stop)
            clusters.append((name, cluster))

        # (the blocking waits in threads: Ctrl-C and SIGTERM cancel this task at once)
        await wait_port(sim_port)
        await asyncio.to_thread(single.wait_ready, 60)
        targets.append(Target(SINGLE, single.port, {single.process.pid: "mitmdump"}))
        if not args.no_fresh:  # the same process; tells how much of a worker's extra cost is HAProxy's new connections
            targets.append(Target(FRESH, single.port, {single.process.pid: "mitmdump"}, kinds=("whole",), fresh=True))
        for name, cluster in clusters:
            await asyncio.to_thread(cluster.wait_ready, 120)
            await asyncio.to_thread(cluster.wait_up)
            targets.append(Target(name, cluster.port, cluster_roles(cluster)))
        started = {pid: started_at(pid) for pid in {pid for t in targets for pid in t.roles} | {sim.pid}}
        cleanups.insert(0, lambda: [os.kill(pid, signal.SIGKILL) for pid, at in started.items()  # last: anything left
                                    if at is not None and started_at(pid) == at])
        print("started: " + "; ".join(f"{t.name} on :{t.port} (" + ", ".join(f"{r} {p}" for p, r in t.roles.items()) + ")"
                                      for t in targets) + f"; simulator {sim.pid} on :{sim_port}", file=sys.stderr)

        hi = [{"role": "user", "content": "hi"}]
        body = {"model": "claude-sim", "max_tokens": 16, "messages": hi}
        requests = {
            "whole": raw_request("/v1/chat/completions", body, {}),
            "streamed": raw_request("/v1/chat/completions", {**body, "stream": True}, {}),
        }
        close = raw_request("/v1/chat/completions", body, {}, close=True)
        events = await check_answers([t for t in targets if not t.fresh], requests)
        for target in targets:  # warm up connections and code paths
            if not target.fresh:
                for request in requests.values():
                    await asyncio.wait_for(throughput(target.port, request, 4, 1.0), 60)
        print("warmed up", file=sys.stderr)

        runs: dict[tuple[str, str], list[dict]] = {(t.name, k): [] for t in targets for k in t.kinds}
        for r in range(args.rounds):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for target in order:
                for kind in target.kinds:
                    runs[target.name, kind].append(await measure(
                        target, close if target.fresh else requests[kind], args.concurrency, args.seconds,
                        args.latency_seconds, sim.pid))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{t.name} {k} {runs[t.name, k][-1]['rps']:.0f}/s" for t in targets for k in t.kinds), file=sys.stderr)
        finished = True
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - every other process is still stopped
                print(f"clean-up: {exc!r}", file=sys.stderr)
        if finished:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"the processes' logs: {tmp}", file=sys.stderr)

    return report(args, targets, runs, events, program, load_cpus)


# --- the report --------------------------------------------------------------------------------------------

def per_round_ratio(runs, name: str, kind: str, key: str, versus: str = SINGLE) -> float:
    return statistics.median(a[key] / b[key] for a, b in zip(runs[name, kind], runs[versus, kind]) if b[key])


def report(args, targets: list[Target], runs, events: int, program: str, load_cpus) -> str:
    rows = {cell: _median_row(results) for cell, results in runs.items()}
    errors = {cell: sum(r["errors"] for r in results) for cell, results in runs.items()}
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.machine())
    where = (f"the simulator and this load generator pinned to CPU {args.pin_load}; the proxies not pinned"
             if load_cpus is not None else "nothing pinned")
    out = [
        f"Machine: {os.cpu_count()} cores ({cpu_model}), Linux {platform.release()}; Python {platform.python_version()}, "
        f"mitmproxy {version('mitmproxy')}, HAProxy {haproxy_version(program)}.",
        f"Where things ran: {where}. The target's processes, the simulator (one process) and this load generator "
        f"(one asyncio process) share the machine's {os.cpu_count()} cores; their CPU and the machine's busy time are "
        "in the second table.",
        f"Load: {args.concurrency} keep-alive connections for {args.seconds:g} s, then 1 connection for "
        f"{args.latency_seconds:g} s, per target and answer kind; {args.rounds} rounds, targets interleaved (order "
        "rotated each round); medians; ratios are medians of per-round ratios against the single mitmdump.",
        f"Requests: POST /v1/chat/completions, model claude-sim, \"hi\", max_tokens 16, translated by the bridge to "
        f"the Anthropic simulator: whole = one JSON answer, streamed = SSE ({events} data lines). No session header: "
        "HAProxy balances each request (leastconn).",
        "Bridge config: default retry policy (every call through the relay), usage ledger on (the default with a "
        "config file: SQLite beside it, one file shared by a cluster's workers), one key per provider. Cluster: "
        "`python -m addons.cluster --workers N --no-redis -q`: HAProxy keeps the client's connections and its own "
        "to the workers alive (http-reuse safe), checks each worker's /healthz every second; the workers' metrics "
        "in multiprocess mode.",
        "Redis: not on the request path of these calls. Every chat call has a conversation name (a session header, "
        "prompt_cache_key, or a hash of how the conversation began), and a key pool reads cool-downs from an "
        "in-process mirror; only a call without one, to a provider with several keys, waits for one INCR."
        + (" Measured anyway: the `+ Redis` rows." if args.redis else " (`--redis` measures it as well.)"),
        "",
        f"| target | answers | req/s ({args.concurrency} conns) | vs single | p50 / p99 ms ({args.concurrency} conns) "
        "| p50 / p99 ms (1 conn) | p50 added (1 conn) | CPU ms per request | vs single | CPU ms per request, by process |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for t in (t for t in targets if kind in t.kinds):
            r, base = rows[t.name, kind], rows[SINGLE, kind]
            single = t.name == SINGLE
            err = f" ({errors[t.name, kind]:.0f} errors)" if errors[t.name, kind] else ""
            split = ", ".join(f"{key.split(' ', 1)[1]} {value:.2f}" for key, value in r.items() if key.startswith("cpu_ms "))
            rps_ratio = 1.0 if single else per_round_ratio(runs, t.name, kind, "rps")
            cpu_ratio = 1.0 if single else per_round_ratio(runs, t.name, kind, "cpu_ms")
            added = "" if single else f"{r['p50_1'] - base['p50_1']:+.2f} ms"
            out.append(
                f"| {t.name} | {kind} | {r['rps']:.0f}{err} | {rps_ratio:.2f}x | {r['p50']:.1f} / {r['p99']:.1f} | "
                f"{r['p50_1']:.2f} / {r['p99_1']:.2f} | {added} | {r['cpu_ms']:.2f} | {cpu_ratio:.2f}x | {split} |")
    out += ["", "The rest of the machine during the same measurements (under load):", "",
            "| target | answers | simulator CPU ms per request | load generator CPU ms per request "
            f"| machine busy, cores of {os.cpu_count()} | busy but not counted above, cores |",
            "|---|---|---|---|---|---|"]
    for kind in KINDS:
        for t in (t for t in targets if kind in t.kinds):
            r = rows[t.name, kind]
            out.append(f"| {t.name} | {kind} | {r['sim_ms']:.2f} | {r['load_ms']:.2f} | {r['busy_cores']:.2f} | "
                       f"{r['other_cores']:.2f} |")
    out += ["", "Summary:", ""]
    names = [t.name for t in targets]
    for kind in KINDS:
        one, two = rows["HAProxy + 1 worker", kind], rows["HAProxy + 2 workers", kind]
        base = rows[SINGLE, kind]
        out.append(
            f"- {kind}: HAProxy + 1 worker against the single mitmdump: "
            f"{per_round_ratio(runs, 'HAProxy + 1 worker', kind, 'rps'):.2f}x the requests/s, "
            f"{one['p50_1'] - base['p50_1']:+.2f} ms p50 at 1 connection, "
            f"{one['cpu_ms'] - base['cpu_ms']:+.2f} ms CPU per request (HAProxy itself {one['cpu_ms haproxy']:.2f} ms). "
            f"2 workers: {per_round_ratio(runs, 'HAProxy + 2 workers', kind, 'rps', 'HAProxy + 1 worker'):.2f}x "
            f"the requests/s of 1 worker, {per_round_ratio(runs, 'HAProxy + 2 workers', kind, 'rps'):.2f}x the single "
            f"mitmdump's, the machine {two['busy_cores']:.2f} of {os.cpu_count()} cores busy "
            f"(simulator + load generator {two['sim_ms'] + two['load_ms']:.2f} ms CPU per request of it).")
        if "HAProxy + 2 workers + Redis" in names:
            out.append(f"  With the private Redis: "
                       f"{per_round_ratio(runs, 'HAProxy + 2 workers + Redis', kind, 'rps', 'HAProxy + 2 workers'):.2f}x "
                       "the requests/s of 2 workers without it.")
    if FRESH in names:
        fresh, single, one = rows[FRESH, "whole"], rows[SINGLE, "whole"], rows["HAProxy + 1 worker", "whole"]
        out.append(
            f"- Connections: the cluster's HAProxy keeps its connections to the workers (`http-reuse safe`); a new "
            f"connection per request would cost a lot: the single mitmdump, given one per request, costs "
            f"{fresh['cpu_ms']:.2f} ms CPU per whole answer against {single['cpu_ms']:.2f} ms on keep-alive connections "
            f"({fresh['cpu_ms'] - single['cpu_ms']:+.2f} ms); the worker behind HAProxy costs "
            f"{one['cpu_ms workers']:.2f} ms ({one['cpu_ms workers'] - single['cpu_ms']:+.2f} ms), HAProxy "
            f"{one['cpu_ms haproxy']:.2f} ms more.")
    noisy = max(r["other_cores"] for r in rows.values())
    if noisy > 0.15:
        out += ["", f"Other processes were busy during the measurements (up to {noisy:.2f} cores not counted above, "
                "medians per row): the figures are noisier than on an idle machine."]
    if any(rows["HAProxy + 2 workers", k]["busy_cores"] > 0.9 * (os.cpu_count() or 1) for k in KINDS):
        out += ["", f"The machine was (nearly) saturated with 2 workers: their requests/s are bounded by the "
                f"{os.cpu_count()} cores they share with the simulator and the load generator, not by the bridge alone; "
                "the CPU per request is the figure that carries over to a machine with cores to spare."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="rounds over every target (default 8)")
    parser.add_argument("--seconds", type=float, default=3.0, help="each measurement under load (default 3)")
    parser.add_argument("--latency-seconds", type=float, default=1.0, help="each one-connection measurement (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections under load (default 16)")
    parser.add_argument("--no-fresh", action="store_true",
                        help="skip the single mitmdump given a new connection per request (whole answers)")
    parser.add_argument("--redis", action="store_true", help="also 2 workers sharing the cluster's private redis-server")
    parser.add_argument("--haproxy", default=None, help="HAProxy's program (default: haproxy on PATH or in /usr/sbin)")
    parser.add_argument("--pin-load", type=int, default=None, metavar="CPU",
                        help="pin the simulator and the load generator to this CPU (default: nothing pinned)")
    args = parser.parse_args()
    try:
        print(asyncio.run(run(args)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: every process this benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
    except hap.HAProxyMissing as missing:
        sys.exit(str(missing))


if __name__ == "__main__":
    main()
