from __future__ import annotations

import pytest

from tests.bridge_process import BridgeProcess
from tests.debian_packages import require
from tests.simulator import Simulator

ANTHROPIC_KEY = "sk-ant-sim-provider-key"
OPENAI_KEY = "sk-sim-provider-key"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (found, or installed with apt-get as root, else the browser tests skip)."""
    return require("chromium", "/usr/bin/chromium", "chromium")


@pytest.fixture(scope="session")
def simulator():
    sim = Simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY)
    sim.start_in_thread()
    yield sim
    sim.stop()


def bridge_toml(base_url: str, *, anthropic_key: str = ANTHROPIC_KEY, openai_key: str = "env:SIM_OPENAI_KEY") -> str:
    """Providers on the simulator: `claude-sim` (Anthropic), `gpt-sim` (OpenAI Chat), `resp-sim` (OpenAI Responses).

    Retries are off here: these tests check how each upstream answer reaches the client, so every
    error scenario is seen once. `test_retries.py` and the proxy-URL tests run the default policy."""
    return f"""
[retries]
attempts = 1

[[providers]]
name = "claude"
protocol = "anthropic"
base_url = "{base_url}"
api_key = "{anthropic_key}"

[[providers]]
name = "oai"
protocol = "openai-chat"
base_url = "{base_url}/v1"
api_key = "{openai_key}"

[[models]]
id = "claude-sim"
provider = "claude"
upstream_model = "claude-sonnet-4-5"

[[models]]
id = "gpt-sim"
provider = "oai"
upstream_model = "gpt-4o-mini"

[[providers]]
name = "resp"
protocol = "openai-responses"
base_url = "{base_url}/v1"
api_key = "{openai_key}"

[[models]]
id = "resp-sim"
provider = "resp"
upstream_model = "gpt-5-mini"

[[providers]]
name = "gem"
protocol = "gemini"
base_url = "{base_url}"
api_key = "gemini-sim-key"

[[models]]
id = "gem-sim"
provider = "gem"
upstream_model = "gemini-3-pro-preview"
"""


def simulator_bridge(simulator, folder, *args: str) -> BridgeProcess:
    """A real mitmdump bridge on the simulator (`bridge_toml`'s models), started and ready; the caller stops it."""
    import os

    config = folder / "bridge.toml"
    config.write_text(bridge_toml(simulator.base_url))
    return BridgeProcess(f"--set=bridge_config={config}", *args, log_path=folder / "mitmdump.log",
                         env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}).wait_ready()


@pytest.fixture(scope="session")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bridge")
    proc = simulator_bridge(simulator, folder, f"--set=bridge_record={folder / 'recorded'}")
    proc.record_dir = folder / "recorded"
    yield proc
    proc.stop()
