"""Model discovery in each client's format (issue 14, point 3): a provider configured with nothing but its key
lists its own models (fetched from its list endpoint, kept for a while), the official SDKs' own list calls
work through the bridge, and a model on such a list is served by its bare name."""

from __future__ import annotations

import os

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.bridge_process import BridgeProcess, free_port
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.simulator.listing import ANTHROPIC_MODELS, OPENAI_MODELS

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    """As the env-var quick start leaves it: providers with a key and no [[models]] or [[routes]]; plus one
    with [[models]] (not asked for its list) and one whose list endpoint is unreachable."""
    folder = tmp_path_factory.mktemp("discovery")
    config = folder / "bridge.toml"
    config.write_text(f"""
[[providers]]
name = "anthropic"
protocol = "anthropic"
base_url = "{simulator.base_url}"
api_key = "{ANTHROPIC_KEY}"

[[providers]]
name = "openai"
protocol = "openai-chat"
base_url = "{simulator.base_url}/v1"
api_key = "{OPENAI_KEY}"

[[providers]]
name = "configured"
protocol = "openai-chat"
base_url = "{simulator.base_url}/v1"
api_key = "{OPENAI_KEY}"

[[models]]
id = "only-this"
provider = "configured"
upstream_model = "gpt-4o-mini"

[[providers]]
name = "gone"
protocol = "openai-chat"
base_url = "http://127.0.0.1:{free_port()}/v1"
api_key = "k"
""")
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log",
                            env=dict(os.environ)).wait_ready()
    yield process
    process.stop()


def test_openai_sdk_lists_configured_and_discovered_models(bridge):
    ids = [m.id for m in openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x").models.list()]
    assert ids == ["only-this", *(f"anthropic/{m}" for m in ANTHROPIC_MODELS), *(f"openai/{m}" for m in OPENAI_MODELS)]
    assert "the model list of provider 'gone' is unavailable" in bridge.log()


def test_anthropic_sdk_lists_in_anthropics_format_and_pages(bridge):
    client = anthropic.Anthropic(base_url=bridge.base_url, api_key="x")
    page = client.models.list(limit=2)
    assert [m.id for m in page.data] == ["only-this", f"anthropic/{ANTHROPIC_MODELS[0]}"]
    assert page.has_more and page.first_id == "only-this" and page.last_id == f"anthropic/{ANTHROPIC_MODELS[0]}"
    assert all(m.type == "model" and m.display_name for m in page.data)
    everything = [m.id for m in client.models.list(limit=1000)]  # as Claude Code asks
    assert len(everything) == 1 + len(ANTHROPIC_MODELS) + len(OPENAI_MODELS)
    after = client.models.list(limit=1000, after_id=everything[1])
    assert [m.id for m in after.data] == everything[2:] and not after.has_more
    assert [m.id for m in [*client.models.list(limit=2)]] == everything  # the SDK's auto-paging follows has_more


def test_google_genai_lists_in_geminis_format(bridge):
    client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=bridge.base_url, api_version="v1beta"))
    names = [m.name for m in client.models.list()]
    assert "models/only-this" in names and f"models/anthropic/{ANTHROPIC_MODELS[0]}" in names


@pytest.mark.parametrize("model", [ANTHROPIC_MODELS[0], f"anthropic/{ANTHROPIC_MODELS[0]}"])
def test_a_listed_model_answers_by_its_bare_name_or_with_its_provider(bridge, simulator, model):
    """The README's Anthropic SDK / Claude Code example with nothing but ANTHROPIC_API_KEY."""
    message = anthropic.Anthropic(base_url=bridge.base_url, api_key="x").messages.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == SIM_TEXT
    assert simulator.requests[-1].path == "/v1/messages" and simulator.requests[-1].json["model"] == ANTHROPIC_MODELS[0]


def test_a_model_nobody_lists_is_still_a_404_naming_what_exists(bridge):
    with pytest.raises(openai.NotFoundError) as missing:
        openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x").chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "only-this" in missing.value.message


def test_the_list_is_kept_not_fetched_per_request(bridge, simulator):
    before = sum(1 for r in simulator.requests if r.path.endswith("/models"))
    for _ in range(3):
        assert httpx.get(bridge.base_url + "/v1/models", timeout=10).status_code == 200
    assert sum(1 for r in simulator.requests if r.path.endswith("/models")) == before
