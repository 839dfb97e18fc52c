"""The OpenAI Agents SDK (`openai-agents`, the `agents` package, pinned from PyPI) through a real mitmdump to the
simulator, always across protocols: `OpenAIResponsesModel` (OpenAI Responses) to the Anthropic, OpenAI Chat and
Gemini upstreams; `OpenAIChatCompletionsModel` (OpenAI Chat Completions) to the Anthropic, Gemini and OpenAI
Responses upstreams; both on an `AsyncOpenAI` client whose base_url is the bridge. Tracing is off, so nothing
leaves the machine.

For each, `Runner.run` and `Runner.run_streamed`: an `Agent` answering plain text, and an `Agent` with a
`function_tool` that the runner calls for the two parallel `get_weather` calls before sending the results back
and getting the final text. Checked from the run's items and raw responses: text (and, streamed, the text deltas
and run item events), tool names and parsed arguments, each `ToolCallOutputItem` paired with its `ToolCallItem` by
call id (and on the upstream request the bridge wrote), the streamed `response.completed` status (Responses only:
the Agents SDK exposes no finish reason otherwise), and usage."""

from __future__ import annotations

import json

import pytest
from agents import (
    Agent, ModelSettings, OpenAIChatCompletionsModel, OpenAIResponsesModel, RawResponsesStreamEvent, RunItemStreamEvent,
    Runner, function_tool, set_tracing_disabled)
from agents.items import ItemHelpers, MessageOutputItem, ToolCallItem, ToolCallOutputItem
from openai import AsyncOpenAI

from tests.agent_clients import (
    CALLS, FINAL, FIRST_TEXT, RESULTS, SIM_TEXT, TOOLS_PROMPT, assert_upstream_round, get_weather)
from tests.conftest import simulator_bridge

set_tracing_disabled(True)  # no traces sent to OpenAI

WEATHER = function_tool(get_weather)
MODELS = {"responses": OpenAIResponsesModel, "chat": OpenAIChatCompletionsModel}
# (model class, model): each protocol to the upstreams of the others
CASES = [("responses", "claude-sim"), ("responses", "gpt-sim"), ("responses", "gem-sim"),
         ("chat", "claude-sim"), ("chat", "gem-sim"), ("chat", "resp-sim")]


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("openai_agents")
    process = simulator_bridge(simulator, folder)
    yield process
    process.stop()


@pytest.fixture
async def client(bridge):
    client = AsyncOpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0, timeout=20)
    yield client
    await client.close()  # while the test's event loop runs


def make_agent(client, kind: str, model: str, **kw) -> Agent:
    return Agent(name="weather", instructions="Answer briefly.", model=MODELS[kind](model=model, openai_client=client),
                 model_settings=ModelSettings(include_usage=True), **kw)


async def run(agent: Agent, prompt: str, mode: str):
    """The run's result and, streamed, its events."""
    if mode == "whole":
        return await Runner.run(agent, prompt, max_turns=3), []
    result = Runner.run_streamed(agent, prompt, max_turns=3)
    events = [event async for event in result.stream_events()]
    assert result.is_complete
    return result, events


def check_stream(events: list, kind: str, text: str, turns: int) -> None:
    raw = [event.data for event in events if isinstance(event, RawResponsesStreamEvent)]
    deltas = [data.delta for data in raw if data.type == "response.output_text.delta"]
    assert "".join(deltas) == text and len(deltas) > 1, deltas
    completed = [data.response.status for data in raw if data.type == "response.completed"]
    # the Responses stream's own status; the Chat model makes up its `response.completed` without one
    assert completed == ["completed" if kind == "responses" else None] * turns, completed


def check_usage(result) -> None:
    usage = result.context_wrapper.usage
    assert usage.requests == len(result.raw_responses)
    assert usage.input_tokens > 0 and usage.output_tokens > 0, usage
    for response in result.raw_responses:
        assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0, response.usage


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("kind,model", CASES)
async def test_text(client, kind, model, mode):
    result, events = await run(make_agent(client, kind, model), "hi", mode)
    assert result.final_output == SIM_TEXT
    assert [type(item) for item in result.new_items] == [MessageOutputItem]
    assert len(result.raw_responses) == 1
    check_usage(result)
    if mode == "stream":
        check_stream(events, kind, SIM_TEXT, 1)


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("kind,model", CASES)
async def test_tool_round_trip(client, simulator, kind, model, mode):
    result, events = await run(make_agent(client, kind, model, tools=[WEATHER]), TOOLS_PROMPT, mode)
    assert result.final_output == FINAL
    messages = [ItemHelpers.text_message_output(item) for item in result.new_items
                if isinstance(item, MessageOutputItem)]
    assert messages == [FIRST_TEXT, FINAL]
    calls = [item.raw_item for item in result.new_items if isinstance(item, ToolCallItem)]
    outputs = [item for item in result.new_items if isinstance(item, ToolCallOutputItem)]
    assert [(call.name, json.loads(call.arguments)) for call in calls] == CALLS
    assert all(call.call_id for call in calls) and len({call.call_id for call in calls}) == 2, calls
    assert {item.raw_item["call_id"]: item.output for item in outputs} == {
        call.call_id: text for call, text in zip(calls, RESULTS)}  # each result paired with its call
    assert len(result.raw_responses) == 2
    check_usage(result)
    if mode == "stream":
        check_stream(events, kind, FIRST_TEXT + FINAL, 2)
        names = [event.name for event in events if isinstance(event, RunItemStreamEvent)]
        assert names.count("tool_called") == 2 and names.count("tool_output") == 2, names
        assert names.count("message_output_created") == 2, names
    assert_upstream_round(simulator, model)
