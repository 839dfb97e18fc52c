"""Prompt caching in the upstream simulators, measured over HTTP with the official SDKs.

Anthropic Messages (explicit `cache_control` breakpoints, 20-block lookback, 5m / 1h TTLs), OpenAI
Responses (`prompt_cache_options` / `prompt_cache_breakpoint`, exact matches, `prompt_cache_key`),
OpenAI Chat (implicit prefix caching with a `prompt_cache_key`) and Gemini (implicit caching behind
a Context flag). Token counts are the simulator's: ceil(len(canonical JSON of a block) / 4).
"""

from __future__ import annotations

import copy
import math
import time

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.simulator import Simulator

MODEL = "claude-sim"
GPT = "gpt-sim"
KEY = "sk-ant-cache-a"
OTHER_KEY = "sk-ant-cache-b"
OPENAI_KEY = "sk-cache-a"

SYSTEM = " ".join(f"Rule {n}: keep the build green, the diffs small and the tests fast." for n in range(110))
TASK = "Fix the failing tests in the repository, one file at a time."


def tool(name: str, topic: str) -> dict:
    description = " ".join(f"{topic.capitalize()} step {n}: the tool reports what it did, in plain words." for n in range(14))
    return {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": f"The {topic} target."}},
            "required": ["path"],
        },
    }


TOOLS = [tool("run_tests", "testing"), tool("read_file", "reading"), tool("edit_file", "editing"), tool("search", "searching")]


def tokens(value) -> int:
    """The simulator's documented count for one block."""
    return math.ceil(len(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)) / 4)


def marked(block: dict, ttl: str | None = None) -> dict:
    mark = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return {**copy.deepcopy(block), "cache_control": mark}


def result_text(turn: int) -> str:
    return f"Turn {turn}: " + " ".join(f"test_{turn}_{n} passed in 0.{n}s" for n in range(24))


def history(turns: int) -> list[dict]:
    """The task, then per earlier turn an assistant step with a tool call and the user's tool result."""
    messages = [{"role": "user", "content": [{"type": "text", "text": TASK}]}]
    for turn in range(1, turns):
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": f"Step {turn}: running the tests."},
            {"type": "tool_use", "id": f"toolu_{turn:02d}", "name": "run_tests", "input": {"path": f"tests/t{turn}.py"}},
        ]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{turn:02d}", "content": result_text(turn)},
        ]})
    return messages


def agent_request(turns: int, *, tools_ttl=None, system_ttl=None, last_ttl=None, last_mark=True) -> dict:
    """Breakpoints on the last tool, the system prompt and the last block of the last user message."""
    messages = history(turns)
    if last_mark:
        messages[-1]["content"][-1] = marked(messages[-1]["content"][-1], last_ttl)
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "tools": [*TOOLS[:-1], marked(TOOLS[-1], tools_ttl)],
        "system": [marked({"type": "text", "text": SYSTEM}, system_ttl)],
        "messages": messages,
    }


def total(usage) -> int:
    """Anthropic: input_tokens excludes what was read from and written to the cache."""
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens


@pytest.fixture(scope="module")
def sim():
    with Simulator() as simulator:  # any non-empty key passes, so keys can differ
        yield simulator


@pytest.fixture(autouse=True)
def fresh_cache(sim):
    cache = sim.context.prompt_cache
    cache.clear()
    cache.clock, cache.offset_s, cache.min_tokens, cache.gemini_implicit = time.monotonic, 0.0, 1024, False
    yield cache


