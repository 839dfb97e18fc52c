"""Hostile input through a real `mitmdump -s addons/bridge.py`: refused in the client's envelope,
before anything goes upstream, and at no cost in memory.

Every case of tests/hostile_corpus.py is sent with a raw socket client (SDKs sanitize what they
send); the answer must be a 4xx with the expected status in the client protocol's envelope, name
the client's field where one is at fault, hold no Python repr, exception name or raw request bytes,
and the upstream simulator must have recorded nothing. Then a good request of the same protocol on
the same bridge must still succeed.

Also: a CRLF model on a keep-alive connection, a 50 MB body, compression bombs (peak memory from
/proc/<pid>/status VmHWM after resetting it through /proc/<pid>/clear_refs), a burst of hostile
bodies, `[server] max_request_bytes`, model names in upstream URLs, and an upstream HTML error page.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests import hostile_corpus as corpus
from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml
from tests.envelope_checks import leak_problems, message_problems, names_field, parse_envelope
from tests.hostile_corpus import CASES, PADDED_JSON_HEAD, Case, good_request
from tests.raw_http import RawConnection, build_request, send, send_streaming_body

MB = 1024 * 1024
MEMORY_SLACK_KB = 8 * 1024  # "returns to within a few MB"
HTML_PAGE = b"""<!DOCTYPE html>
<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""


class HtmlErrorUpstream:
    """An upstream behind a misconfigured load balancer: every call gets nginx's HTML 502 page."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(502)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(HTML_PAGE)))
                self.end_headers()
                self.wfile.write(HTML_PAGE)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def html_provider_toml(port: int) -> str:
    return f"""
[[providers]]
name = "htmlup"
protocol = "openai-chat"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "html-upstream-key"

[[models]]
id = "html-sim"
provider = "htmlup"
upstream_model = "gpt-4o-mini"
"""


@pytest.fixture(scope="module")
def sim(simulator):
    """The session's simulator: each test counts the requests it adds."""
    return simulator


@pytest.fixture(scope="module")
def html_upstream():
    upstream = HtmlErrorUpstream()
    yield upstream
    upstream.stop()


def _start_bridge(folder, toml: str) -> BridgeProcess:
    config = folder / "bridge.toml"
    config.write_text(toml)
    env = {**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}
    return BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log", env=env).wait_ready()


@pytest.fixture(scope="module")
def bridge(sim, html_upstream, tmp_path_factory):
    """The bridge under attack: the default limits (max_request_bytes 32 MiB), no auth tokens, no CORS origins."""
    proc = _start_bridge(tmp_path_factory.mktemp("hostile"), bridge_toml(sim.base_url) + html_provider_toml(html_upstream.port))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def small_bridge(sim, tmp_path_factory):
    """A bridge with `[server] max_request_bytes = 65536`."""
    proc = _start_bridge(tmp_path_factory.mktemp("hostile-small"),
                         bridge_toml(sim.base_url) + "\n[server]\nmax_request_bytes = 65536\n")
    yield proc
    proc.stop()


# --- helpers ---

def _headers(port: int, headers) -> list[tuple[str, str]]:
    filled = [(k, v.replace("{port}", str(port))) for k, v in headers]
    host = [(k, v) for k, v in filled if k.lower() == "host"] or [("Host", f"127.0.0.1:{port}")]
    return host + [(k, v) for k, v in filled if k.lower() != "host"]


def send_case(port: int, case: Case, timeout: float = 20):
    return send(port, case.method, case.path, _headers(port, case.headers), case.body,
                content_length=case.declared_length, timeout=10 if case.declared_length else timeout)


def send_good(port: int, protocol: str, **kwargs):
    method, path, headers, body = good_request(protocol)
    return send(port, method, path, _headers(port, headers), body, **kwargs)


