"""Retries, end to end: the official SDKs -> a real `mitmdump -s addons/bridge.py` -> an upstream
that fails on cue (tests/simulator/flaky.py). Upstream calls are tried again only before the
first byte reached the client, on connection errors, timeouts, 429 and 5xx."""

from __future__ import annotations

import os
import time
import zlib

import httpx
import openai
import pytest

from tests.bridge_process import BridgeProcess, free_port
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.simulator.flaky import flaky_simulator

SECRET = "retry-tests-secret-0123456789abcdef"
BACKOFF_INITIAL = 0.2
MAX_RETRY_AFTER = 5


def providers(base: str, names: list[str]) -> str:
    return "".join(f"""
[[providers]]
name = "{name}"
protocol = "openai-chat"
base_url = "{base}/flaky/{name}/v1"
api_key = "{OPENAI_KEY}"
""" for name in names)


@pytest.fixture(scope="module")
def flaky():
    with flaky_simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY) as running:
        yield running


def start(folder, sim, attempts: int, name: str) -> BridgeProcess:
    config = folder / f"{name}.toml"
    config.write_text(f"""
[retries]
attempts = {attempts}
backoff_initial_seconds = {BACKOFF_INITIAL}
backoff_max_seconds = 1.0
max_retry_after_seconds = {MAX_RETRY_AFTER}
read_timeout_seconds = 1.0
{providers(sim.base_url, [f"p{i}" for i in range(14)])}
[[providers]]
name = "two-keys"
protocol = "openai-chat"
base_url = "{sim.base_url}/flaky/two-keys/v1"
api_keys = ["sk-first-key", "{OPENAI_KEY}"]

[[providers]]
name = "a8"
protocol = "anthropic"
base_url = "{sim.base_url}/flaky/a8"
api_key = "{ANTHROPIC_KEY}"

[[providers]]
name = "nowhere"
protocol = "openai-chat"
base_url = "http://127.0.0.1:{free_port()}/v1"
api_key = "{OPENAI_KEY}"
""")
    return BridgeProcess(f"--set=bridge_config={config}", f"--set=bridge_url_secret={SECRET}",
                         log_path=folder / f"{name}.log", env=dict(os.environ)).wait_ready()


@pytest.fixture(scope="module")
def bridge(flaky, tmp_path_factory):
    proc = start(tmp_path_factory.mktemp("retries"), flaky[0], 3, "bridge")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def bridge_without_retries(flaky, tmp_path_factory):
    proc = start(tmp_path_factory.mktemp("no-retries"), flaky[0], 1, "bridge")
    yield proc
    proc.stop()


def client(bridge: BridgeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0)