@pytest.fixture(scope="module")
def claude(sim):
    return anthropic.Anthropic(base_url=sim.base_url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def gpt(sim):
    return openai.OpenAI(base_url=f"{sim.base_url}/v1", api_key=OPENAI_KEY, max_retries=0)


# --- Anthropic Messages ---------------------------------------------------------------------------


def test_agent_conversation_reads_the_previous_turn(claude, fresh_cache):
    previous_total = None
    for turn in range(1, 13):
        request = agent_request(turn)
        if turn % 2:
            message = claude.messages.create(**request)
            usage = message.usage
        else:  # streamed: message_start and message_delta carry the same numbers
            starts, deltas = [], []
            with claude.messages.stream(**request) as stream:
                for event in stream:
                    if event.type == "message_start":
                        starts.append(event.message.usage)
                    elif event.type == "message_delta":
                        deltas.append(event.usage)
                usage = stream.get_final_message().usage
            assert starts[0].cache_read_input_tokens == deltas[0].cache_read_input_tokens == usage.cache_read_input_tokens
            assert starts[0].cache_creation_input_tokens == deltas[0].cache_creation_input_tokens
            assert starts[0].input_tokens == deltas[0].input_tokens == usage.input_tokens
        counted = claude.messages.count_tokens(**{k: v for k, v in request.items() if k != "max_tokens"})
        assert total(usage) == counted.input_tokens  # the three parts add up to the whole prompt
        assert usage.input_tokens == 0  # the last breakpoint closes the prompt
        creation = usage.cache_creation
        assert creation.ephemeral_5m_input_tokens + creation.ephemeral_1h_input_tokens == usage.cache_creation_input_tokens
        assert creation.ephemeral_1h_input_tokens == 0
        if turn == 1:
            assert usage.cache_read_input_tokens == 0
            assert usage.cache_creation_input_tokens == total(usage) > 2000
        else:
            assert usage.cache_read_input_tokens == previous_total  # the whole previous prompt
            assert usage.cache_read_input_tokens >= 0.8 * total(usage)
            assert 0 < usage.cache_creation_input_tokens < 0.2 * total(usage)
        previous_total = total(usage)

    events = fresh_cache.events("anthropic")
    assert len(events) == 12
    assert events[0].read_at is None and events[0].written_at == ("tools.3", "system.0", "messages.0.content.0")
    assert events[1].read_at == "messages.0.content.0" and events[1].written_at == ("messages.2.content.0",)
    assert events[-1].read_at == "messages.20.content.0"
    assert all(event.scope == ("anthropic", KEY, MODEL) for event in events)


def test_lookback_reaches_twenty_blocks(claude, fresh_cache):
    # Six turns on (18 blocks), the last breakpoint's window still reaches the turn-1 prefix.
    first = claude.messages.create(**agent_request(1)).usage
    usage = claude.messages.create(**agent_request(7)).usage
    assert fresh_cache.last.read_at == "messages.0.content.0"
    assert usage.cache_read_input_tokens == total(first)

    # Seven turns on (21 blocks), it misses it; the system breakpoint still finds tools + system.
    fresh_cache.clear()
    claude.messages.create(**agent_request(1))
    usage = claude.messages.create(**agent_request(8)).usage
    head = sum(tokens(["tools", tool]) for tool in TOOLS) + tokens(["system", {"type": "text", "text": SYSTEM}])
    assert fresh_cache.last.read_at == "system.0"
    assert usage.cache_read_input_tokens == head
    assert usage.cache_creation_input_tokens == total(usage) - head


def test_tokens_are_proportional_to_the_blocks(claude):
    usage = claude.messages.create(**agent_request(1)).usage
    expected = (
        sum(tokens(["tools", tool]) for tool in TOOLS)
        + tokens(["system", {"type": "text", "text": SYSTEM}])
        + tokens(["user", {"type": "text", "text": TASK}])
    )
    assert usage.cache_creation_input_tokens == expected


def test_ttl_split_and_order(claude):
    usage = claude.messages.create(**agent_request(1, tools_ttl="1h", system_ttl="1h")).usage
    head = sum(tokens(["tools", tool]) for tool in TOOLS) + tokens(["system", {"type": "text", "text": SYSTEM}])
    assert usage.cache_creation.ephemeral_1h_input_tokens == head
    assert usage.cache_creation.ephemeral_5m_input_tokens == usage.cache_creation_input_tokens - head > 0

    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(**agent_request(1, system_ttl="1h"))  # 5m tools before a 1h system block
    assert refused.value.status_code == 400
    assert refused.value.body["error"]["message"] == (
        "system.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
        "cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`."
    )


def test_at_most_four_breakpoints(claude, fresh_cache):
    request = agent_request(2)
    request["messages"][0]["content"][0] = marked(request["messages"][0]["content"][0])
    request["messages"][1]["content"][0] = marked(request["messages"][1]["content"][0])
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(**request)
    assert refused.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    }
    assert fresh_cache.log == []  # a refused request caches nothing
    request["messages"][1]["content"][0].pop("cache_control")
    assert claude.messages.create(**request).usage.cache_creation_input_tokens > 0