def check_refusal(response, case: Case) -> list[str]:
    """Every way `response` is not the refusal `case` calls for."""
    problems = []
    if response.status not in case.statuses:
        problems.append(f"status {response.status}, expected one of {sorted(case.statuses)}")
    if not 400 <= response.status < 500:
        problems.append(f"status {response.status} is not a 4xx")
    parsed = parse_envelope(response, case.protocol)
    problems += parsed.problems
    problems += leak_problems(response, case.body)
    problems += message_problems(parsed.message)
    if case.fields and not names_field(parsed, case.fields):
        problems.append(f"names none of the fields {list(case.fields)}: param={parsed.param!r} message={parsed.message!r}")
    for pattern in case.mentions:
        if not re.search(pattern, parsed.message, re.I):
            problems.append(f"the message does not mention /{pattern}/: {parsed.message!r}")
    return problems


def _upstream_calls(sim, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests[since:]]


def _status_kb(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/{pid}/status")


class PeakMemory:
    """The process's peak RSS over a block: VmHWM reset through clear_refs, else VmRSS sampled every 2 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> "PeakMemory":
        self.before = _status_kb(self.pid, "VmRSS")
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as clear:
                clear.write("5")
            self.hwm = True
        except OSError:
            self.hwm = False
        self.sampled = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.sampled = max(self.sampled, _status_kb(self.pid, "VmRSS"))
            except (OSError, AssertionError):
                return
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.sampled, _status_kb(self.pid, "VmHWM") if self.hwm else 0)
        self.after = _status_kb(self.pid, "VmRSS")

    @property
    def growth_kb(self) -> int:
        return self.peak - self.before


# --- the corpus ---

def test_corpus_size():
    assert len(CASES) >= 60
    assert all(corpus.COUNTS[p] >= 10 for p in corpus.PROTOCOLS), corpus.COUNTS


@pytest.mark.parametrize("protocol", corpus.PROTOCOLS)
def test_good_request_succeeds(bridge, sim, protocol):
    before = len(sim.requests)
    answer = send_good(bridge.port, protocol)
    assert answer.status == 200, answer
    assert len(sim.requests) == before + 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_case(bridge, sim, case):
    before = len(sim.requests)
    response = send_case(bridge.port, case)
    problems = check_refusal(response, case)
    went_up = _upstream_calls(sim, before)
    if went_up:
        problems.append(f"reached the upstream: {went_up}")
    good = send_good(bridge.port, case.protocol)
    if good.status != 200:
        problems.append(f"the next good {case.protocol} request got {good.status}: {good.body[:300]!r}")
    assert not problems, f"{case.name}: {response.status} {response.body[:500]!r}\n  " + "\n  ".join(problems)


# --- compressed bodies within the limit are fine ---

@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_compressed_good_body_is_accepted(bridge, sim, encoding):
    before = len(sim.requests)
    body = corpus.compressed(encoding, corpus.good_body("openai-chat"))
    answer = send(bridge.port, "POST", corpus.CHAT_PATH, _headers(bridge.port, [corpus.JSON_TYPE, ("Content-Encoding", encoding)]),
                  body)
    assert answer.status == 200, answer
    assert len(sim.requests) == before + 1
    assert sim.requests[-1].json["messages"][0]["content"].startswith("hello")


# --- forged headers and keep-alive ---

CRLF = "\r\nx-injected: yes"
KEEP_ALIVE_CASES = [
    ("openai-chat", corpus.CHAT_PATH, corpus.chat_body(model="gpt-sim" + CRLF)),
    ("openai-chat", corpus.CHAT_PATH, corpus.chat_body(model="gem/x" + CRLF)),  # a Gemini upstream: the model goes in its URL
    ("anthropic", corpus.MESSAGES_PATH, corpus.messages_body(model="claude/x" + CRLF)),
    ("openai-responses", corpus.RESPONSES_PATH, corpus.responses_body(model="resp-sim" + CRLF)),
    ("gemini", "/v1beta/models/gem-sim%0D%0Ax-injected%3A%20yes:generateContent", corpus.gemini_body()),
]


@pytest.mark.parametrize("protocol, path, body", KEEP_ALIVE_CASES,
                         ids=["chat", "chat-gemini-upstream", "messages-provider-prefix", "responses", "gemini-url"])
def test_crlf_model_on_keep_alive_connection(bridge, sim, protocol, path, body):
    before = len(sim.requests)
    host = [("Host", f"127.0.0.1:{bridge.port}"), corpus.JSON_TYPE]
    _, good_path, _, good_body = good_request(protocol)
    with RawConnection(bridge.port) as connection:
        connection.send(build_request("POST", path, host, json.dumps(body).encode()))
        hostile = connection.read_response()
        connection.send(build_request("POST", good_path, host, good_body))
        good = connection.read_response()
    for answer in (hostile, good):
        assert "x-injected" not in answer.header_names, answer.raw_head  # a header value may quote it, encoded
        json.loads(answer.body)
    assert hostile.status == 400, hostile
    parsed = parse_envelope(hostile, protocol)
    assert not parsed.problems, parsed.problems
    assert names_field(parsed, ["model"]), parsed.message
    assert good.status == 200, good
    assert len(sim.requests) == before + 1  # only the good one went up
    assert all("x-injected" not in r.headers for r in sim.requests[before:])


def test_crlf_model_pipelined(bridge, sim):
    """Both requests in one write: the answers come back in order, each whole."""
    before = len(sim.requests)
    host = [("Host", f"127.0.0.1:{bridge.port}"), corpus.JSON_TYPE]
    hostile = build_request("POST", corpus.CHAT_PATH, host, json.dumps(corpus.chat_body(model="gpt-sim" + CRLF)).encode())
    good = build_request("POST", corpus.CHAT_PATH, host, corpus.good_body("openai-chat"))
    with RawConnection(bridge.port) as connection:
        connection.send(hostile + good)
        first = connection.read_response()
        second = connection.read_response()
    assert first.status == 400 and "x-injected" not in first.header_names, first
    assert second.status == 200 and "x-injected" not in second.header_names, second
    assert second.json()["object"] == "chat.completion"
    assert len(sim.requests) == before + 1


@pytest.mark.parametrize("model", ["gem/../../v1/files", "gem/x?key=stolen#frag", "gem/a b/..%2F..%2Fc"])
def test_model_in_upstream_url_is_percent_encoded(bridge, sim, model):
    """A model name that reaches a Gemini upstream's URL path stays one path segment."""
    before = len(sim.requests)
    answer = send(bridge.port, "POST", corpus.CHAT_PATH, _headers(bridge.port, [corpus.JSON_TYPE]),
                  json.dumps(corpus.chat_body(model=model)).encode())
    parsed = parse_envelope(answer, "openai-chat") if answer.status >= 400 else None
    assert parsed is None or not parsed.problems, parsed.problems
    for request in sim.requests[before:]:
        assert request.path.startswith("/v1beta/models/") and request.path.count("/") == 3, request.path
        assert request.path.endswith(":generateContent"), request.path
        assert "stolen" not in request.query and "frag" not in request.query, request.query


# --- size: nothing big is buffered or inflated ---

def test_50mb_body_refused_without_buffering(bridge, sim):
    pid = bridge.process.pid
    headers = _headers(bridge.port, [corpus.JSON_TYPE, ("Content-Length", str(50 * MB))])
    warm = send(bridge.port, "POST", corpus.CHAT_PATH, headers[:2], b"{}", content_length=50 * MB, timeout=10)
    assert warm.status == 413, warm
    before = len(sim.requests)

    def chunks():
        yield PADDED_JSON_HEAD + b" " * (MB - len(PADDED_JSON_HEAD))
        for _ in range(49):
            yield b" " * MB

    with PeakMemory(pid) as memory:
        answer, sent = send_streaming_body(bridge.port, "POST", corpus.CHAT_PATH, headers, chunks())
    assert answer.status == 413, answer
    parsed = parse_envelope(answer, "openai-chat")
    assert not parsed.problems, parsed.problems
    assert not leak_problems(answer)
    assert _upstream_calls(sim, before) == []
    assert memory.growth_kb <= MEMORY_SLACK_KB, (
        f"peak RSS grew {memory.growth_kb} kB on a refused 50 MB body ({sent} bytes sent; hwm={memory.hwm})")


def test_gzip_bomb_refused_quickly_without_inflating(bridge, sim):
    """The default limit (32 MiB): refused at once, never inflated whole, and nothing kept after."""
    pid = bridge.process.pid
    bomb = corpus.bomb("gzip")
    assert len(bomb) < 120_000
    headers = _headers(bridge.port, [corpus.JSON_TYPE, ("Content-Encoding", "gzip")])
    send(bridge.port, "POST", corpus.CHAT_PATH, headers, bomb)  # warm up whatever the first one loads
    time.sleep(0.2)
    before = len(sim.requests)
    with PeakMemory(pid) as memory:
        started = time.monotonic()
        answer = send(bridge.port, "POST", corpus.CHAT_PATH, headers, bomb)
        elapsed = time.monotonic() - started
    time.sleep(0.2)
    after_kb = _status_kb(pid, "VmRSS")
    assert answer.status == 413, answer
    parsed = parse_envelope(answer, "openai-chat")
    assert not parsed.problems, parsed.problems
    assert _upstream_calls(sim, before) == []
    assert elapsed < 2, f"a 100 KB gzip bomb took {elapsed:.2f} s to refuse"
    assert after_kb - memory.before <= MEMORY_SLACK_KB, f"RSS {memory.before} kB -> {after_kb} kB after a gzip bomb"
    # never inflated past the limit: well under the bomb's 100 MiB even counting a copy of the limit's worth
    assert memory.growth_kb <= (2 * corpus.MAX_REQUEST_BYTES_DEFAULT) // 1024 + MEMORY_SLACK_KB, (
        f"peak RSS grew {memory.growth_kb} kB on a gzip bomb (hwm={memory.hwm})")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_bomb_costs_no_more_than_the_limit(small_bridge, sim, encoding):
    """With max_request_bytes = 64 KiB a 100 MiB bomb may cost 64 KiB of inflation, not megabytes."""
    headers = _headers(small_bridge.port, [corpus.JSON_TYPE, ("Content-Encoding", encoding)])
    bomb = corpus.bomb(encoding)
    send(small_bridge.port, "POST", corpus.CHAT_PATH, headers, bomb)  # warm-up
    before = len(sim.requests)
    with PeakMemory(small_bridge.process.pid) as memory:
        answer = send(small_bridge.port, "POST", corpus.CHAT_PATH, headers, bomb)
    assert answer.status == 413, answer
    parsed = parse_envelope(answer, "openai-chat")
    assert not parsed.problems, parsed.problems
    assert _upstream_calls(sim, before) == []
    assert memory.growth_kb <= MEMORY_SLACK_KB, f"peak RSS grew {memory.growth_kb} kB on a {encoding} bomb"


