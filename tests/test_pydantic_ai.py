"""Pydantic AI (pydantic-ai-slim with its openai and anthropic extras, pinned from PyPI) through a real mitmdump to
the simulator, always across protocols: its `OpenAIChatModel` (OpenAI Chat Completions) to the Anthropic, Gemini
and OpenAI Responses upstreams; its `OpenAIResponsesModel` (OpenAI Responses) to the Anthropic, OpenAI Chat and
Gemini upstreams; its `AnthropicModel` (Anthropic Messages) to the OpenAI Chat, OpenAI Responses and Gemini
upstreams. Each model gets its SDK client pointed at the bridge.

For each, an `Agent` run whole (`agent.run`) and streamed (`agent.run_stream` for text; `agent.run_stream_events`
for the tool loop, which runs to the end where `run_stream` would stop at the first text): a plain text answer,
and a tool round trip where the agent runs `get_weather` for the two parallel calls and sends the results back.
Checked from the agent's message history: text, tool names and parsed arguments, each `ToolReturnPart` paired with
its `ToolCallPart` by id (and the upstream request the bridge wrote pairs them too), each response's finish reason,
and usage."""

from __future__ import annotations

import pytest
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pydantic_ai import Agent, AgentRunResultEvent
from pydantic_ai.messages import (
    FunctionToolCallEvent, FunctionToolResultEvent, ModelResponse, PartDeltaEvent, PartStartEvent, TextPart,
    TextPartDelta, ToolCallPart, ToolReturnPart)
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

from tests.agent_clients import (
    CALLS, FINAL, FIRST_TEXT, RESULTS, SIM_TEXT, TOOLS_PROMPT, assert_upstream_round, get_weather)
from tests.conftest import simulator_bridge

# (model class, model): each protocol to the upstreams of the others
CASES = [("openai", "claude-sim"), ("openai", "gem-sim"), ("openai", "resp-sim"),
         ("openai-responses", "claude-sim"), ("openai-responses", "gpt-sim"), ("openai-responses", "gem-sim"),
         ("anthropic", "gpt-sim"), ("anthropic", "resp-sim"), ("anthropic", "gem-sim")]


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pydantic_ai")
    process = simulator_bridge(simulator, folder)
    yield process
    process.stop()


@pytest.fixture
async def make_agent(bridge):
    """Agents on SDK clients pointed at the bridge; the clients are closed while the test's event loop runs."""
    clients = []

    def make(kind: str, model: str, **kw) -> Agent:
        if kind.startswith("openai"):
            client = AsyncOpenAI(base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0, timeout=20)
            model_class = OpenAIResponsesModel if kind == "openai-responses" else OpenAIChatModel
            llm = model_class(model, provider=OpenAIProvider(openai_client=client))
        else:
            client = AsyncAnthropic(base_url=bridge.base_url, api_key="unused", max_retries=0, timeout=20)
            llm = AnthropicModel(model, provider=AnthropicProvider(anthropic_client=client))
        clients.append(client)
        return Agent(llm, **kw)

    yield make
    for client in clients:
        await client.close()


def check_usage(usage) -> None:
    assert usage.input_tokens > 0 and usage.output_tokens > 0, usage


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("kind,model", CASES)
async def test_text(make_agent, kind, model, mode):
    runner = make_agent(kind, model)
    if mode == "whole":
        result = await runner.run("hi")
        output, usage, response = result.output, result.usage, result.response
    else:
        async with runner.run_stream("hi") as streamed:
            deltas = [delta async for delta in streamed.stream_text(delta=True, debounce_by=None)]
            output, usage, response = await streamed.get_output(), streamed.usage, streamed.response
        assert "".join(deltas) == SIM_TEXT and len(deltas) > 1, deltas
    assert output == SIM_TEXT
    assert response.finish_reason == "stop", response
    assert usage.requests == 1
    check_usage(usage)


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("kind,model", CASES)
async def test_tool_round_trip(make_agent, simulator, kind, model, mode):
    runner = make_agent(kind, model, tools=[get_weather])
    if mode == "whole":
        result = await runner.run(TOOLS_PROMPT)
    else:
        async with runner.run_stream_events(TOOLS_PROMPT) as stream:
            events = [event async for event in stream]
        assert isinstance(events[-1], AgentRunResultEvent)
        result = events[-1].result
        # the text parts as streamed: started, grown by deltas, ended
        texts = []
        for event in events:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                texts.append(event.part.content)
            elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                texts[-1] += event.delta.content_delta
        assert texts == [FIRST_TEXT, FINAL], events
        assert sum(isinstance(e, PartDeltaEvent) and isinstance(e.delta, TextPartDelta) for e in events) > 1
        started = [e.part for e in events if isinstance(e, FunctionToolCallEvent)]
        assert [(part.tool_name, part.args_as_dict()) for part in started] == CALLS
        finished = {e.tool_call_id: e.part.content for e in events if isinstance(e, FunctionToolResultEvent)}
        assert finished == {part.tool_call_id: text for part, text in zip(started, RESULTS)}  # paired by id
    assert result.output == FINAL

    messages = result.all_messages()
    responses = [m for m in messages if isinstance(m, ModelResponse)]
    # a Responses answer ends `completed` whether or not it calls tools, which Pydantic AI reads as "stop"
    assert [r.finish_reason for r in responses] == ["stop" if kind == "openai-responses" else "tool_call", "stop"]
    assert responses[0].text == FIRST_TEXT
    calls = [p for m in messages for p in m.parts if isinstance(p, ToolCallPart)]
    returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    assert [(c.tool_name, c.args_as_dict()) for c in calls] == CALLS
    assert all(c.tool_call_id for c in calls) and len({c.tool_call_id for c in calls}) == 2, calls
    assert [(r.tool_call_id, r.content) for r in returns] == [(c.tool_call_id, text) for c, text in zip(calls, RESULTS)]
    assert result.usage.requests == 2 and result.usage.tool_calls == 2
    check_usage(result.usage)
    for response in responses:
        check_usage(response.usage)
    assert_upstream_round(simulator, model)