def test_malformed_cache_control(claude):
    request = agent_request(1)
    request["system"][0]["cache_control"] = {"type": "ephemeral", "ttl": "2h"}
    with pytest.raises(anthropic.BadRequestError, match="system.0.cache_control.ephemeral.ttl"):
        claude.messages.create(**request)
    request["system"][0]["cache_control"] = {"type": "persistent"}
    with pytest.raises(anthropic.BadRequestError, match="system.0.cache_control.type"):
        claude.messages.create(**request)


def test_prefix_below_the_minimum_is_not_cached(claude, fresh_cache):
    request = {
        "model": MODEL,
        "max_tokens": 100,
        "system": [marked({"type": "text", "text": "You are brief."})],
        "messages": [{"role": "user", "content": [marked({"type": "text", "text": "hi"})]}],
    }
    for _ in range(2):
        usage = claude.messages.create(**request).usage
        assert usage.cache_read_input_tokens == usage.cache_creation_input_tokens == 0
        assert usage.input_tokens == tokens(["system", {"type": "text", "text": "You are brief."}]) + tokens(
            ["user", {"type": "text", "text": "hi"}]
        )
    assert fresh_cache.live("anthropic") == []

    fresh_cache.min_tokens = 4096  # the agent prompt (~2.7k tokens) is now too short as well
    usage = claude.messages.create(**agent_request(1)).usage
    assert usage.cache_creation_input_tokens == 0 and usage.input_tokens == total(usage)


def test_entries_expire_after_their_ttl(claude, fresh_cache):
    request = agent_request(1)
    claude.messages.create(**request)
    fresh_cache.advance(299)
    assert claude.messages.create(**request).usage.cache_read_input_tokens > 0  # a hit refreshes the entry
    fresh_cache.advance(299)
    assert claude.messages.create(**request).usage.cache_read_input_tokens > 0
    fresh_cache.advance(301)
    usage = claude.messages.create(**request).usage
    assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == total(usage)

    fresh_cache.clear()  # the same prefixes, now written with a 1h TTL
    one_hour = agent_request(1, tools_ttl="1h", system_ttl="1h", last_ttl="1h")
    claude.messages.create(**one_hour)
    fresh_cache.advance(50 * 60)
    assert claude.messages.create(**one_hour).usage.cache_creation_input_tokens == 0
    fresh_cache.advance(61 * 60)
    assert claude.messages.create(**one_hour).usage.cache_read_input_tokens == 0


def test_api_keys_and_models_do_not_share(sim, claude):
    request = agent_request(1)
    claude.messages.create(**request)
    other = anthropic.Anthropic(base_url=sim.base_url, api_key=OTHER_KEY, max_retries=0)
    usage = other.messages.create(**request).usage
    assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens > 0
    assert claude.messages.create(**{**request, "model": "claude-sim-2"}).usage.cache_read_input_tokens == 0
    assert claude.messages.create(**request).usage.cache_read_input_tokens == total(usage)


def test_requests_without_marks_keep_the_scenario_usage(sim, claude, fresh_cache):
    request = agent_request(3, last_mark=False)
    for block in (*request["tools"], *request["system"]):
        block.pop("cache_control", None)
    usage = claude.messages.create(**request).usage
    assert usage.cache_read_input_tokens == usage.cache_creation_input_tokens == 0
    assert usage.input_tokens == len(sim.requests[-1].body) // 4 + 1
    assert fresh_cache.log == []


# --- OpenAI Responses -----------------------------------------------------------------------------


