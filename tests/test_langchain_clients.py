"""LangChain's chat models (langchain-openai's `ChatOpenAI`, langchain-anthropic's `ChatAnthropic`, pinned from PyPI)
through a real mitmdump to the simulator, always across protocols: `ChatOpenAI` (OpenAI Chat Completions) to the
Anthropic, Gemini and OpenAI Responses upstreams, and with `use_responses_api=True` (OpenAI Responses) to the
Anthropic, OpenAI Chat and Gemini upstreams; `ChatAnthropic` (Anthropic Messages) to the OpenAI Chat, OpenAI
Responses and Gemini upstreams.

For each, `invoke` and `stream` (chunks added up as LangChain does): a plain text answer, and a tool round trip
with `bind_tools` — the two parallel `get_weather` calls parsed into `tool_calls`, the tool run by LangChain
(`tool.invoke(tool_call)` makes the `ToolMessage` with the call's id), the results sent back and the final text.
Checked: text, tool names and parsed arguments, call ids paired with their results (on the client and on the
upstream request the bridge wrote), the finish reason, and usage."""

from __future__ import annotations

import os

import pytest

os.environ["LANGSMITH_TRACING"] = "false"  # never send traces anywhere (off by default; made sure)
os.environ["LANGCHAIN_TRACING_V2"] = "false"

from langchain_anthropic import ChatAnthropic  # noqa: E402
from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from tests.agent_clients import (  # noqa: E402
    CALLS, FINAL, FIRST_TEXT, RESULTS, SIM_TEXT, TOOLS_PROMPT, assert_upstream_round, get_weather)
from tests.conftest import simulator_bridge  # noqa: E402

WEATHER = tool(get_weather)
# (client, model): each client to the upstreams of the other protocols
CASES = [("openai", "claude-sim"), ("openai", "gem-sim"), ("openai", "resp-sim"),
         ("openai-responses", "claude-sim"), ("openai-responses", "gpt-sim"), ("openai-responses", "gem-sim"),
         ("anthropic", "gpt-sim"), ("anthropic", "resp-sim"), ("anthropic", "gem-sim")]
# where each client puts why a turn ended, and the values for a text answer and for tool calls
FINISH = {"openai": ("finish_reason", "stop", "tool_calls"), "openai-responses": ("status", "completed", "completed"),
          "anthropic": ("stop_reason", "end_turn", "tool_use")}


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("langchain")
    process = simulator_bridge(simulator, folder)
    yield process
    process.stop()


def chat_model(bridge, client: str, model: str):
    if client.startswith("openai"):
        return ChatOpenAI(model=model, base_url=bridge.base_url + "/v1", api_key="unused", max_retries=0, timeout=20,
                          stream_usage=True, use_responses_api=client == "openai-responses")
    return ChatAnthropic(model=model, base_url=bridge.base_url, api_key="unused", max_retries=0, timeout=20,
                         max_tokens=1024)


def call(llm, messages, mode: str):
    if mode == "whole":
        return llm.invoke(messages)
    chunks = list(llm.stream(messages))
    assert len(chunks) > 1, chunks  # really streamed
    message = chunks[0]
    for chunk in chunks[1:]:
        message += chunk
    return message


def check_turn(message, client: str, finish: str) -> None:
    key, *_ = FINISH[client]
    assert message.response_metadata[key] == finish, message.response_metadata
    assert message.usage_metadata["input_tokens"] > 0 and message.usage_metadata["output_tokens"] > 0, message


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("client,model", CASES)
def test_text(bridge, client, model, mode):
    message = call(chat_model(bridge, client, model), [HumanMessage("hi")], mode)
    assert message.text == SIM_TEXT
    assert message.tool_calls == []
    check_turn(message, client, FINISH[client][1])


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("client,model", CASES)
def test_tool_round_trip(bridge, simulator, client, model, mode):
    llm = chat_model(bridge, client, model).bind_tools([WEATHER])
    messages = [HumanMessage(TOOLS_PROMPT)]
    first = call(llm, messages, mode)
    assert first.text == FIRST_TEXT
    assert [(c["name"], c["args"]) for c in first.tool_calls] == CALLS
    ids = [c["id"] for c in first.tool_calls]
    assert all(ids) and len(set(ids)) == 2, ids
    check_turn(first, client, FINISH[client][2])

    outputs = [WEATHER.invoke(tool_call) for tool_call in first.tool_calls]  # LangChain runs the tool
    assert all(isinstance(out, ToolMessage) for out in outputs)
    assert [(out.tool_call_id, out.content) for out in outputs] == list(zip(ids, RESULTS))
    second = call(llm, [*messages, first, *outputs], mode)
    assert second.text == FINAL
    assert second.tool_calls == []
    check_turn(second, client, FINISH[client][1])
    assert_upstream_round(simulator, model)
