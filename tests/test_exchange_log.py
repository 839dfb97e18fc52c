"""One log line per exchange at mitmdump's default verbosity, and the same summary as the flow's comment
(issue 13, points 3 and 6): client protocol and path → provider, upstream protocol and model, status,
time to first byte and in all, tokens, attempts; never a secret or a prompt."""

from __future__ import annotations

import os
import re
import time

import anthropic
import openai
import pytest

from tests.bridge_process import BridgeProcess
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.simulator.flaky import flaky_simulator

PROMPT = "a private prompt that must never be logged"


@pytest.fixture(scope="module")
def sim():
    with flaky_simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def bridge(sim, tmp_path_factory):
    simulator, _ = sim
    folder = tmp_path_factory.mktemp("exchange-log")
    config = folder / "bridge.toml"
    config.write_text(f"""
[retries]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.1

[[providers]]
name = "claude"
protocol = "anthropic"
base_url = "{simulator.base_url}/flaky/claude"
api_key = "{ANTHROPIC_KEY}"

[[providers]]
name = "gpt"
protocol = "openai-chat"
base_url = "{simulator.base_url}/v1"
api_key = "{OPENAI_KEY}"

[[models]]
id = "claude-sim"
provider = "claude"
upstream_model = "claude-sonnet-4-5"

[[models]]
id = "gpt-sim"
provider = "gpt"
upstream_model = "gpt-4o-mini"
""")
    # the default verbosity: no -q, no --set termlog_verbosity
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log",
                            env=dict(os.environ)).wait_ready()
    yield process
    process.stop()


def exchange_lines(bridge: BridgeProcess, after: int = 0, expected: int = 0) -> list[str]:
    """The exchange lines logged after the first `after`; waits (bounded) for `expected` of them: a stream's
    line is logged when mitmproxy's `response` hook runs, which may be just after the client read its end."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in bridge.log().splitlines() if " → " in line and "llm-bridge:" in line][after:]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_streamed_translated_exchange_logs_one_line(bridge, sim):
    before = len(exchange_lines(bridge))
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0)
    chunks = client.chat.completions.create(model="claude-sim", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": PROMPT}])
    usage = [c.usage for c in chunks if c.usage][-1]
    lines = exchange_lines(bridge, before, 1)
    assert len(lines) == 1, lines
    line = lines[0]
    assert "openai-chat → claude/claude-sonnet-4-5 (anthropic) · POST /v1/chat/completions · 200" in line, line
    assert re.search(r"first byte \d+\.\d\d s · \d+\.\d\d s", line), line
    assert f"tokens {usage.prompt_tokens - (usage.prompt_tokens_details.cached_tokens or 0)} in, {usage.completion_tokens} out" in line, line
    assert line.endswith("1 attempt"), line
    assert PROMPT not in bridge.log() and ANTHROPIC_KEY not in bridge.log()


def test_a_whole_exchange_after_a_retry_says_so(bridge, sim):
    _, front = sim
    front.script("claude", ["503"])
    before = len(exchange_lines(bridge))
    client = anthropic.Anthropic(base_url=bridge.base_url, api_key="unused", max_retries=0)
    message = client.messages.create(model="gpt-sim", max_tokens=32, messages=[{"role": "user", "content": PROMPT}])
    chat = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0)
    chat.chat.completions.create(model="claude-sim", messages=[{"role": "user", "content": "hi"}])
    first, second = exchange_lines(bridge, before, 2)
    assert "anthropic → gpt/gpt-4o-mini (openai-chat) · POST /v1/messages · 200" in first, first
    assert f"tokens {message.usage.input_tokens} in, {message.usage.output_tokens} out" in first, first
    assert "openai-chat → claude/claude-sonnet-4-5 (anthropic) · POST /v1/chat/completions · 200" in second, second
    assert second.endswith("attempts 2; 503"), second


def test_an_exchange_that_fails_upstream_is_logged_with_its_status(bridge, sim):
    _, front = sim
    front.script("claude", ["400"])
    before = len(exchange_lines(bridge))
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="claude-sim", messages=[{"role": "user", "content": PROMPT}])
    (line,) = exchange_lines(bridge, before, 1)
    assert "→ claude/claude-sonnet-4-5 (anthropic) · POST /v1/chat/completions · 400" in line, line