FUNCTIONS = [
    {"type": "function", "name": t["name"], "description": t["description"], "parameters": t["input_schema"]}
    for t in TOOLS
]


def responses_input(turns: int, *, user_text: str = TASK) -> list[dict]:
    items: list[dict] = [{"role": "developer", "content": [{"type": "input_text", "text": SYSTEM}]}]
    items.append({"role": "user", "content": [{"type": "input_text", "text": user_text}]})
    for turn in range(1, turns):
        items.append({"type": "function_call", "call_id": f"call_{turn:02d}", "name": "run_tests",
                      "arguments": f'{{"path":"tests/t{turn}.py"}}'})
        items.append({"type": "function_call_output", "call_id": f"call_{turn:02d}", "output": result_text(turn)})
    return items


def input_details(response):
    details = response.usage.input_tokens_details
    return details.cached_tokens, details.cache_write_tokens, details.cache_write_tokens_details


def test_responses_implicit_mode_agent_loop(gpt, fresh_cache):
    previous = None
    for turn in range(1, 9):
        params = {"model": GPT, "tools": FUNCTIONS, "input": responses_input(turn),
                  "prompt_cache_options": {"mode": "implicit"}, "prompt_cache_key": "repo-1"}
        if turn == 4:
            with gpt.responses.stream(**params) as events:
                response = events.get_final_response()
        else:
            response = gpt.responses.create(**params)
        usage = response.usage
        cached, written, by_ttl = input_details(response)
        assert usage.input_tokens >= cached + written  # input_tokens is the whole prompt, cache included
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        assert by_ttl.ttl_30m_tokens == written and by_ttl.ttl_12h_tokens == 0
        if turn == 1:
            assert cached == 0 and written == usage.input_tokens > 2000
        else:
            assert cached == previous  # exact match at the previous implicit breakpoint
            assert cached >= 0.8 * usage.input_tokens
            assert written == usage.input_tokens - cached  # the implicit breakpoint closes the prompt
        previous = usage.input_tokens
    assert fresh_cache.last.scope == ("openai_responses", OPENAI_KEY, GPT, "repo-1")


def test_responses_explicit_breakpoint_survives_a_changing_suffix(gpt):
    def ask(text: str, *, explicit: bool, mode: str = "implicit"):
        items = responses_input(1, user_text=text)
        if explicit:
            items[0]["content"][0]["prompt_cache_breakpoint"] = {"mode": "explicit"}
        return gpt.responses.create(model=GPT, input=items, prompt_cache_options={"mode": mode})

    # Implicit only: the breakpoint sits after the changing user message, so nothing matches.
    ask("first question", explicit=False)
    assert input_details(ask("second question", explicit=False))[0] == 0
    # An explicit breakpoint at the end of the stable developer message is matched exactly.
    first = ask("third question", explicit=True)
    developer = tokens([{"role": "developer", "type": "message"}, {"type": "input_text", "text": SYSTEM}])
    assert input_details(first)[:2] == (0, first.usage.input_tokens)  # written up to the implicit breakpoint
    second = ask("fourth question", explicit=True, mode="explicit")
    cached, written, _ = input_details(second)
    assert (cached, written) == (developer, 0)
    assert second.usage.input_tokens - cached == tokens(
        [{"role": "user", "type": "message"}, {"type": "input_text", "text": "fourth question"}]
    )


def test_responses_explicit_mode_without_breakpoints_caches_nothing(gpt, fresh_cache):
    for _ in range(2):
        response = gpt.responses.create(model=GPT, input=responses_input(3), prompt_cache_options={"mode": "explicit"})
        assert input_details(response)[:2] == (0, 0)
    assert fresh_cache.live("openai_responses") == []


