"""A provider whose upstream lists no models (Bedrock's runtime host, an Azure resource's deployments) lists
its preset's table instead (issue 14, point 3): with a provider configured and no [[models]] or [[routes]],
GET /v1/models shows the table, and a model on it is served by its bare name, through a real mitmdump to the
simulator's Bedrock (SigV4-checked) and Azure fronts."""

from __future__ import annotations

import os

import anthropic
import openai
import pytest

from addons.presets.catalog import AZURE_DEPLOYMENTS, BEDROCK_CLAUDE_MODELS, preset_models
from tests.bridge_process import BridgeProcess
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.record_flows import AWS_ACCESS_KEY_ID, AWS_REGION, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AZURE_KEY
from tests.simulator import Simulator
from tests.simulator.azure import AzureSimulator
from tests.simulator.bedrock import BedrockSimulator

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
DEPLOYMENT = AZURE_DEPLOYMENTS[-1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    sim = Simulator(anthropic_key=ANTHROPIC_KEY, openai_key=OPENAI_KEY)
    bedrock = BedrockSimulator(sim.context, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_SESSION_TOKEN)
    azure = AzureSimulator(sim.context, AZURE_KEY, deployments=[DEPLOYMENT])
    sim.fronts.extend([bedrock, azure])
    sim.start_in_thread()
    folder = tmp_path_factory.mktemp("tables")
    config = folder / "bridge.toml"
    config.write_text(f"""
[[providers]]
name = "bedrock"
protocol = "bedrock"
base_url = "{sim.base_url}"
max_tokens = 1024
aws = {{ access_key_id = "{AWS_ACCESS_KEY_ID}", secret_access_key = "{AWS_SECRET_ACCESS_KEY}", session_token = "{AWS_SESSION_TOKEN}", region = "{AWS_REGION}" }}

[[providers]]
name = "azure"
preset = "azure"
base_url = "{sim.base_url}"
api_key = "{AZURE_KEY}"
""")
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log",
                            env=dict(os.environ)).wait_ready()
    yield process, bedrock, azure
    process.stop()
    sim.stop()


def test_a_provider_without_a_list_endpoint_lists_its_preset_table(stack):
    bridge, bedrock, azure = stack
    ids = [m.id for m in openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x").models.list()]
    assert ids == [f"bedrock/{m}" for m in BEDROCK_CLAUDE_MODELS] + [f"azure/{m}" for m in AZURE_DEPLOYMENTS]
    assert not bedrock.requests and not azure.requests  # nothing was asked upstream for the table
    assert "unavailable" not in bridge.log()
    listed = [m.id for m in anthropic.Anthropic(base_url=bridge.base_url, api_key="x").models.list(limit=1000)]
    assert listed == ids


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_on_the_bedrock_table_answers_by_its_bare_name(stack, stream):
    bridge, bedrock, _ = stack
    model = BEDROCK_CLAUDE_MODELS[1]
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x")
    before = bedrock.verified
    if stream:
        chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                     stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]
                                              ).choices[0].message.content
    assert text == SIM_TEXT
    assert bedrock.verified == before + 1  # signed with SigV4, as the runtime checks
    assert bedrock.requests[-1].path.startswith(f"/model/{model.replace(':', '%3A')}/")


def test_a_deployment_on_the_azure_table_answers_by_its_bare_name(stack):
    bridge, _, azure = stack
    answer = anthropic.Anthropic(base_url=bridge.base_url, api_key="x").messages.create(
        model=DEPLOYMENT, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert answer.content[0].text == SIM_TEXT
    assert f"/openai/deployments/{DEPLOYMENT}/" in azure.requests[-1].path


def test_the_table_is_the_presets_and_a_provider_without_one_has_none():
    assert preset_models("bedrock", "bedrock") == BEDROCK_CLAUDE_MODELS
    assert preset_models(None, "bedrock") == BEDROCK_CLAUDE_MODELS  # the one entry speaking the protocol
    assert preset_models(None, "openai-chat") == ()  # many entries speak it: no table to guess from
    assert preset_models("groq", "openai-chat") == ()  # Groq lists its own models