def test_chunked_oversize_body_refused_without_buffering(small_bridge, sim):
    """No Content-Length to check up front: the bridge stops reading near the limit (64 KiB here)
    and answers 413 in the client's envelope."""
    headers = _headers(small_bridge.port, [corpus.JSON_TYPE, ("Transfer-Encoding", "chunked")])
    piece = b" " * MB

    def chunks():
        first = PADDED_JSON_HEAD + b" " * (MB - len(PADDED_JSON_HEAD))
        yield b"%x\r\n%s\r\n" % (len(first), first)
        for _ in range(39):
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        yield b"0\r\n\r\n"

    before = len(sim.requests)
    with PeakMemory(small_bridge.process.pid) as memory:
        answer, _ = send_streaming_body(small_bridge.port, "POST", corpus.CHAT_PATH, headers, chunks())
    assert answer.status == 413, answer
    parsed = parse_envelope(answer, "openai-chat")
    assert not parsed.problems, parsed.problems
    assert _upstream_calls(sim, before) == []
    assert memory.growth_kb <= MEMORY_SLACK_KB, f"peak RSS grew {memory.growth_kb} kB on a 40 MB chunked body"


BURST = ["chat-gzip-bomb", "messages-deflate-bomb", "responses-br-bomb", "gemini-zstd-bomb", "chat-json-nested-2000",
         "chat-tool-schema-450-deep", "messages-invalid-utf8", "gemini-content-length-over-limit", "chat-corrupt-gzip",
         "responses-content-type-text-plain"]


