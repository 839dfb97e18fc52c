"""LiteLLM used as a client library (`litellm.completion`, pinned from PyPI) through a real mitmdump to the simulator,
always across protocols: `openai/<model>` with `api_base` at the bridge's /v1 (OpenAI Chat Completions) to the
Anthropic, Gemini and OpenAI Responses upstreams; `anthropic/<model>` with `api_base` at the bridge (Anthropic
Messages, which LiteLLM translates from its OpenAI-shaped call) to the OpenAI Chat, OpenAI Responses and Gemini
upstreams.

For each, whole and streamed (the chunks read one by one, then put together by `litellm.stream_chunk_builder`):
a plain text answer, and a tool round trip with an OpenAI-style `get_weather` tool — the two parallel calls, the
results sent back as `tool` messages with the calls' ids, and the final text. Checked: text, tool names and parsed
arguments, call ids paired with their results (on the upstream request the bridge wrote), `finish_reason`, and
usage.

LiteLLM would fetch its model cost map from the internet at import: `LITELLM_LOCAL_MODEL_COST_MAP` keeps it local."""

from __future__ import annotations

import json
import os

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import: no cost map from the internet

import litellm  # noqa: E402

from tests.agent_clients import (  # noqa: E402
    CALLS, FINAL, FIRST_TEXT, SIM_TEXT, TOOLS_PROMPT, assert_upstream_round, get_weather)
from tests.conftest import simulator_bridge  # noqa: E402

litellm.suppress_debug_info = True  # no "Provider List" banners for the simulator's model names
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # LiteLLM's own, on pydantic and asyncio
              pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")]

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
# (LiteLLM provider prefix, model): each protocol to the upstreams of the others
CASES = [("openai", "claude-sim"), ("openai", "gem-sim"), ("openai", "resp-sim"),
         ("anthropic", "gpt-sim"), ("anthropic", "resp-sim"), ("anthropic", "gem-sim")]


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("litellm")
    process = simulator_bridge(simulator, folder)
    yield process
    process.stop()


def complete(bridge, provider: str, model: str, messages: list, mode: str, **kw):
    """One `litellm.completion`; streamed, the chunks are read one by one and checked against the built response."""
    api_base = bridge.base_url + "/v1" if provider == "openai" else bridge.base_url
    args = dict(model=f"{provider}/{model}", api_base=api_base, api_key="unused", messages=messages, timeout=20,
                num_retries=0, max_tokens=1024, **kw)
    if mode == "whole":
        return litellm.completion(**args)
    chunks = list(litellm.completion(stream=True, stream_options={"include_usage": True}, **args))
    assert len(chunks) > 2, chunks  # really streamed
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    response = litellm.stream_chunk_builder(chunks, messages=messages)
    assert "".join(deltas) == (response.choices[0].message.content or "")
    assert finishes[-1:] == [response.choices[0].finish_reason], finishes
    return response


def check_usage(response) -> None:
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0, response.usage


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("provider,model", CASES)
def test_text(bridge, provider, model, mode):
    response = complete(bridge, provider, model, [{"role": "user", "content": "hi"}], mode)
    (choice,) = response.choices
    assert choice.message.content == SIM_TEXT
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    check_usage(response)


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("provider,model", CASES)
def test_tool_round_trip(bridge, simulator, provider, model, mode):
    messages = [{"role": "user", "content": TOOLS_PROMPT}]
    first = complete(bridge, provider, model, messages, mode, tools=TOOLS)
    (choice,) = first.choices
    assert choice.message.content == FIRST_TEXT
    calls = choice.message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == CALLS
    assert all(c.id for c in calls) and len({c.id for c in calls}) == 2, calls
    assert choice.finish_reason == "tool_calls"
    check_usage(first)

    messages.append(choice.message.model_dump(exclude_none=True))
    for c in calls:
        messages.append({"role": "tool", "tool_call_id": c.id,
                         "content": get_weather(**json.loads(c.function.arguments))})
    second = complete(bridge, provider, model, messages, mode, tools=TOOLS)
    (choice,) = second.choices
    assert choice.message.content == FINAL
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    check_usage(second)
    assert_upstream_round(simulator, model)