def test_responses_writes_at_most_four_breakpoints(gpt, fresh_cache):
    items = responses_input(1)
    big = " ".join(f"Fact {n}: the sky is blue." for n in range(180))  # ~1.2k tokens per part
    items[1]["content"] = [
        {"type": "input_text", "text": f"{n} {big}", "prompt_cache_breakpoint": {"mode": "explicit"}} for n in range(5)
    ]
    gpt.responses.create(model=GPT, input=items, prompt_cache_options={"mode": "explicit"})
    assert fresh_cache.last.written_at == tuple(f"input[1].content[{n}]" for n in range(1, 5))
    gpt.responses.create(model=GPT, input=items, prompt_cache_key="implicit")
    # implicit mode: the latest three explicit ones, the implicit one on the same last part
    assert fresh_cache.last.written_at == tuple(f"input[1].content[{n}]" for n in range(2, 5))


def test_responses_ttl_12h(gpt):
    items = responses_input(2)
    items[0]["content"][0]["prompt_cache_breakpoint"] = {"mode": "explicit", "ttl": "12h"}
    response = gpt.responses.create(model=GPT, input=items)  # a breakpoint alone turns caching on
    cached, written, by_ttl = input_details(response)
    developer = tokens([{"role": "developer", "type": "message"}, {"type": "input_text", "text": SYSTEM}])
    assert (by_ttl.ttl_12h_tokens, by_ttl.ttl_30m_tokens) == (developer, written - developer)

    response = gpt.responses.create(model=GPT, input=responses_input(1), prompt_cache_key="long",
                                    prompt_cache_options={"ttl": "12h"})
    assert input_details(response)[2].ttl_12h_tokens == response.usage.input_tokens


def test_responses_prompt_cache_key_partitions(gpt, sim, fresh_cache):
    def ask(key, api_key=OPENAI_KEY):
        client = gpt if api_key == OPENAI_KEY else openai.OpenAI(base_url=f"{sim.base_url}/v1", api_key=api_key)
        return client.responses.create(model=GPT, input=responses_input(2), prompt_cache_key=key,
                                       prompt_cache_options={"mode": "implicit"})

    assert input_details(ask("a"))[0] == 0
    assert input_details(ask("b"))[0] == 0
    assert input_details(ask("a"))[0] > 0
    assert input_details(ask("a", "sk-cache-b"))[0] == 0
    assert input_details(ask("b"))[0] > 0


def test_responses_entries_expire(gpt, fresh_cache):
    now = [1_000_000.0]
    fresh_cache.clock = lambda: now[0]  # an injected clock, instead of advance()
    params = {"model": GPT, "input": responses_input(2), "prompt_cache_options": {"mode": "implicit"}}
    gpt.responses.create(**params)
    now[0] += 29 * 60
    assert input_details(gpt.responses.create(**params))[0] > 0
    now[0] += 31 * 60
    assert input_details(gpt.responses.create(**params))[0] == 0
    assert [entry.expires_at for entry in fresh_cache.live("openai_responses")] == [now[0] + 30 * 60]


def test_responses_refuses_bad_cache_options(gpt):
    with pytest.raises(openai.BadRequestError) as refused:
        gpt.responses.create(model=GPT, input="hi", prompt_cache_options={"mode": "sometimes"})
    assert refused.value.body["param"] == "prompt_cache_options.mode"
    items = [{"role": "user", "content": [{"type": "input_text", "text": "hi", "prompt_cache_breakpoint": {"ttl": "1d"}}]}]
    with pytest.raises(openai.BadRequestError) as refused:
        gpt.responses.create(model=GPT, input=items)
    assert refused.value.body["param"] == "input[0].content[0].prompt_cache_breakpoint.mode"


def test_responses_without_cache_fields_keep_their_usage(sim, fresh_cache):
    body = {"model": GPT, "input": responses_input(2), "prompt_cache_key": "codex"}
    answer = httpx.post(f"{sim.base_url}/v1/responses", json=body, timeout=10,
                        headers={"authorization": f"Bearer {OPENAI_KEY}"}).json()
    assert answer["usage"]["input_tokens_details"] == {"cached_tokens": 0}
    assert answer["usage"]["input_tokens"] == len(sim.requests[-1].body) // 4 + 1
    assert fresh_cache.log == []


# --- OpenAI Chat and Gemini: implicit caching ---------------------------------------------------


