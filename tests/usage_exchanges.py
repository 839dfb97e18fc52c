"""What tests/test_metrics.py and tests/test_usage_ledger.py share: a bridge on the simulator with a bridge
token, and one exchange per client SDK and model, each with the usage the simulator reported as the client
read it (its answer's usage fields, in the bridge's neutral terms)."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai

from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml

BRIDGE_TOKEN = "bridge-token-for-usage-tests-9f3c2a"
PROMPT = "a private prompt that the ledger never keeps"
GEMINI_KEY = "gemini-sim-key"  # bridge_toml's


def short_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def usage_toml(base_url: str, *, extra: str = "", attempts: int = 1) -> str:
    """bridge_toml's providers and models behind a bridge token, plus `claude-flaky` (a FlakyFront provider)."""
    config = bridge_toml(base_url).replace(
        "[retries]\nattempts = 1\n",
        f"[retries]\nattempts = {attempts}\nbackoff_initial_seconds = 0.05\nbackoff_max_seconds = 0.1\n")
    return f"""[server]
auth_tokens = ["{BRIDGE_TOKEN}"]
{extra}
{config}
[[providers]]
name = "flaky"
protocol = "anthropic"
base_url = "{base_url}/flaky/claude"
api_key = "sk-ant-sim-provider-key"

[[models]]
id = "claude-flaky"
provider = "flaky"
upstream_model = "claude-sonnet-4-5"
"""


def start_bridge(simulator, folder: Path, *, extra: str = "", attempts: int = 1, env: dict | None = None,
                 config_text: str | None = None) -> BridgeProcess:
    config = folder / "bridge.toml"
    config.write_text(config_text if config_text is not None else usage_toml(simulator.base_url, extra=extra,
                                                                             attempts=attempts))
    return BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log",
                         env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY, **(env or {})}).wait_ready()


@dataclass(frozen=True)
class Done:
    """One exchange as the client saw it."""

    client_protocol: str
    provider: str
    model: str  # upstream model
    status: int
    tokens: dict[str, int]  # input, output, cache_read, cache_write


# the models of bridge_toml: id -> (provider, upstream model)
MODELS = {"claude-sim": ("claude", "claude-sonnet-4-5"), "gpt-sim": ("oai", "gpt-4o-mini"),
          "resp-sim": ("resp", "gpt-5-mini"), "gem-sim": ("gem", "gemini-3-pro-preview"),
          "claude-flaky": ("flaky", "claude-sonnet-4-5")}


def _openai_tokens(prompt: int, output: int, details) -> dict[str, int]:
    details = details.model_dump() if details is not None else {}
    cached, written = details.get("cached_tokens") or 0, details.get("cache_write_tokens") or 0
    return {"input": prompt - cached - written, "output": output, "cache_read": cached, "cache_write": written}


def _anthropic_tokens(usage) -> dict[str, int]:
    return {"input": usage.input_tokens, "output": usage.output_tokens,
            "cache_read": usage.cache_read_input_tokens or 0, "cache_write": usage.cache_creation_input_tokens or 0}


def openai_client(base_url: str, token: str = BRIDGE_TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=token, max_retries=0, timeout=30)


def anthropic_client(base_url: str, token: str = BRIDGE_TOKEN) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=token, max_retries=0, timeout=30)


def chat(base_url: str, model: str, *, stream: bool = False, text: str = PROMPT) -> Done:
    client = openai_client(base_url)
    messages = [{"role": "user", "content": text}]
    if stream:
        usage = None
        for chunk in client.chat.completions.create(model=model, messages=messages, stream=True,
                                                    stream_options={"include_usage": True}):
            usage = chunk.usage or usage
    else:
        usage = client.chat.completions.create(model=model, messages=messages).usage
    provider, upstream = MODELS[model]
    return Done("openai-chat", provider, upstream, 200,
                _openai_tokens(usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details))


def messages(base_url: str, model: str, *, stream: bool = False, text: str = PROMPT) -> Done:
    client = anthropic_client(base_url)
    kw = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    if stream:
        with client.messages.stream(**kw) as events:
            for _ in events:
                pass
            usage = events.get_final_message().usage
    else:
        usage = client.messages.create(**kw).usage
    provider, upstream = MODELS[model]
    return Done("anthropic", provider, upstream, 200, _anthropic_tokens(usage))


def responses(base_url: str, model: str, *, text: str = PROMPT) -> Done:
    usage = openai_client(base_url).responses.create(model=model, input=text).usage
    provider, upstream = MODELS[model]
    return Done("openai-responses", provider, upstream, 200,
                _openai_tokens(usage.input_tokens, usage.output_tokens, usage.input_tokens_details))


def every_kind(base_url: str) -> list[Done]:
    """Both SDKs, the three OpenAI-side protocols, the four upstream protocols, streamed and whole."""
    return [
        chat(base_url, "claude-sim"),
        chat(base_url, "gpt-sim", stream=True),
        chat(base_url, "gem-sim"),
        messages(base_url, "claude-sim"),
        messages(base_url, "gpt-sim", stream=True),
        messages(base_url, "gem-sim", stream=True),
        responses(base_url, "resp-sim"),
        responses(base_url, "claude-sim"),
    ]


def token_sums(done: list[Done], key) -> dict:
    sums: dict = {}
    for d in done:
        entry = sums.setdefault(key(d), Counter())
        entry.update(d.tokens)
        entry["requests"] += 1
    return sums


def get(base_url: str, path: str, token: str | None = BRIDGE_TOKEN, **params) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(base_url + path, headers=headers, params=params, timeout=10)


def wait_for(check, timeout: float = 10.0, interval: float = 0.05):
    """`check()` until it returns something truthy (its value), or the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
