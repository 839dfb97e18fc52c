"""Prometheus metrics at GET /metrics (issue 16, point 3), through a real mitmdump with the official openai and
anthropic SDKs to the simulator: the counts match the requests made, the histograms have observations, the
tokens match the usage the simulator reported (as the clients read it), upstream errors, retries and open
streams are counted, auth_tokens protect the endpoint, and the multiprocess mode sums the files of a
PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import openai
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from addons.usage.exchange import Exchange
from addons.usage.metrics import Metrics
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.simulator.flaky import flaky_simulator
from tests.usage_exchanges import (BRIDGE_TOKEN, anthropic_client, chat, every_kind, get, messages, openai_client,
                                   start_bridge, wait_for)


@pytest.fixture(scope="module")
def sim():
    with flaky_simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def bridge(sim, tmp_path_factory):
    process = start_bridge(sim[0], tmp_path_factory.mktemp("metrics"), attempts=3)
    yield process
    process.stop()


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    response = get(base_url, "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def delta(after: dict, before: dict, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def settled(base_url: str, before: dict, name: str, expected: float, **labels) -> dict:
    """The metrics once `name{labels}` grew by `expected` (a stream is counted when mitmproxy's response hook
    runs, which may be just after the client read its end)."""
    def grown():
        samples = scrape(base_url)
        return samples if delta(samples, before, name, **labels) >= expected else None

    return wait_for(grown) or scrape(base_url)


def test_requests_histograms_and_tokens_match_what_the_clients_saw(bridge):
    before = scrape(bridge.base_url)
    done = every_kind(bridge.base_url)
    last = done[-1]
    after = settled(bridge.base_url, before, "llm_bridge_requests_total", 1, client_protocol=last.client_protocol,
                    provider=last.provider, model=last.model, status="200")
    after = settled(bridge.base_url, before, "llm_bridge_requests_total", 1, client_protocol="anthropic",
                    provider="gem", model="gemini-3-pro-preview", status="200")

    requests = Counter((d.client_protocol, d.provider, d.model, str(d.status)) for d in done)
    for (protocol, provider, model, status), count in requests.items():
        assert delta(after, before, "llm_bridge_requests_total", client_protocol=protocol, provider=provider,
                     model=model, status=status) == count, (protocol, provider, model)
    pairs = Counter((d.client_protocol, d.provider) for d in done)
    for (protocol, provider), count in pairs.items():
        for histogram in ("llm_bridge_time_to_first_byte_seconds", "llm_bridge_request_duration_seconds"):
            labels = {"client_protocol": protocol, "provider": provider}
            assert delta(after, before, f"{histogram}_count", **labels) == count, (histogram, labels)
            assert delta(after, before, f"{histogram}_bucket", le="+Inf", **labels) == count
            assert delta(after, before, f"{histogram}_sum", **labels) > 0
    tokens: dict[tuple[str, str], Counter] = {}
    for d in done:
        tokens.setdefault((d.provider, d.model), Counter()).update(d.tokens)
    assert any(t["input"] for t in tokens.values()) and any(t["output"] for t in tokens.values())
    for (provider, model), expected in tokens.items():
        for kind in ("input", "output", "cache_read", "cache_write"):
            assert delta(after, before, "llm_bridge_tokens_total", provider=provider, model=model,
                         kind=kind) == expected[kind], (provider, model, kind)


def test_upstream_errors_and_retries_are_counted(bridge, sim):
    _, front = sim
    before = scrape(bridge.base_url)
    front.script("claude", ["503", "429"])  # two failed attempts, then the answer
    chat(bridge.base_url, "claude-flaky")
    front.script("claude", ["400"])  # not retried: the client gets its 400
    with pytest.raises(openai.BadRequestError):
        chat(bridge.base_url, "claude-flaky")
    after = settled(bridge.base_url, before, "llm_bridge_requests_total", 1, client_protocol="openai-chat",
                    provider="flaky", model="claude-sonnet-4-5", status="400")
    assert delta(after, before, "llm_bridge_retries_total", provider="flaky") == 2
    assert delta(after, before, "llm_bridge_upstream_errors_total", provider="flaky", kind="5xx") == 1
    assert delta(after, before, "llm_bridge_upstream_errors_total", provider="flaky", kind="429") == 1
    assert delta(after, before, "llm_bridge_upstream_errors_total", provider="flaky", kind="4xx") == 1
    assert delta(after, before, "llm_bridge_requests_total", client_protocol="openai-chat", provider="flaky",
                 model="claude-sonnet-4-5", status="200") == 1
    assert ("llm_bridge_refreshes_total", frozenset()) not in after  # labelled by provider: none refreshed here


def test_an_open_stream_is_counted_while_it_streams(bridge):
    client = anthropic_client(bridge.base_url)
    seen = []
    with client.messages.stream(model="claude-sim", max_tokens=64,
                                messages=[{"role": "user", "content": "[sim:text delay_ms=150]"}]) as events:
        for event in events:
            if event.type == "content_block_delta" and not seen:
                seen.append(scrape(bridge.base_url)[("llm_bridge_open_streams", frozenset())])
    assert seen and seen[0] >= 1
    assert wait_for(lambda: scrape(bridge.base_url)[("llm_bridge_open_streams", frozenset())] == 0)


def test_a_request_refused_for_its_token_is_counted_without_a_provider(bridge):
    before = scrape(bridge.base_url)
    with pytest.raises(openai.AuthenticationError):
        openai_client(bridge.base_url, token="not-the-token").chat.completions.create(
            model="claude-sim", messages=[{"role": "user", "content": "hi"}])
    after = settled(bridge.base_url, before, "llm_bridge_requests_total", 1, client_protocol="openai-chat",
                    provider="", model="", status="401")
    assert delta(after, before, "llm_bridge_requests_total", client_protocol="openai-chat", provider="", model="",
                 status="401") == 1


def test_auth_tokens_protect_the_metrics(bridge):
    assert get(bridge.base_url, "/metrics", token=None).status_code == 401
    refused = get(bridge.base_url, "/metrics", token="wrong")
    assert refused.status_code == 401 and "auth_tokens" in refused.json()["error"]["message"]
    assert get(bridge.base_url, "/metrics").status_code == 200
    assert get(bridge.base_url, "/metrics", token=None).status_code == 401


def test_each_bridge_has_its_own_registry():
    first, second = Metrics(multiproc_dir=""), Metrics(multiproc_dir="")
    exchange = Exchange(0.0, None, "anthropic", "p", "m", None, 200, False, 3, 4, 0, 0, 0.1, 0.2, 1)
    first.exchange(exchange)
    assert b'llm_bridge_requests_total{client_protocol="anthropic",model="m",provider="p",status="200"} 1.0' \
        in first.exposition()[0]
    assert b"llm_bridge_requests_total{" not in second.exposition()[0]
    assert b"llm_bridge" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_multiprocess_mode_sums_the_workers_files(sim, tmp_path):
    """PROMETHEUS_MULTIPROC_DIR (set by the cluster command for its workers): values go to files there, and
    /metrics answers from all of them. Here one worker; a second process's file is summed as well."""
    folder = tmp_path / "multiproc"
    folder.mkdir()
    process = start_bridge(sim[0], tmp_path, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    try:
        done = messages(process.base_url, "claude-sim")
        after = wait_for(lambda: scrape(process.base_url).get(
            ("llm_bridge_requests_total", frozenset({"client_protocol": "anthropic", "provider": "claude",
                                                      "model": "claude-sonnet-4-5", "status": "200"}.items()))))
        assert after == 1.0
        assert any(path.name.startswith("counter_") for path in folder.iterdir()), list(folder.iterdir())
        samples = scrape(process.base_url)
        assert samples[("llm_bridge_tokens_total", frozenset(
            {"provider": "claude", "model": "claude-sonnet-4-5", "kind": "input"}.items()))] == done.tokens["input"]
        # another worker's file, as a second process of the cluster leaves it: its values are added
        other = _other_worker(folder)
        other.join()
        samples = scrape(process.base_url)
        assert samples[("llm_bridge_requests_total", frozenset(
            {"client_protocol": "anthropic", "provider": "claude", "model": "claude-sonnet-4-5",
             "status": "200"}.items()))] == 2.0
    finally:
        process.stop()


def _other_worker(folder) -> threading.Thread:
    """A second process writing to the same directory (a subprocess: the value class is chosen at import)."""
    code = ("from addons.usage.metrics import Metrics; from addons.usage.exchange import Exchange; "
            "Metrics().exchange(Exchange(0.0, None, 'anthropic', 'claude', 'claude-sonnet-4-5', None, 200, False, "
            "1, 1, 0, 0, 0.1, 0.2, 1))")
    root = Path(__file__).resolve().parent.parent
    thread = threading.Thread(target=subprocess.run, args=([sys.executable, "-c", code],), kwargs={
        "cwd": root, "env": {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}, "check": True})
    thread.start()
    return thread


def test_the_bridge_token_is_never_in_the_metrics(bridge):
    text = get(bridge.base_url, "/metrics").text
    assert BRIDGE_TOKEN not in text and ANTHROPIC_KEY not in text and OPENAI_KEY not in text


def test_every_refresh_is_counted_before_expiry_and_after_a_401(tmp_path):
    """Factory's WorkOS token: refreshed before the first call (no access token yet), then revoked upstream: the
    relay's 401 makes the credential refresh again and the call is tried once more. Each refresh made at the
    token endpoint is counted, and only those."""
    from tests.credential_fixtures import CredentialUpstreams, credentials_toml
    from tests.credential_fixtures import start_bridge as start_credential_bridge

    with CredentialUpstreams() as up:
        process = start_credential_bridge(tmp_path, credentials_toml(up.base_url, tmp_path / "store.json", trae=False))
        try:
            client = openai.OpenAI(base_url=f"{process.base_url}/v1", api_key="unused", max_retries=0, timeout=30)
            ask = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}
            start = scrape(process.base_url)
            client.chat.completions.create(**ask)  # the first access token: a refresh before any call
            before = settled(process.base_url, start, "llm_bridge_refreshes_total", 1, provider="factory")
            assert delta(before, start, "llm_bridge_refreshes_total", provider="factory") == 1 == up.workos.calls
            assert delta(before, start, "llm_bridge_upstream_errors_total", provider="factory", kind="4xx") == 0
            client.chat.completions.create(**ask)  # a valid token: no refresh
            up.workos.revoke_access_tokens()
            client.chat.completions.create(**ask)
            after = settled(process.base_url, before, "llm_bridge_refreshes_total", 1, provider="factory")
            assert delta(after, before, "llm_bridge_refreshes_total", provider="factory") == 1
            assert up.workos.calls == 2
            assert delta(after, before, "llm_bridge_upstream_errors_total", provider="factory", kind="4xx") == 1
            assert delta(after, before, "llm_bridge_retries_total", provider="factory") == 0  # a refresh is no retry
        finally:
            process.stop()