def chat_messages(turns: int) -> list[dict]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
    for turn in range(1, turns):
        messages.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{turn:02d}", "type": "function",
            "function": {"name": "run_tests", "arguments": f'{{"path":"tests/t{turn}.py"}}'}}]})
        messages.append({"role": "tool", "tool_call_id": f"call_{turn:02d}", "content": result_text(turn)})
    return messages


def test_chat_prefix_caching_with_a_prompt_cache_key(gpt, fresh_cache):
    tools = [{"type": "function", "function": f} for f in
             ({"name": t["name"], "description": t["description"], "parameters": t["input_schema"]} for t in TOOLS)]
    seen = None
    for turn in range(1, 7):
        completion = gpt.chat.completions.create(model=GPT, messages=chat_messages(turn), tools=tools,
                                                 prompt_cache_key="repo-1")
        usage = completion.usage
        cached = usage.prompt_tokens_details.cached_tokens
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        if turn == 1:
            assert cached == 0
        else:
            assert cached % 128 == 0 and cached >= 1024
            assert seen - 128 < cached <= seen  # the previous prompt, rounded down to 128 tokens
            assert cached >= 0.8 * usage.prompt_tokens  # prompt_tokens includes the cached part
        seen = usage.prompt_tokens
    other = gpt.chat.completions.create(model=GPT, messages=chat_messages(6), tools=tools, prompt_cache_key="repo-2")
    assert other.usage.prompt_tokens_details.cached_tokens == 0
    assert fresh_cache.last.scope == ("openai", OPENAI_KEY, GPT, "repo-2")


def test_chat_without_prompt_cache_key_keeps_its_usage(sim, gpt, fresh_cache):
    messages = chat_messages(3)
    for _ in range(2):
        usage = gpt.chat.completions.create(model=GPT, messages=messages).usage
        assert usage.prompt_tokens_details.cached_tokens == 0
        assert usage.prompt_tokens == len(sim.requests[-1].body) // 4 + 1
    assert fresh_cache.log == []


def gemini_usage(sim, contents: list[dict]) -> dict:
    body = {"systemInstruction": {"parts": [{"text": SYSTEM}]}, "contents": contents}
    answer = httpx.post(f"{sim.base_url}/v1beta/models/gemini-2.5-flash:generateContent", json=body, timeout=10,
                        headers={"x-goog-api-key": "gemini-key"})
    assert answer.status_code == 200, answer.text
    return answer.json()["usageMetadata"]


def test_gemini_implicit_caching_behind_a_flag(sim, fresh_cache):
    first = [{"role": "user", "parts": [{"text": TASK}]}]
    later = [*first, {"role": "model", "parts": [{"text": "On it."}]}, {"role": "user", "parts": [{"text": "Go on."}]}]
    gemini_usage(sim, first)
    assert "cachedContentTokenCount" not in gemini_usage(sim, later)  # off by default
    assert fresh_cache.log == []

    fresh_cache.gemini_implicit = True
    opening = gemini_usage(sim, first)
    assert "cachedContentTokenCount" not in opening
    usage = gemini_usage(sim, later)
    assert usage["cachedContentTokenCount"] == opening["promptTokenCount"]
    assert usage["promptTokenCount"] > usage["cachedContentTokenCount"]  # the prompt includes the cached part
    assert usage["cacheTokensDetails"] == [{"modality": "TEXT", "tokenCount": usage["cachedContentTokenCount"]}]


def test_bedrock_hands_cache_marks_to_the_anthropic_front_end():
    from tests.test_simulator_bedrock_azure import anthropic_body, signed_post, start

    stack = start()
    try:
        request = agent_request(2)
        body = anthropic_body(**{key: request[key] for key in ("tools", "system", "messages")})
        first = signed_post(stack, body).json()["usage"]
        second = signed_post(stack, body).json()["usage"]
        assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 2000
        assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
        assert stack.bedrock.context.prompt_cache.last.scope[0] == "anthropic"
    finally:
        stack.http.close()
        stack.simulator.stop()
