"""Prompt caching survives translation (issue 15, points 1-3), measured through a real mitmdump with the official
SDKs against simulators that model each provider's cache (tests/simulator/prompt_cache.py):

- A 12-turn agent conversation (a system prompt and tools of a few thousand tokens, a tool call and its result
  every turn) from an OpenAI Chat, a Responses and a Gemini client to the Anthropic simulator: the bridge marks
  the breakpoints those clients cannot, so from turn 2 on at least 80 % of the input is read from the cache, and
  each client's own usage fields say so.
- The same conversation from an Anthropic client with its own `cache_control` to a Responses upstream: the
  breakpoints arrive as `prompt_cache_breakpoint`, and the cache reads come back as Anthropic's usage.
- Session affinity: with two keys, every turn of one conversation goes with one key; conversations spread.
"""

from __future__ import annotations

import os

import anthropic
import openai
import orjson
import pytest
from google import genai
from google.genai import types

from tests.bridge_process import BridgeProcess
from tests.conftest import OPENAI_KEY, bridge_toml
from tests.simulator import Simulator

TURNS = 12
SYSTEM = " ".join(f"Rule {n}: keep the build green, the diffs small, the tests fast and the names honest." for n in range(120))
TOOLS = [(f"tool_{n}", f"Tool number {n}: reads or edits one part of the repository, as its name says. " * 6)
         for n in range(8)]
SCHEMA = {"type": "object", "properties": {"path": {"type": "string", "description": "a path in the repository"}},
          "required": ["path"]}
TASK = "Fix the failing tests, one file at a time."


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("caching")
    config = folder / "bridge.toml"
    config.write_text(bridge_toml(simulator.base_url))
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log",
                            env={**os.environ, "SIM_OPENAI_KEY": OPENAI_KEY}).wait_ready()
    yield process
    process.stop()


def read_share(read: int, total: int) -> float:
    return read / total if total else 0.0


# --- an OpenAI Chat client ---------------------------------------------------------------------------------


def chat_conversation(turns: int, task: str = TASK) -> list[list[dict]]:
    """The messages of each turn: the opening, then one tool call and its result more per turn. (The system
    prompt names the task, so the tests share no cached prefix.)"""
    messages = [{"role": "system", "content": f"{SYSTEM} [{task}]"}, {"role": "user", "content": task}]
    every = []
    for turn in range(turns):
        every.append(list(messages))
        call_id = f"call_{turn}"
        messages += [{"role": "assistant", "content": None, "tool_calls": [
                         {"id": call_id, "type": "function",
                          "function": {"name": TOOLS[turn % len(TOOLS)][0], "arguments": orjson.dumps({"path": f"src/f{turn}.py"}).decode()}}]},
                     {"role": "tool", "tool_call_id": call_id, "content": f"contents of src/f{turn}.py: " + "x = 1\n" * 20}]
    return every


CHAT_TOOLS = [{"type": "function", "function": {"name": name, "description": text, "parameters": SCHEMA}} for name, text in TOOLS]


@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_chat_client_reads_its_conversation_from_anthropics_cache(bridge, stream):
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x", max_retries=0)
    shares = []
    for messages in chat_conversation(TURNS, f"{TASK} (chat, stream={stream})"):
        if stream:
            chunks = list(client.chat.completions.create(model="claude-sim", messages=messages, tools=CHAT_TOOLS,
                                                         stream=True, stream_options={"include_usage": True}))
            usage = chunks[-1].usage
        else:
            usage = client.chat.completions.create(model="claude-sim", messages=messages, tools=CHAT_TOOLS).usage
        details = usage.prompt_tokens_details
        shares.append(read_share(details.cached_tokens, usage.prompt_tokens))
        if len(shares) == 1:  # turn 1 writes the prefix (the tools' part may be there already: the tests share them)
            assert details.cache_write_tokens > 1000
    assert min(shares[1:]) >= 0.8, shares


# --- a Responses client ------------------------------------------------------------------------------------


def responses_conversation(turns: int, task: str) -> list[list[dict]]:
    items = [{"role": "user", "content": task}]
    every = []
    for turn in range(turns):
        every.append(list(items))
        call_id = f"call_{turn}"
        items += [{"type": "function_call", "call_id": call_id, "name": TOOLS[turn % len(TOOLS)][0],
                   "arguments": orjson.dumps({"path": f"src/f{turn}.py"}).decode()},
                  {"type": "function_call_output", "call_id": call_id, "output": f"contents of src/f{turn}.py: " + "x = 1\n" * 20}]
    return every


RESPONSES_TOOLS = [{"type": "function", "name": name, "description": text, "parameters": SCHEMA} for name, text in TOOLS]


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_client_reads_its_conversation_from_anthropics_cache(bridge, stream):
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x", max_retries=0)
    shares = []
    for items in responses_conversation(TURNS, f"{TASK} (responses, stream={stream})"):
        kwargs = dict(model="claude-sim", instructions=f"{SYSTEM} [responses {stream}]", input=items, tools=RESPONSES_TOOLS, store=False)
        if stream:
            with client.responses.stream(**kwargs) as events:
                usage = events.get_final_response().usage
        else:
            usage = client.responses.create(**kwargs).usage
        shares.append(read_share(usage.input_tokens_details.cached_tokens, usage.input_tokens))
        if len(shares) == 1:
            assert usage.input_tokens_details.cache_write_tokens > 1000
    assert min(shares[1:]) >= 0.8, shares


