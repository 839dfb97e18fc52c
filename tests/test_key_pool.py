"""Several keys per provider: rotation, cool-down, and the client's own key."""

from __future__ import annotations

import os

import httpx
import pytest

from addons.credentials.key_pool import KeyPool
from tests.bridge_process import BridgeProcess
from tests.conftest import ANTHROPIC_KEY
from transforms.errors import BridgeError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_and_cool_down():
    clock = Clock()
    pool = KeyPool("p", ["a", "b", "c"], cooldown=30, clock=clock)
    assert [pool.take() for _ in range(4)] == ["a", "b", "c", "a"]
    pool.report("b", 429)
    assert [pool.take() for _ in range(3)] == ["c", "a", "c"]  # b rests
    pool.report("a", 200)  # a success cools nothing
    clock.now += 31
    assert sorted(pool.take() for _ in range(3)) == ["a", "b", "c"]


def test_all_keys_cooling_is_a_clear_429():
    clock = Clock()
    pool = KeyPool("claude", ["sk-key-one", "sk-key-two"], cooldown=20, clock=clock)
    pool.report("sk-key-one", 401)
    clock.now += 5
    pool.report("sk-key-two", 403)
    with pytest.raises(BridgeError) as info:
        pool.take()
    assert info.value.status == 429 and info.value.retry_after == "15"
    assert "All 2 keys of provider 'claude'" in info.value.message
    assert "sk-key" not in info.value.message  # secrets never appear in error messages


def test_a_single_key_is_never_cooled():
    pool = KeyPool("p", ["only"], cooldown=30, clock=Clock())
    pool.report("only", 401)
    assert pool.take() == "only"  # the upstream's own error reaches the client instead


@pytest.fixture(scope="module")
def rotating_bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    (folder / "bridge.toml").write_text(f"""
[[providers]]
name = "claude"
protocol = "anthropic"
base_url = "{simulator.base_url}"
api_keys = ["sk-ant-revoked-key", "{ANTHROPIC_KEY}"]
key_cooldown_seconds = 600

[[providers]]
name = "own"
protocol = "anthropic"
base_url = "{simulator.base_url}"
client_key = true
""")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = BridgeProcess(log_path=folder / "mitmdump.log", cwd=folder, env=env)
    yield proc.wait_ready()
    proc.stop()


def chat(bridge, model, **headers):
    return httpx.post(f"{bridge.base_url}/v1/chat/completions", headers=headers, timeout=20,
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def test_a_rejected_key_rests_and_the_next_one_serves(rotating_bridge, simulator):
    first = chat(rotating_bridge, "claude/claude-sonnet-4-5")
    assert first.status_code == 401  # the simulator refused the revoked key, and said so
    assert all(chat(rotating_bridge, "claude/claude-sonnet-4-5").status_code == 200 for _ in range(3))
    assert all(r.headers.get("x-api-key") == ANTHROPIC_KEY for r in simulator.requests[-3:])


def test_the_clients_own_key(rotating_bridge, simulator):
    assert chat(rotating_bridge, "own/claude-sonnet-4-5", authorization=f"Bearer {ANTHROPIC_KEY}").status_code == 200
    assert simulator.requests[-1].headers["x-api-key"] == ANTHROPIC_KEY
    assert chat(rotating_bridge, "own/claude-sonnet-4-5", authorization="Bearer wrong").status_code == 401