def ask(bridge, model: str, stream: bool) -> str:
    messages = [{"role": "user", "content": "hello"}]
    if stream:
        chunks = client(bridge).chat.completions.create(model=model, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return client(bridge).chat.completions.create(model=model, messages=messages).choices[0].message.content


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("stream", [False, True])
def test_success_after_two_failures(bridge, flaky, stream):
    _, front = flaky
    name = "p1" if stream else "p2"
    front.script(name, ["503", "500"])
    assert ask(bridge, f"{name}/gpt-4o-mini", stream).startswith("Hello from the simulator")
    assert len(front.arrivals[name]) == 3
    # exponential backoff with jitter: the n-th pause lies in [ceiling/2, ceiling], ceiling = initial * 2**(n-1)
    first, second = gaps(front.arrivals[name])
    assert BACKOFF_INITIAL / 2 <= first < BACKOFF_INITIAL + 0.25
    assert BACKOFF_INITIAL <= second < 2 * BACKOFF_INITIAL + 0.25


@pytest.mark.parametrize("stream", [False, True])
def test_retry_exhausted_after_three_failures(bridge, flaky, stream):
    _, front = flaky
    name = "p3" if stream else "p4"
    front.script(name, ["503", "529", "502"])
    with pytest.raises(openai.InternalServerError) as raised:
        ask(bridge, f"{name}/gpt-4o-mini", stream)
    assert raised.value.status_code == 503
    assert raised.value.response.headers["x-should-retry"] == "false"  # the SDK must not multiply the attempts
    message = raised.value.message
    assert f"Provider '{name}' failed all 3 attempts (503, 529, 502)" in message
    assert "flaky upstream: scripted 502" in message  # the last answer's own words
    assert len(front.arrivals[name]) == 3


@pytest.mark.parametrize("stream", [False, True])
def test_exhausted_on_429s_is_the_clients_rate_limit(bridge, flaky, stream):
    """Every attempt answered 429: the client's RateLimitError with the provider's wait, not a 503."""
    _, front = flaky
    name = "p12" if stream else "p13"
    front.script(name, ["429:ra=0.2", "429:ra=0.2", "429:ra=2"])
    with pytest.raises(openai.RateLimitError) as raised:
        ask(bridge, f"{name}/gpt-4o-mini", stream)
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "2"
    assert f"Provider '{name}' failed all 3 attempts (429, 429, 429)" in raised.value.message
    assert len(front.arrivals[name]) == 3


def test_retry_after_is_respected(bridge, flaky):
    _, front = flaky
    front.script("p5", ["429:ra=1.5"])
    started = time.monotonic()
    assert ask(bridge, "p5/gpt-4o-mini", False).startswith("Hello")
    (gap,) = gaps(front.arrivals["p5"])
    assert 1.5 <= gap < 1.5 + 0.5  # the upstream's wait, not the 0.1-0.2 s backoff
    assert time.monotonic() - started >= 1.5


def test_a_retry_after_beyond_the_cap_goes_to_the_client_as_rate_limited(bridge, flaky):
    _, front = flaky
    front.script("p6", ["429:ra=3600"])
    with pytest.raises(openai.RateLimitError) as raised:
        ask(bridge, "p6/gpt-4o-mini", False)
    assert raised.value.response.headers["retry-after"] == "3600"
    assert len(front.arrivals["p6"]) == 1  # not waited for, not retried


def test_a_429_is_retried_with_the_next_key(bridge, flaky):
    _, front = flaky
    front.script("two-keys", ["429"])
    # a session whose key (session affinity: CRC-32 of its name over the keys) is the first one
    session = next(f"ses_{n}" for n in range(100) if zlib.crc32(f"ses_{n}".encode()) % 2 == 0)
    answer = client(bridge).chat.completions.create(model="two-keys/gpt-4o-mini", messages=[{"role": "user", "content": "hello"}],
                                                    extra_headers={"x-session-id": session})
    assert answer.choices[0].message.content.startswith("Hello")
    assert front.credentials["two-keys"] == ["Bearer sk-first-key", f"Bearer {OPENAI_KEY}"]  # the refused key rests


def test_timeouts_are_retried(bridge, flaky):
    _, front = flaky
    front.script("p7", ["hang=2"])  # longer than read_timeout_seconds = 1
    assert ask(bridge, "p7/gpt-4o-mini", True).startswith("Hello")
    assert len(front.arrivals["p7"]) == 2


def test_connection_errors_are_retried_then_exhausted(bridge):
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as raised:
        ask(bridge, "nowhere/gpt-4o-mini", False)
    assert raised.value.status_code == 503
    assert "failed all 3 attempts (connect error: connection refused, connect error: connection refused" in raised.value.message
    assert time.monotonic() - started >= BACKOFF_INITIAL / 2 + BACKOFF_INITIAL  # two pauses were made


def test_no_retry_once_bytes_were_streamed(bridge, flaky):
    """The simulator sends every event, then closes without the body's terminating chunk: the relay ends
    the body cleanly, so the client has the whole answer (its protocol says it is complete), and the
    call is not made again. (Cuts inside the protocol's stream: tests/test_upstream_faults.py.)"""
    _, front = flaky
    front.script("a8", [])
    messages = [{"role": "user", "content": "[sim:disconnect]"}]
    stream = client(bridge).chat.completions.create(model="a8/claude-sonnet-4-5", messages=messages, stream=True)
    received = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert "".join(received) == "Partial answer before"
    assert len(front.arrivals["a8"]) == 1  # the client had bytes, so nothing was tried again


def test_errors_that_will_not_pass_are_not_retried(bridge, flaky):
    _, front = flaky
    front.script("p9", ["501"])  # not implemented: trying again will not help
    with pytest.raises(openai.APIStatusError):
        ask(bridge, "p9/gpt-4o-mini", False)
    assert len(front.arrivals["p9"]) == 1


def test_with_retries_off_a_429_is_rate_limited_at_once(bridge_without_retries, flaky):
    _, front = flaky
    front.script("p10", ["429:ra=2"])
    with pytest.raises(openai.RateLimitError) as raised:
        ask(bridge_without_retries, "p10/gpt-4o-mini", False)
    assert raised.value.response.headers["retry-after"] == "2"
    assert len(front.arrivals["p10"]) == 1


# --- the same through a proxy URL: the codes scripts read ---

def proxy_url(bridge, sim, name: str) -> str:
    body = {"version": 2, "source": {"protocol": "openai"},
            "target": {"protocol": "openai", "baseUrl": f"{sim.base_url}/flaky/{name}/v1",
                       "auth": {"type": "bearer", "token": OPENAI_KEY}},
            "model": {"mode": "force", "force": "gpt-4o-mini"}}
    answer = httpx.post(bridge.base_url + "/api/generate-url", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["proxyUrl"]


def post_chat(url: str) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                      timeout=30)


def test_proxy_retry_exhausted_envelope(bridge, flaky):
    sim, front = flaky
    url = proxy_url(bridge, sim, "p11")
    front.script("p11", ["503", "503", "503"])
    answer = post_chat(url)
    body = answer.json()
    assert answer.status_code == 503 and body["error_code"] == "RETRY_EXHAUSTED"
    assert body["error"]["type"] == "server_error"  # the OpenAI envelope beside it
    assert body["endpoint_group"] == "chat" and body["request_id"] == answer.headers["x-request-id"]


def test_proxy_upstream_timeout_with_retries_off(bridge_without_retries, flaky):
    sim, front = flaky
    url = proxy_url(bridge_without_retries, sim, "p1")
    front.script("p1", ["hang=2"])  # longer than read_timeout_seconds = 1
    answer = post_chat(url)
    body = answer.json()
    assert answer.status_code == 504 and body["error_code"] == "UPSTREAM_TIMEOUT"
    assert body["error"]["type"] == "timeout_error" and "did not answer in time" in body["message"]


@pytest.mark.parametrize("attempts", [3, 1])
def test_proxy_rate_limited_envelope(bridge, bridge_without_retries, flaky, attempts):
    sim, front = flaky
    proc, wait = (bridge, "600") if attempts == 3 else (bridge_without_retries, "2")  # beyond the cap / retries off
    url = proxy_url(proc, sim, "p0")
    front.script("p0", [f"429:ra={wait}"])
    answer = post_chat(url)
    body = answer.json()
    assert answer.status_code == 429 and body["error_code"] == "RATE_LIMITED"
    assert body["retry_after"] == int(wait) and answer.headers["retry-after"] == wait
    assert body["error"]["type"] == "rate_limit_error" and "scripted 429" in body["message"]
    assert len(front.arrivals["p0"]) == 1
