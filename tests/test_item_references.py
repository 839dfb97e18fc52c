"""Responses `item_reference`s (issue 14, point 1): resolved from the bridge's own recent answers; an unknown
one is a 400 naming it when the upstream speaks another protocol, and goes on to a Responses upstream."""

from __future__ import annotations


import httpx
import openai
import pytest

from addons.output_items import OutputItems
from tests.conftest import simulator_bridge
from transforms.openai_responses.item_references import resolve_item_references, unresolved
from transforms.errors import BridgeError


def test_the_store_keeps_recent_items_for_a_while():
    now = [0.0]
    store = OutputItems(max_items=2, keep_s=10, clock=lambda: now[0])
    store.remember([{"id": "a", "type": "message"}, {"id": "b"}])
    store.remember([{"id": "c"}])
    assert store.get("a") is None and store.get("b") == {"id": "b"}  # the oldest goes first
    now[0] = 11
    assert store.get("c") is None  # and nothing is kept past its hour


def test_known_references_are_put_back_and_the_rest_named():
    body = {"model": "m", "input": [{"type": "item_reference", "id": "fc_1"}, {"type": "item_reference", "id": "gone"}]}
    resolved = resolve_item_references(body, {"fc_1": {"id": "fc_1", "type": "function_call"}}.get)
    assert resolved["input"][0] == {"id": "fc_1", "type": "function_call"}
    with pytest.raises(BridgeError) as refused:
        unresolved(resolved)
    assert refused.value.status == 400 and refused.value.param == "input[1].id" and "'gone'" in refused.value.message


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    process = simulator_bridge(simulator, tmp_path_factory.mktemp("references"))
    yield process
    process.stop()


def test_a_reference_the_bridge_never_minted_is_a_400_naming_it(bridge):
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="claude-sim", input=[{"type": "item_reference", "id": "msg_unknown"},
                                                           {"role": "user", "content": "hi"}])
    assert "msg_unknown" in refused.value.message and refused.value.body["param"] == "input[0].id"


def test_an_unknown_reference_goes_on_to_a_responses_upstream(bridge, simulator):
    httpx.post(bridge.base_url + "/v1/responses", timeout=20, json={
        "model": "resp-sim", "input": [{"type": "item_reference", "id": "msg_upstream"}, {"role": "user", "content": "hi"}]})
    assert simulator.requests[-1].json["input"][0] == {"type": "item_reference", "id": "msg_upstream"}


@pytest.mark.parametrize("stream", [False, True])
def test_an_answers_items_can_be_referred_to_in_the_next_request(bridge, simulator, stream):
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x", max_retries=0)
    if stream:
        events = list(client.responses.create(model="claude-sim", input="[sim:tools]", stream=True, tools=[WEATHER]))
        output = events[-1].response.output
    else:
        output = client.responses.create(model="claude-sim", input="[sim:tools]", tools=[WEATHER]).output
    calls = [item for item in output if item.type == "function_call"]
    follow = [{"role": "user", "content": "[sim:tools]"}, *({"type": "item_reference", "id": item.id} for item in output),
              *({"type": "function_call_output", "call_id": c.call_id, "output": f"sunny in {c.name}"} for c in calls)]
    answer = client.responses.create(model="claude-sim", input=follow, tools=[WEATHER])
    assert answer.output_text.startswith("Tool results received")
    sent = simulator.requests[-1].json["messages"]
    assert [block["type"] for block in sent[1]["content"] if block["type"] == "tool_use"] == ["tool_use", "tool_use"]


WEATHER = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
