"""Shared by the tests of third-party Python agent clients through a real mitmdump (langchain, pydantic-ai, litellm,
openai-agents): what the simulator's `text` and `tools` scenarios answer, the tool the clients run, and what the
upstream was sent on the second turn of a tool round."""

from __future__ import annotations

import json

# The simulator's `text` scenario (no directive).
SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
# `[sim:tools]`: the text "Let me check." and two parallel calls; the turn that sends their results back gets the
# `after_tools` scenario, which echoes the results in the order they were sent.
TOOLS_PROMPT = "[sim:tools]"
FIRST_TEXT = "Let me check."
CALLS = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "London"})]
RESULTS = ["sunny in Paris", "sunny in London"]
FINAL = "Tool results received: sunny in Paris; sunny in London"

# Upstream request paths of `bridge_toml`'s models (Gemini's ends in :generateContent or :streamGenerateContent).
UPSTREAM_PATHS = {"claude-sim": "/v1/messages", "gpt-sim": "/v1/chat/completions", "resp-sim": "/v1/responses",
                  "gem-sim": "/v1beta/models/gemini-3-pro-preview:"}


def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"sunny in {city}"


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def upstream_tool_round(simulator, model: str) -> tuple[list[tuple], list[tuple]]:
    """The last POST to `model`'s upstream, as the bridge wrote it: the tool calls it replays, [(id, name, args)],
    and the results that follow them, [(id, text)]. Gemini pairs calls and responses by position, with no ids:
    there the name stands for the id."""
    path = UPSTREAM_PATHS[model]
    request = next(r for r in reversed(simulator.requests) if r.method == "POST" and r.path.startswith(path))
    body = request.json
    calls: list[tuple] = []
    results: list[tuple] = []
    if model == "claude-sim":
        for message in body["messages"]:
            for block in message["content"] if isinstance(message["content"], list) else []:
                if block["type"] == "tool_use":
                    calls.append((block["id"], block["name"], block["input"]))
                elif block["type"] == "tool_result":
                    results.append((block["tool_use_id"], _text(block.get("content"))))
    elif model == "gpt-sim":
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                calls.append((call["id"], call["function"]["name"], json.loads(call["function"]["arguments"])))
            if message["role"] == "tool":
                results.append((message["tool_call_id"], _text(message["content"])))
    elif model == "resp-sim":
        for item in body["input"]:
            if item.get("type") == "function_call":
                calls.append((item["call_id"], item["name"], json.loads(item["arguments"])))
            elif item.get("type") == "function_call_output":
                results.append((item["call_id"], _text(item["output"])))
    else:
        for content in body["contents"]:
            for part in content.get("parts", []):
                if "functionCall" in part:
                    call = part["functionCall"]
                    calls.append((call.get("id") or call["name"], call["name"], call.get("args", {})))
                elif "functionResponse" in part:
                    response = part["functionResponse"]
                    payload = response.get("response")
                    values = list(payload.values()) if isinstance(payload, dict) else []
                    text = values[0] if len(values) == 1 and isinstance(values[0], str) else json.dumps(payload)
                    results.append((response.get("id") or response["name"], text))
    return calls, results


def assert_upstream_round(simulator, model: str) -> None:
    """The upstream got both calls back, each followed by its own result, in the upstream's own ids."""
    calls, results = upstream_tool_round(simulator, model)
    assert [(name, args) for _, name, args in calls] == CALLS, calls
    assert [text for _, text in results] == RESULTS, results
    assert [call_id for call_id, _, _ in calls] == [call_id for call_id, _ in results], (calls, results)