@pytest.mark.parametrize("kind,counted", [("reset-mid-stream", "broken"), ("stall-mid-stream", "timeout")])
def test_an_answer_that_breaks_off_mid_stream_is_an_upstream_error(tmp_path, kind, counted):
    """The head and the first events arrived, then the upstream reset the connection or went silent past the
    idle bound: the client's stream ends with its error event, and the break is counted by its kind."""
    from tests.bridge_process import BridgeProcess
    from tests.simulator.faults import FaultServer
    from tests.test_upstream_faults import _config

    faults = FaultServer().start_in_thread()
    config = tmp_path / "faults.toml"
    config.write_text(_config(faults.base_url, 1))
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=tmp_path / "mitmdump.log",
                            env=dict(os.environ)).wait_ready()
    try:
        before = scrape(process.base_url)
        client = openai.OpenAI(base_url=f"{process.base_url}/v1", api_key="unused", max_retries=0, timeout=30)
        with contextlib.suppress(openai.APIError):  # (how the stream ends is tests/test_upstream_faults.py's)
            for _ in client.chat.completions.create(model=f"oai/fault-{kind}", stream=True,
                                                    messages=[{"role": "user", "content": "hi"}]):
                pass
        after = settled(process.base_url, before, "llm_bridge_upstream_errors_total", 1, provider="oai", kind=counted)
        assert delta(after, before, "llm_bridge_upstream_errors_total", provider="oai", kind=counted) == 1
        others = {"broken", "timeout", "connect", "4xx", "429", "5xx"} - {counted}
        assert all(delta(after, before, "llm_bridge_upstream_errors_total", provider="oai", kind=k) == 0 for k in others)
    finally:
        process.stop()
        faults.stop()