def test_memory_returns_after_a_burst(bridge, sim):
    by_name = {c.name: c for c in CASES}
    burst = [by_name[name] for name in BURST]
    pid = bridge.process.pid
    for case in burst:  # warm-up: whatever each path loads once
        send_case(bridge.port, case)
    time.sleep(0.3)
    before_kb = _status_kb(pid, "VmRSS")
    upstream_before = len(sim.requests)
    statuses = [send_case(bridge.port, burst[i % len(burst)]).status for i in range(50)]
    time.sleep(0.5)
    after_kb = _status_kb(pid, "VmRSS")
    assert all(400 <= s < 500 for s in statuses), statuses
    assert _upstream_calls(sim, upstream_before) == []
    assert after_kb - before_kb <= MEMORY_SLACK_KB, f"RSS {before_kb} kB -> {after_kb} kB after 50 hostile bodies"


# --- [server] max_request_bytes ---

@pytest.mark.parametrize("protocol", ["openai-chat", "anthropic"])
def test_max_request_bytes_option(small_bridge, sim, protocol):
    port = small_bridge.port
    path = corpus.PATHS[protocol]
    good = corpus.good_body(protocol)
    big = good[:-1] + b" " * (100_000 - len(good)) + b"}"
    fits = good[:-1] + b" " * (60_000 - len(good)) + b"}"
    json_headers = _headers(port, [corpus.JSON_TYPE])
    gzip_headers = _headers(port, [corpus.JSON_TYPE, ("Content-Encoding", "gzip")])
    before = len(sim.requests)
    for body, headers in ((big, json_headers), (corpus.compressed("gzip", big), gzip_headers)):
        answer = send(port, "POST", path, headers, body)
        assert answer.status == 413, answer
        parsed = parse_envelope(answer, protocol)
        assert not parsed.problems, parsed.problems
        assert _upstream_calls(sim, before) == []
    for body, headers in ((fits, json_headers), (corpus.compressed("gzip", fits), gzip_headers)):
        answer = send(port, "POST", path, headers, body)
        assert answer.status == 200, answer


# --- 6. an upstream's HTML error page ---

@pytest.mark.parametrize("protocol", corpus.PROTOCOLS)
def test_upstream_html_error_page_becomes_one_line(bridge, protocol):
    bodies = {"openai-chat": corpus.chat_body(model="html-sim"), "anthropic": corpus.messages_body(model="html-sim"),
              "openai-responses": corpus.responses_body(model="html-sim"), "gemini": corpus.gemini_body()}
    path = "/v1beta/models/html-sim:generateContent" if protocol == "gemini" else corpus.PATHS[protocol]
    answer = send(bridge.port, "POST", path, _headers(bridge.port, [corpus.JSON_TYPE]), json.dumps(bodies[protocol]).encode())
    assert 500 <= answer.status < 600, answer
    parsed = parse_envelope(answer, protocol)
    assert not parsed.problems, parsed.problems
    message = parsed.message
    assert "\n" not in message and "\r" not in message, repr(message)
    assert not re.search(r"<!DOCTYPE|<html|<body|<head|</\w+>|<hr>", message, re.I), message
    assert "502" in message or "Bad Gateway" in message, message
    assert not leak_problems(answer)