# --- a Gemini client ---------------------------------------------------------------------------------------


def gemini_conversation(turns: int, task: str) -> list[list[types.Content]]:
    contents = [types.Content(role="user", parts=[types.Part(text=task)])]
    every = []
    for turn in range(turns):
        every.append(list(contents))
        name = TOOLS[turn % len(TOOLS)][0]
        contents += [types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(name=name, args={"path": f"src/f{turn}.py"}))]),
                     types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                         name=name, response={"content": f"contents of src/f{turn}.py: " + "x = 1\n" * 20}))])]
    return every


@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_client_reads_its_conversation_from_anthropics_cache(bridge, stream):
    client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=bridge.base_url, api_version="v1beta"))
    config = types.GenerateContentConfig(system_instruction=f"{SYSTEM} [gemini {stream}]", max_output_tokens=1000, tools=[types.Tool(
        function_declarations=[types.FunctionDeclaration(name=name, description=text, parameters=SCHEMA) for name, text in TOOLS])])
    shares = []
    for contents in gemini_conversation(TURNS, f"{TASK} (gemini, stream={stream})"):
        if stream:
            usage = list(client.models.generate_content_stream(model="claude-sim", contents=contents, config=config))[-1].usage_metadata
        else:
            usage = client.models.generate_content(model="claude-sim", contents=contents, config=config).usage_metadata
        shares.append(read_share(usage.cached_content_token_count or 0, usage.prompt_token_count))
    assert shares[0] < 0.5 and min(shares[1:]) >= 0.8, shares


# --- an Anthropic client's own marks, to a Responses upstream ----------------------------------------------


def test_an_anthropic_clients_breakpoints_reach_a_responses_upstream(bridge, simulator):
    client = anthropic.Anthropic(base_url=bridge.base_url, api_key="x", max_retries=0)
    tools = [{"name": name, "description": text, "input_schema": SCHEMA} for name, text in TOOLS]
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    messages = [{"role": "user", "content": [{"type": "text", "text": SYSTEM + "\n\n" + TASK + " (anthropic)"}]}]
    reads = []
    for turn in range(4):
        marked = orjson.loads(orjson.dumps(messages))
        marked[-1]["content"][-1]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
        answer = client.messages.create(model="resp-sim", max_tokens=500, system=SYSTEM, tools=tools, messages=marked)
        sent = orjson.loads(simulator.requests[-1].body)
        points = [part["prompt_cache_breakpoint"] for item in sent["input"]
                  for part in (item.get("content") or item.get("output") or []) if isinstance(part, dict) and "prompt_cache_breakpoint" in part]
        assert points == [{"mode": "explicit", "ttl": "12h"}]  # the last block's 1 h, kept at least as long
        assert sent["prompt_cache_key"].startswith("llmb-")  # the same every turn: one cache partition
        reads.append(answer.usage.cache_read_input_tokens)
        call_id = f"toolu_{turn}"
        messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": TOOLS[0][0], "input": {"path": "a.py"}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "x = 1\n" * 20}]}]
    assert reads[0] == 0 and all(read > 1000 for read in reads[1:]), reads


# --- session affinity --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_keys(tmp_path_factory):
    sim = Simulator(anthropic_key=None, openai_key=OPENAI_KEY)  # any key
    sim.start_in_thread()
    folder = tmp_path_factory.mktemp("affinity")
    config = folder / "bridge.toml"
    config.write_text(f"""
[[providers]]
name = "claude"
protocol = "anthropic"
base_url = "{sim.base_url}"
api_keys = ["sk-ant-key-a", "sk-ant-key-b"]

[[models]]
id = "claude-sim"
provider = "claude"
upstream_model = "claude-sonnet-4-5"
""")
    process = BridgeProcess(f"--set=bridge_config={config}", log_path=folder / "mitmdump.log", env=dict(os.environ)).wait_ready()
    yield process, sim
    process.stop()
    sim.stop()


def test_every_turn_of_a_conversation_goes_with_one_key_and_conversations_spread(two_keys):
    bridge, sim = two_keys
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x", max_retries=0)
    keys_by_conversation = {}
    for n in range(8):
        used = set()
        for messages in chat_conversation(4, f"{TASK} (conversation {n})"):
            client.chat.completions.create(model="claude-sim", messages=messages, tools=CHAT_TOOLS)
            used.add(sim.requests[-1].headers["x-api-key"])
        assert len(used) == 1, used  # every turn with one key
        keys_by_conversation[n] = used.pop()
    assert set(keys_by_conversation.values()) == {"sk-ant-key-a", "sk-ant-key-b"}, keys_by_conversation


def test_a_session_header_names_the_conversation(two_keys):
    bridge, sim = two_keys
    client = openai.OpenAI(base_url=bridge.base_url + "/v1", api_key="x", max_retries=0)
    used = {session: set() for session in ("ses_one", "ses_two", "ses_three", "ses_four")}
    for session in used:
        for n in range(3):  # different openings, one session: one key
            client.chat.completions.create(model="claude-sim", messages=[{"role": "user", "content": f"hi {n}"}],
                                           extra_headers={"x-session-id": session})
            used[session].add(sim.requests[-1].headers["x-api-key"])
    assert all(len(keys) == 1 for keys in used.values()), used
