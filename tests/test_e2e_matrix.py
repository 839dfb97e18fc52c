"""The full protocol matrix: every client protocol, with its official SDK, through a real mitmdump to
every upstream protocol, streamed and not: text with usage, a parallel tool-call round with arguments,
reasoning, and an error.

Clients: openai (Chat Completions and Responses), anthropic, google-genai. Upstreams (simulator):
gpt-sim (OpenAI Chat), resp-sim (OpenAI Responses), claude-sim (Anthropic), gem-sim (Gemini 3).
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

SIM_TEXT = "Hello from the simulator! Ünïcödé ✓ 🌍"
UPSTREAMS = ["gpt-sim", "resp-sim", "claude-sim", "gem-sim"]
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class ChatClient:
    """openai SDK, Chat Completions."""

    def __init__(self, base_url: str) -> None:
        self.sdk = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0, timeout=30)
        self.tools = [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}]

    def turn(self, model, messages, stream, **kw):
        """(text, reasoning, [(id, name, args)], usage (prompt, completion))"""
        if not stream:
            r = self.sdk.chat.completions.create(model=model, messages=messages, **kw)
            m = r.choices[0].message
            calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in m.tool_calls or []]
            return m.content or "", (m.model_extra or {}).get("reasoning_content") or "", calls, (r.usage.prompt_tokens, r.usage.completion_tokens)
        text, reasoning, calls, usage = "", "", {}, None
        for chunk in self.sdk.chat.completions.create(model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **kw):
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens) if chunk.usage else usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
                for c in choice.delta.tool_calls or []:
                    entry = calls.setdefault(c.index, [c.id, c.function.name, ""])
                    entry[2] += c.function.arguments or ""
        return text, reasoning, [(i, n, json.loads(a)) for i, n, a in calls.values()], usage

    def ask(self, model, text, stream, **kw):
        return self.turn(model, [{"role": "user", "content": text}], stream, **kw)

    def tool_round(self, model, stream):
        text, _, calls, _ = self.ask(model, "[sim:tools]", stream, tools=self.tools)
        messages = [{"role": "user", "content": "[sim:tools]"},
                    {"role": "assistant", "content": text or None, "tool_calls": [{"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}} for i, n, a in calls]},
                    *[{"role": "tool", "tool_call_id": i, "content": f"sunny in {a['city']}"} for i, _, a in calls]]
        return calls, self.turn(model, messages, stream, tools=self.tools)[0]

    def reasoning(self, model, stream):
        return self.ask(model, "[sim:thinking]", stream, reasoning_effort="low", max_completion_tokens=4000)[:2]

    error = (openai.RateLimitError,)


class ResponsesClient:
    """openai SDK, Responses."""

    def __init__(self, base_url: str) -> None:
        self.sdk = openai.OpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0, timeout=30)
        self.tools = [{"type": "function", "name": "get_weather", "parameters": PARAMS}]

    def turn(self, model, input, stream, **kw):
        kw.setdefault("max_output_tokens", 4000)
        if stream:
            with self.sdk.responses.stream(model=model, input=input, **kw) as s:
                r = s.get_final_response()
        else:
            r = self.sdk.responses.create(model=model, input=input, **kw)
        reasoning = "".join(s.text for o in r.output if o.type == "reasoning" for s in o.summary)
        calls = [(o.call_id, o.name, json.loads(o.arguments)) for o in r.output if o.type == "function_call"]
        return r, r.output_text, reasoning, calls

    def ask(self, model, text, stream, **kw):
        r, out, reasoning, calls = self.turn(model, text, stream, **kw)
        return out, reasoning, calls, (r.usage.input_tokens, r.usage.output_tokens)

    def tool_round(self, model, stream):
        r, _, _, calls = self.turn(model, "[sim:tools]", stream, tools=self.tools)
        follow = [{"role": "user", "content": "[sim:tools]"}, *[o.model_dump(exclude_none=True) for o in r.output],
                  *[{"type": "function_call_output", "call_id": i, "output": f"sunny in {a['city']}"} for i, _, a in calls]]
        return calls, self.turn(model, follow, stream, tools=self.tools)[1]

    def reasoning(self, model, stream):
        return self.ask(model, "[sim:thinking]", stream, reasoning={"effort": "low", "summary": "auto"})[:2]

    error = (openai.RateLimitError,)


class AnthropicClient:
    """anthropic SDK, Messages."""

    def __init__(self, base_url: str) -> None:
        self.sdk = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0, timeout=30)
        self.tools = [{"name": "get_weather", "input_schema": PARAMS}]

    def turn(self, model, messages, stream, **kw):
        kw.setdefault("max_tokens", 4000)
        if stream:
            with self.sdk.messages.stream(model=model, messages=messages, **kw) as s:
                m = s.get_final_message()
        else:
            m = self.sdk.messages.create(model=model, messages=messages, **kw)
        text = "".join(b.text for b in m.content if b.type == "text")
        reasoning = "".join(b.thinking for b in m.content if b.type == "thinking")
        calls = [(b.id, b.name, b.input) for b in m.content if b.type == "tool_use"]
        return m, text, reasoning, calls

    def ask(self, model, text, stream, **kw):
        m, out, reasoning, calls = self.turn(model, [{"role": "user", "content": text}], stream, **kw)
        return out, reasoning, calls, (m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0), m.usage.output_tokens)

    def tool_round(self, model, stream):
        m, _, _, calls = self.turn(model, [{"role": "user", "content": "[sim:tools]"}], stream, tools=self.tools)
        messages = [{"role": "user", "content": "[sim:tools]"}, {"role": "assistant", "content": m.content},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": f"sunny in {a['city']}"} for i, _, a in calls]}]
        return calls, self.turn(model, messages, stream, tools=self.tools)[1]

    def reasoning(self, model, stream):
        return self.ask(model, "[sim:thinking]", stream, thinking={"type": "enabled", "budget_tokens": 2048})[:2]

    error = (anthropic.RateLimitError,)


class GeminiClient:
    """google-genai SDK, generateContent."""

    def __init__(self, base_url: str) -> None:
        self.sdk = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
        self.tools = [types.Tool(function_declarations=[types.FunctionDeclaration(
            name="get_weather", parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]})])]

    def turn(self, model, contents, stream, **config):
        cfg = types.GenerateContentConfig(max_output_tokens=4000, **config)
        chunks = list(self.sdk.models.generate_content_stream(model=model, contents=contents, config=cfg)) if stream \
            else [self.sdk.models.generate_content(model=model, contents=contents, config=cfg)]
        parts = [p for c in chunks for p in (c.candidates[0].content.parts or [])]
        return chunks, parts

    def ask(self, model, text, stream, **config):
        chunks, parts = self.turn(model, text, stream, **config)
        usage = chunks[-1].usage_metadata
        return ("".join(p.text or "" for p in parts if not p.thought), "".join(p.text or "" for p in parts if p.thought),
                [(p.function_call.id, p.function_call.name, p.function_call.args) for p in parts if p.function_call],
                (usage.prompt_token_count, usage.candidates_token_count))

    def tool_round(self, model, stream):
        _, parts = self.turn(model, "[sim:tools]", stream, tools=self.tools)
        calls = [p.function_call for p in parts if p.function_call]
        history = [types.Content(role="user", parts=[types.Part(text="[sim:tools]")]), types.Content(role="model", parts=parts),
                   types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                       name=c.name, id=c.id, response={"content": f"sunny in {c.args['city']}"})) for c in calls])]
        _, second = self.turn(model, history, stream, tools=self.tools)
        return [(c.id, c.name, c.args) for c in calls], "".join(p.text or "" for p in second if not p.thought)

    def reasoning(self, model, stream):
        return self.ask(model, "[sim:thinking]", stream,
                        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=2048))[:2]

    error = (genai_errors.ClientError,)


CLIENTS = {"openai-chat": ChatClient, "openai-responses": ResponsesClient, "anthropic": AnthropicClient, "gemini": GeminiClient}


@pytest.fixture(params=list(CLIENTS), ids=list(CLIENTS))
def client(request, bridge):
    return CLIENTS[request.param](bridge.base_url)


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_text_and_usage(client, model, stream):
    text, _, calls, usage = client.ask(model, "hi", stream)
    assert text == SIM_TEXT and calls == []
    assert usage is not None and usage[0] > 0 and usage[1] > 0


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_parallel_tool_round(client, model, stream):
    calls, answer = client.tool_round(model, stream)
    assert [(name, args) for _, name, args in calls] == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "London"})]
    ids = [call_id for call_id, _, _ in calls if call_id is not None]  # Gemini before 3.1 issues none
    assert len(set(ids)) == len(ids)
    assert answer == "Tool results received: sunny in Paris; sunny in London"


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_reasoning(client, model, stream):
    text, reasoning = client.reasoning(model, stream)
    assert reasoning and text


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_error(client, model, stream):
    with pytest.raises(client.error):
        client.ask(model, "[sim:error429]", stream)
