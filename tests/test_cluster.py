"""Issue 16, point 1: `python -m addons.cluster --workers N`, real HAProxy (Debian's) in front of real
mitmdump workers, the official openai SDK -> HAProxy -> workers -> the simulator."""

from __future__ import annotations

import os
import re
import signal
import stat
import socket
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from addons.cluster import __main__ as cluster_main
from addons.cluster import haproxy as hap
from tests.bridge_process import ROOT, free_port
from tests.conftest import OPENAI_KEY, bridge_toml
from tests.debian_packages import require

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
SUMMARY_WORKER = re.compile(r"(worker\d+) 127\.0\.0\.1:(\d+) \(pid (\d+)\)")


@pytest.fixture(scope="module")
def haproxy_program() -> str:
    return require("haproxy", "haproxy", "/usr/sbin/haproxy")


class Cluster:
    """`python -m addons.cluster` as a user runs it, its output in a file."""

    def __init__(self, folder: Path, base_url: str, haproxy: str, *args: str, workers: int = 2,
                 own_group: bool = False, config_text: str | None = None, env: dict | None = None) -> None:
        config = folder / "bridge.toml"
        config.write_text(config_text if config_text is not None else bridge_toml(base_url))
        self.port = free_port()
        self.log_path = folder / "cluster.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "addons.cluster", "--workers", str(workers), "-p", str(self.port),
             "--haproxy", haproxy, f"--set=bridge_config={config}", *args],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY, **(env or {})}, start_new_session=own_group,
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers: dict[str, tuple[int, int]] = {}  # name -> (port, pid)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> "Cluster":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the cluster exited ({self.process.returncode}):\n{self.log()}")
            text = self.log()
            if "SIGTERM or Ctrl-C drains" in text:
                line = next(line for line in text.splitlines() if "worker(s):" in line)
                self.workers = {name: (int(port), int(pid)) for name, port, pid in SUMMARY_WORKER.findall(line)}
                self.stats_socket = re.search(r"UNIX:(\S+)", text).group(1)
                self.run_dir = Path(re.search(r"run directory: (\S+)", text).group(1))
                return self
            time.sleep(0.2)
        raise TimeoutError(f"the cluster did not start:\n{self.log()}")

    def status(self) -> dict[str, str]:
        proxy = hap.HAProxy("haproxy", Path("unused"), Path(self.stats_socket))
        return proxy.server_status()

    def client(self, **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key="client-token", max_retries=0, timeout=30, **kw)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def ask(client: openai.OpenAI, text: str = "hi", **kw):
    """One non-streamed chat call; (answer text, the worker that answered)."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-sim", messages=[{"role": "user", "content": text}], **kw)
    return raw.parse().choices[0].message.content, raw.headers.get(hap.WORKER_HEADER)


HAPROXY_LINE = re.compile(r'\[haproxy\] \S+ \[[^\]]+\] \S+ \S+ \S+ (-?\d+) \S+ \S+ \S+ (\S+) .*"POST \S+\?n=(\d+) ')


def haproxy_log_lines(log: str) -> dict[int, tuple[int, str]]:
    """HAProxy's line for each numbered request it logged (only failed or retried ones): (status, termination state)."""
    return {int(n): (int(status), state) for status, state, n in HAPROXY_LINE.findall(log)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.fixture(scope="module")
def redis_program() -> str:
    return require("redis-server", "/usr/bin/redis-server", "redis-server")


@pytest.fixture(scope="module")
def cluster(simulator, haproxy_program, redis_program, tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("cluster"), simulator.base_url, haproxy_program).wait_ready()
    yield running
    running.stop()


def test_the_summary_names_the_workers_and_the_files_are_private(cluster):
    assert set(cluster.workers) == {"worker1", "worker2"}
    assert stat.S_IMODE(cluster.run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((cluster.run_dir / "haproxy.cfg").stat().st_mode) == 0o600
    config = (cluster.run_dir / "haproxy.cfg").read_text()
    assert f"bind 127.0.0.1:{cluster.port}" in config
    assert "balance leastconn" in config and "option httpchk GET /healthz" in config
    for name in ("worker1", "worker2"):  # ("UP 1/2" until a worker's first check: one failure would take it out)
        _wait_status(cluster, name, "UP", timeout=5)
    # each worker knows which one it is; they share one metrics directory (emptied at start)
    environments = []
    for name, (port, pid) in cluster.workers.items():
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok", "worker": int(name[-1])}
        env = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
        environments.append(env)
        assert env["LLM_BRIDGE_WORKER"] == name[-1]
    shared = {env["PROMETHEUS_MULTIPROC_DIR"] for env in environments}
    assert len(shared) == 1 and Path(shared.pop()).is_dir()


def test_requests_spread_over_both_workers(cluster):
    client = cluster.client()
    answered = [ask(client) for _ in range(20)]
    assert {text for text, _ in answered} == {SIM_TEXT}
    assert {worker for _, worker in answered} == {"worker1", "worker2"}
    log = cluster.log()
    for index in (1, 2):  # and each worker's own log shows the calls it served
        assert re.search(rf"\[worker {index}\] .*openai-chat → oai/gpt-4o-mini .* 200", log), log[-3000:]


def test_one_conversation_stays_on_one_worker(cluster):
    client = cluster.client()
    for header in ("session_id", "x-session-id"):
        workers = {ask(client, extra_headers={header: f"conversation-{header}"})[1] for _ in range(8)}
        assert len(workers) == 1
    by_session = {ask(client, extra_headers={"x-session-id": f"s-{i}"})[1] for i in range(24)}
    assert by_session == {"worker1", "worker2"}  # distinct conversations still use both


def _wait_status(cluster: Cluster, name: str, wanted: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cluster.status().get(name) == wanted:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{name} not {wanted} after {timeout} s: {cluster.status()}")


def test_a_killed_worker_loses_no_request_that_had_not_started_streaming(cluster):
    client = cluster.client()
    port, victim = cluster.workers["worker1"]
    results: list[tuple[bool, bool, bool, str | None]] = []  # (streamed, had started streaming, ok, worker)
    done = threading.Semaphore(0)

    def one(i: int):
        streamed = i % 4 == 0
        started = False
        try:
            if streamed:
                raw = client.chat.completions.with_raw_response.create(
                    model="gpt-sim", stream=True, messages=[{"role": "user", "content": "[sim:text delay_ms=20]"}],
                    extra_query={"n": i})  # (numbers HAProxy's log lines)
                started = True  # the answer's head came: streaming has started
                text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
                worker = raw.headers.get(hap.WORKER_HEADER)
            else:
                text, worker = ask(client, extra_query={"n": i})
            results.append((streamed, started, text == SIM_TEXT, worker))
        except Exception as exc:  # noqa: BLE001 - an API error, or a stream cut (httpx's error, as the SDK lets it through)
            results.append((streamed, started, False, f"{i} {exc!r}"[:300]))
        finally:
            done.release()

    killed_at = None
    with ThreadPoolExecutor(8) as pool:
        for i in range(200):
            pool.submit(one, i)
        for count in range(200):
            done.acquire()
            if count == 50:
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
                down_after = _wait_status(cluster, "worker1", "DOWN", timeout=5)
    assert len(results) == 200
    failed = [r for r in results if not r[2]]
    # a request can only fail once its answer had begun: a stream whose head had come, or a whole answer
    # cut between its head and its body (HAProxy's log: the worker's status, then "SD", server abort in the data)
    logged = haproxy_log_lines(cluster.log())
    for streamed, started, _, info in failed:
        number = int(info.split()[0])
        status, termination = logged[number]
        assert started or (status == 200 and termination.startswith("SD")), (info, logged[number])
    print(f"\n{len(failed)} of 200 requests failed: {[(r[0], r[1], r[3][:80]) for r in failed]}")
    # HAProxy takes it out within its check interval (inter 1s, fall 2: 2 s; on-error mark-down: sooner)
    assert down_after <= 2.5, down_after
    served = {r[3] for r in results if r[2]}
    assert served == {"worker1", "worker2"}
    print(f"\nkilled worker1 after 51 answers; HAProxy marked it DOWN {down_after:.2f} s later; "
          f"{len(failed)} of 200 failed, each after its answer had begun")

    # the worker comes back (a new process on the same port) and gets requests again
    _wait_status(cluster, "worker1", "UP", timeout=30)
    back_after = time.monotonic() - killed_at
    assert "worker 1 restarted" in cluster.log()
    new_pid = int(re.findall(r"worker 1 restarted \(pid (\d+)", cluster.log())[-1])
    assert new_pid != victim and not alive(victim) and alive(new_pid)
    workers = {ask(client)[1] for _ in range(12)}
    assert workers == {"worker1", "worker2"}
    print(f"worker1 back in rotation {back_after:.1f} s after the kill")
    cluster.workers["worker1"] = (port, new_pid)


def test_sigterm_drains_a_running_stream_and_refuses_new_connections(simulator, haproxy_program, tmp_path):
    running = Cluster(tmp_path, simulator.base_url, haproxy_program, "--drain-seconds", "20").wait_ready()
    try:
        client = running.client()
        first_chunk = threading.Event()
        outcome = {}

        def long_stream():
            try:
                stream = client.chat.completions.create(
                    model="gpt-sim", stream=True, messages=[{"role": "user", "content": "[sim:text delay_ms=600]"}])
                text = ""
                for chunk in stream:
                    first_chunk.set()
                    text += "".join(c.delta.content or "" for c in chunk.choices)
                    outcome.setdefault("finish", None)
                    if chunk.choices and chunk.choices[0].finish_reason:
                        outcome["finish"] = chunk.choices[0].finish_reason
                outcome["text"] = text
            except Exception as exc:  # noqa: BLE001
                outcome["error"] = repr(exc)
            outcome["ended"] = time.monotonic()

        thread = threading.Thread(target=long_stream)
        thread.start()
        assert first_chunk.wait(15)
        pids = [pid for _, pid in running.workers.values()]
        running.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        refused_at = None
        while time.monotonic() - signalled < 3:
            try:
                httpx.get(f"{running.base_url}/healthz", timeout=1)
            except httpx.ConnectError:
                refused_at = time.monotonic()
                break
            time.sleep(0.05)
        assert refused_at is not None, "HAProxy still accepts connections after SIGTERM"
        thread.join(30)
        assert outcome.get("text") == SIM_TEXT and outcome.get("finish") == "stop", outcome
        assert outcome["ended"] > refused_at  # the stream went on after new connections were refused
        assert running.process.wait(30) == 0
        assert not any(alive(pid) for pid in pids)
        assert "draining" in running.log() and "stopped" in running.log()
    finally:
        running.stop()


def test_ctrl_c_in_a_terminal_drains_too(simulator, haproxy_program, tmp_path):
    """A terminal sends SIGINT to its whole foreground process group: only the cluster gets it (its children
    have groups of their own), and it drains instead of every process dying at once."""
    running = Cluster(tmp_path, simulator.base_url, haproxy_program, workers=1, own_group=True).wait_ready()
    try:
        haproxy_pid = int(re.search(r"HAProxy \S+ \(pid (\d+)\)", running.log()).group(1))
        (_, worker_pid), = running.workers.values()
        assert ask(running.client())[0] == SIM_TEXT
        os.killpg(running.process.pid, signal.SIGINT)
        assert running.process.wait(30) == 0
        log = running.log()
        assert "draining" in log and "stopped" in log
        assert not alive(worker_pid) and not alive(haproxy_pid)
    finally:
        running.stop()


def test_a_worker_that_cannot_start_stops_the_cluster_with_its_reason(haproxy_program, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("nonsense = [")
    run = subprocess.run([sys.executable, "-m", "addons.cluster", "--workers", "2", "-p", str(free_port()),
                          "--haproxy", haproxy_program, "--no-redis", f"--set=bridge_config={config}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "llm-bridge config error" in run.stdout and "exited (1) while starting" in run.stdout, run.stdout


def test_missing_haproxy_is_one_line_and_a_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without haproxy
    monkeypatch.setattr(hap, "SBIN", ())  # and not in /usr/sbin either
    assert cluster_main.main(["--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HAProxy is missing" in err and "apt-get install haproxy" in err


def test_missing_haproxy_program_from_the_command_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "addons.cluster", "--workers", "1", "--haproxy",
                          str(tmp_path / "haproxy")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "apt-get install haproxy" in run.stderr, run.stderr


def test_a_non_loopback_address_needs_tokens_or_allow_remote(tmp_path, haproxy_program, monkeypatch):
    monkeypatch.setenv("SIM_OPENAI_KEY", OPENAI_KEY)
    config = tmp_path / "bridge.toml"
    config.write_text(bridge_toml("http://127.0.0.1:9"))
    with pytest.raises(SystemExit) as refused:
        cluster_main.main(["--workers", "1", "--haproxy", haproxy_program, "--no-redis", "--listen-host", "0.0.0.0",
                           f"--set=bridge_config={config}"])
    assert "refusing to listen on 0.0.0.0" in str(refused.value)
    assert cluster_main.listen_host(None, {"bridge_config": str(config)}) == "127.0.0.1"
    assert cluster_main.listen_host("0.0.0.0", {"bridge_allow_remote": "true"}) == "0.0.0.0"
    config.write_text(bridge_toml("http://127.0.0.1:9") + '\n[server]\nauth_tokens = ["t"]\n')
    assert cluster_main.listen_host(None, {"bridge_config": str(config)}) == ""  # every interface, as mitmdump


def test_the_generated_config_is_valid_haproxy(tmp_path, haproxy_program):
    for host in ("127.0.0.1", "", "::1"):
        text = hap.render_config(hap.Frontend(host, 18080), [40001, 40002], stats_socket=tmp_path / "s.sock",
                                 drain_seconds=30)
        assert hap.check_config(haproxy_program, hap.write_config(tmp_path, text)) is None, text
    assert "retry-on conn-failure empty-response" in text and "option redispatch 1" in text
    assert "inter 1s fastinter 500ms downinter 1s fall 2 rise 1" in text
    assert "timeout server 30m" in text and "timeout client 30m" in text and "hard-stop-after 30s" in text
    assert "balance hash var(txn.session)" in text and "track workers/worker1" in text


def test_healthz_is_answered_before_anything_else_reads_the_request(monkeypatch):
    from mitmproxy.test import tflow

    from addons.health import Health

    monkeypatch.setenv("LLM_BRIDGE_WORKER", "3")
    health = Health()
    flow = tflow.tflow()
    flow.request.method, flow.request.path = "GET", "/healthz"
    health.request(flow)
    assert flow.response.status_code == 200 and flow.response.json() == {"status": "ok", "worker": 3}
    for method, path in (("POST", "/healthz"), ("GET", "/healthz/x"), ("GET", "/v1/models")):
        flow = tflow.tflow()
        flow.request.method, flow.request.path = method, path
        health.request(flow)
        assert flow.response is None
    monkeypatch.delenv("LLM_BRIDGE_WORKER")
    flow = tflow.tflow()
    flow.request.method, flow.request.path = "GET", "/healthz?probe=1"
    Health().request(flow)
    assert flow.response.json() == {"status": "ok"}  # the single process: no worker number


def test_the_workers_share_a_private_redis(cluster):
    """Without [state] redis_url the cluster starts its own redis-server on a unix socket in its private run
    directory and hands it to every worker (LLM_BRIDGE_REDIS_URL), so key cool-downs, the round robin and token
    refreshes are shared (what sharing does is tests/test_shared_state.py's)."""
    socket_path = cluster.run_dir / "redis.sock"
    assert f"shared state: a private redis-server on {socket_path}" in cluster.log()
    for _, pid in cluster.workers.values():
        env = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
        assert env["LLM_BRIDGE_REDIS_URL"] == f"unix://{socket_path}"
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(socket_path))
        s.sendall(b"PING\r\n")
        assert s.recv(16).startswith(b"+PONG")
    assert "is unreachable" not in cluster.log()  # every worker reached it


def test_a_responses_clients_items_are_found_on_the_other_worker(cluster):
    """The Vercel AI SDK's Responses loop refers to the last answer's items by id; a client without a session
    header has its turns spread over the workers: the items are shared through the cluster's Redis."""
    from tests.test_item_references import WEATHER

    on: dict[str, str] = {}
    for session in (f"items-{n}" for n in range(100)):
        worker = httpx.get(cluster.base_url + "/healthz", headers={"x-session-id": session}).headers[hap.WORKER_HEADER]
        on.setdefault(worker, session)
        if len(on) == 2:
            break
    client = cluster.client()
    raw = client.responses.with_raw_response.create(model="claude-sim", input="[sim:tools]", tools=[WEATHER],
                                                    extra_headers={"x-session-id": on["worker1"]})
    assert raw.headers[hap.WORKER_HEADER] == "worker1"
    output = raw.parse().output
    calls = [item for item in output if item.type == "function_call"]
    follow = [{"role": "user", "content": "[sim:tools]"}, *({"type": "item_reference", "id": item.id} for item in output),
              *({"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls)]
    time.sleep(0.2)  # (written to Redis in the background)
    raw = client.responses.with_raw_response.create(model="claude-sim", input=follow, tools=[WEATHER],
                                                    extra_headers={"x-session-id": on["worker2"]})
    assert raw.headers[hap.WORKER_HEADER] == "worker2"
    assert raw.parse().output_text.startswith("Tool results received")


def test_missing_redis_is_one_line_and_a_failure(tmp_path, haproxy_program, monkeypatch, capsys):
    from addons.cluster import redis as cluster_redis

    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without redis-server
    monkeypatch.setattr(cluster_redis, "SBIN", ())
    monkeypatch.delenv("LLM_BRIDGE_REDIS_URL", raising=False)
    assert cluster_main.main(["--workers", "2", "--haproxy", haproxy_program]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "redis-server is missing" in err and "apt-get install redis-server" in err


# --- what the workers share through the cluster's private Redis (issue 16, point 2, through the command) -------

def _worker_of(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    return answer.headers[hap.WORKER_HEADER]


@pytest.fixture
def flaky():
    from tests.simulator.flaky import flaky_simulator

    with flaky_simulator(None, None, strict_turns=False) as running:
        yield running


def test_a_429_on_one_worker_rests_the_key_on_the_other_and_the_round_robin_is_shared(haproxy_program, redis_program,
                                                                                         tmp_path, flaky):
    from tests.test_shared_state import KEYS, keys_toml

    sim, front = flaky
    running = Cluster(tmp_path, sim.base_url, haproxy_program, config_text=keys_toml(sim.base_url, None)).wait_ready()
    try:
        def chat(session: str) -> httpx.Response:
            return httpx.post(running.base_url + "/v1/chat/completions", timeout=30, headers={"x-session-id": session},
                              json={"model": "two/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})

        def count_tokens(session: str) -> httpx.Response:  # a call without a conversation: the round robin
            return httpx.post(running.base_url + "/v1/messages/count_tokens", timeout=30, headers={"x-session-id": session},
                              json={"model": "rr/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})

        # one conversation per worker (HAProxy's hash of the session), both with the first key (the bridge's)
        on: dict[str, str] = {}
        for n in range(200):
            session = f"ses_{n}"
            if zlib.crc32(session.encode()) % 2 == 0 and len(on) < 2:
                on.setdefault(_worker_of(chat(session)), session)
        assert set(on) == {"worker1", "worker2"}, on
        front.script("two", ["429"])
        answer = chat(on["worker1"])
        assert answer.status_code == 429 and answer.headers[hap.WORKER_HEADER] == "worker1"
        time.sleep(0.1)  # (pub/sub: heard within a millisecond or so)
        answer = chat(on["worker2"])  # another conversation with the same key, on the other worker
        assert _worker_of(answer) == "worker2"
        assert front.credentials["two"] == [f"Bearer {KEYS[0]}", f"Bearer {KEYS[1]}"]

        front.script("rr", [])
        served = [_worker_of(count_tokens(on[w])) for w in ("worker1", "worker2") * 3]
        assert served == ["worker1", "worker2"] * 3
        used = [c.removeprefix("Bearer ") for c in front.credentials["rr"]]
        assert used == [KEYS[0], KEYS[1]] * 3  # one turn across the workers (each its own: K0 K0 K1 K1 K0 K0)
    finally:
        running.stop()


def _scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(base_url + "/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _credential_cluster(tmp_path, up, haproxy_program) -> Cluster:
    from tests.credential_fixtures import credential_env, credentials_toml
    from tests.test_credential_rotation import expired_store

    store = tmp_path / "store.json"
    expired_store(store)  # one host: the workers share the store file, and the cluster's Redis
    return Cluster(tmp_path, up.base_url, haproxy_program, config_text=credentials_toml(up.base_url, store, trae=False),
                   env=credential_env()).wait_ready()


def test_fifty_requests_on_an_expired_token_make_one_refresh_across_the_workers(haproxy_program, redis_program,
                                                                                 tmp_path):
    import asyncio

    from tests.credential_fixtures import CredentialUpstreams
    from tests.test_credential_rotation import _burst

    with CredentialUpstreams(workos_delay_s=0.5) as up:
        running = _credential_cluster(tmp_path, up, haproxy_program)
        try:
            answers = asyncio.run(_burst([running.base_url], 50))
            metrics = _scrape(running.base_url)
        finally:
            running.stop()
    assert [a.status_code for a in answers] == [200] * 50, answers[0].text
    assert {a.headers[hap.WORKER_HEADER] for a in answers} == {"worker1", "worker2"}
    assert up.workos.calls == 1 and up.workos.reused_refresh_tokens == []
    assert metrics[("llm_bridge_refreshes_total", frozenset({("provider", "factory")}))] == 1  # summed over the workers


def test_sigkill_of_the_refreshing_worker_between_refresh_and_save_loses_no_token(haproxy_program, redis_program,
                                                                                   tmp_path):
    """Worker 1 refreshes and is SIGKILLed once the provider has rotated the token, before it stored it. HAProxy
    sends the request again to worker 2, which takes the lock when worker 1's lease runs out and presents the
    stored token again within the provider's replay grace period. Every request succeeds, the rotated pair is
    stored, and worker 1, restarted, goes on with it."""
    import asyncio

    import orjson
    import redis as redis_sync

    from tests.credential_fixtures import DROID_REFRESH, CredentialUpstreams, KillAtIssue
    from tests.test_credential_rotation import CHAT, _burst

    with CredentialUpstreams(replay_grace_s=30.0) as up:
        kill = KillAtIssue()
        up.workos.on_issue = kill
        running = _credential_cluster(tmp_path, up, haproxy_program)
        try:
            def health(session: str) -> str:
                return httpx.get(running.base_url + "/healthz", headers={"x-session-id": session}).headers[hap.WORKER_HEADER]

            session = next(s for s in (f"s-{n}" for n in range(100)) if health(s) == "worker1")
            kill.pid = running.workers["worker1"][1]
            first = httpx.post(running.base_url + "/v1/chat/completions", json=CHAT, timeout=30,
                               headers={"x-session-id": session})
            assert kill.killed_at is not None and not alive(kill.pid)
            answers = asyncio.run(_burst([running.base_url], 50))
            _wait_status(running, "worker1", "UP", timeout=30)  # restarted
            again = [httpx.post(running.base_url + "/v1/chat/completions", json=CHAT, timeout=30,
                                headers={"x-session-id": session}) for _ in range(3)]
            stored = redis_sync.Redis.from_url(f"unix://{running.run_dir / 'redis.sock'}").hgetall("llm-bridge:tokens:factory")
        finally:
            running.stop()
    assert first.status_code == 200 and first.headers[hap.WORKER_HEADER] == "worker2", first.text  # (sent again)
    assert [a.status_code for a in answers] == [200] * 50
    assert [(a.status_code, a.headers[hap.WORKER_HEADER]) for a in again] == [(200, "worker1")] * 3
    assert up.workos.calls == 2 and up.workos.grace_replays == [DROID_REFRESH]
    assert up.workos.reused_refresh_tokens == []
    newest = up.workos.issued[-1]["refresh_token"]
    assert up.workos.live_refresh_tokens == {newest}
    assert orjson.loads(stored[b"tokens"])["refresh_token"] == newest
    assert orjson.loads((tmp_path / "store.json").read_bytes())["credentials"]["factory"]["refresh_token"] == newest
