"""The checks every client request passes before anything goes upstream (`ClientCodec.check_request`):
tool calls and results that pair up, token limits and sampling values in range, a model name fit for
a URL and a header; each refusal a 400 naming the client's own field, in words and not Python reprs.
Also: every client request recorded under flows/ passes, and URL path segments stay one segment."""

from __future__ import annotations

import math
import re
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bridge_process import ROOT
from tests.test_flows import FLOWS, effective_body, load
from transforms.anthropic.check_request import check_request as check_anthropic
from transforms.client_strings import check_model_name, path_segment
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.errors import BridgeError
from transforms.gemini.check_request import check_request as check_gemini
from transforms.openai_chat.check_request import check_request as check_chat
from transforms.openai_responses.check_request import check_request as check_responses
from transforms.upstream_options import UpstreamOptions

PYTHON_WORDS = re.compile(r"<class|Traceback|\b(None|True|False|NoneType|dict|list|str|int|float|bool|nan|inf)\b")


def refused(check, body: dict) -> BridgeError:
    with pytest.raises(BridgeError) as info:
        check(body)
    error = info.value
    assert (error.kind, error.status) == ("invalid_request", 400)
    assert not PYTHON_WORDS.search(error.message), error.message
    return error


def assert_refused(check, body: dict, param: str, fragment: str) -> None:
    error = refused(check, body)
    assert error.param == param, error.message
    assert fragment in error.message


# --- Anthropic Messages ----------------------------------------------------------------------------


def anthropic(messages=None, **fields) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024,
            "messages": messages if messages is not None else [{"role": "user", "content": "hi"}], **fields}


def tool_use(call_id: str, name: str = "Read") -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": {"file_path": "/tmp/a"}}


def tool_result(call_id: str) -> dict:
    return {"type": "tool_result", "tool_use_id": call_id, "content": "ok"}


def claude_code_session(rounds: int) -> list[dict]:
    """A long Claude Code-like history: per-turn system messages, thinking, parallel tool rounds."""
    messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": "fix the bug"}]},
                            {"role": "system", "content": [{"type": "text", "text": "per-turn system text"}]}]
    for n in range(rounds):
        ids = [f"toolu_{n:03d}_{k}" for k in range(3)]
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "plan", "signature": "sig"}, {"type": "text", "text": "Reading."},
            *(tool_use(i) for i in ids)]})
        if n % 5 == 0:
            messages.append({"role": "system", "content": [{"type": "text", "text": "reminder"}]})
        messages.append({"role": "user", "content": [tool_result(i) for i in reversed(ids)]})
    messages.append({"role": "assistant", "content": "Done."})
    messages.append({"role": "user", "content": "thanks"})
    return messages


ANTHROPIC_VALID = [
    anthropic(claude_code_session(60), thinking={"type": "enabled", "budget_tokens": 2048}, temperature=1, top_p=0.99),
    anthropic(thinking={"type": "adaptive"}, output_config={"effort": "high"}, top_k=0, temperature=0),
    anthropic(temperature=None, top_p=None, top_k=None, max_tokens=128000),
    # results split over two consecutive user messages: one turn, as the API merges them
    anthropic([{"role": "user", "content": "go"},
               {"role": "assistant", "content": [tool_use("toolu_1"), tool_use("toolu_2")]},
               {"role": "user", "content": [tool_result("toolu_1")]},
               {"role": "user", "content": [tool_result("toolu_2"), {"type": "text", "text": "and?"}]}]),
    # server tools run on Anthropic's side: their results are in the assistant message itself
    anthropic([{"role": "user", "content": "search"},
               {"role": "assistant", "content": [
                   {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
                   {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                   {"type": "text", "text": "found"}]},
               {"role": "user", "content": "more"}]),
    # a prefilled final assistant message without calls
    anthropic([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]),
]


@pytest.mark.parametrize("body", ANTHROPIC_VALID, ids=range(len(ANTHROPIC_VALID)))
def test_anthropic_valid_requests_pass(body):
    check_anthropic(body)


ASK = {"role": "user", "content": "go"}
CALLED = {"role": "assistant", "content": [tool_use("toolu_1")]}
ANSWERED = {"role": "user", "content": [tool_result("toolu_1")]}

ANTHROPIC_REFUSED = [
    (anthropic([{"role": "user", "content": [tool_result("toolu_9")]}]),
     "messages[0].content[0].tool_use_id", "answers no tool_use"),
    (anthropic([ASK, CALLED, {"role": "user", "content": [tool_result("toolu_1"), tool_result("toolu_2")]}]),
     "messages[2].content[1].tool_use_id", "'toolu_2' answers no tool_use"),
    (anthropic([ASK, CALLED, ANSWERED, {"role": "assistant", "content": "ok"}, ANSWERED]),
     "messages[4].content[0].tool_use_id", "a second tool_result for tool_use 'toolu_1' (the first is at "
                                           "messages[2].content[0].tool_use_id)"),
    (anthropic([ASK, CALLED, {"role": "user", "content": "never mind"}]),
     "messages[1].content[0].id", "'toolu_1' has no tool_result; the user message right after"),
    (anthropic([ASK, {"role": "assistant", "content": [tool_use("toolu_1"), tool_use("toolu_2")]}, ANSWERED]),
     "messages[1].content[1].id", "'toolu_2' has no tool_result"),
    (anthropic([ASK, CALLED]), "messages[1].content[0].id", "the request ends with it"),
    (anthropic([ASK, CALLED, {"role": "system", "content": "x"}]), "messages[1].content[0].id", "ends with it"),
    (anthropic([ASK, CALLED, ANSWERED, {"role": "assistant", "content": [tool_use("toolu_1")]}, ANSWERED]),
     "messages[3].content[0].id", "'toolu_1' is used twice (first at messages[1].content[0].id)"),
    (anthropic([ASK, {"role": "assistant", "content": [tool_use("")]}]), "messages[1].content[0].id", "non-empty"),
    (anthropic([{"role": "user", "content": ["hi"]}]), "messages[0].content[0]", "must be an object"),
    (anthropic(max_tokens=0), "max_tokens", "at least 1 (got 0)"),
    (anthropic(max_tokens=1.5), "max_tokens", "(got 1.5)"),
    (anthropic(max_tokens=1024.0), "max_tokens", "(got 1024.0)"),
    (anthropic(max_tokens=True), "max_tokens", "(got true)"),
    (anthropic(max_tokens=-5), "max_tokens", "(got -5)"),
    (anthropic(max_tokens="1024"), "max_tokens", "(got a string)"),
    (anthropic(temperature=1.5), "temperature", "from 0 to 1 (got 1.5)"),
    (anthropic(temperature=-0.1), "temperature", "(got -0.1)"),
    (anthropic(temperature=math.nan), "temperature", "(got NaN)"),
    (anthropic(temperature=math.inf), "temperature", "(got Infinity)"),
    (anthropic(temperature="0.5"), "temperature", "(got a string)"),
    (anthropic(top_p=1.01), "top_p", "from 0 to 1"),
    (anthropic(top_k=-1), "top_k", "at least 0 (got -1)"),
    (anthropic(top_k=2.5), "top_k", "(got 2.5)"),
    (anthropic(thinking={"type": "enabled", "budget_tokens": 512}), "thinking.budget_tokens",
     "at least 1024 (got 512)"),
    (anthropic(thinking={"type": "enabled", "budget_tokens": "2048"}), "thinking.budget_tokens", "(got a string)"),
    (anthropic(thinking={"type": "enabled", "budget_tokens": -1}), "thinking.budget_tokens", "(got -1)"),
    (anthropic(thinking={"type": "enabled"}), "thinking.budget_tokens", "required"),
    (anthropic(model="claude-opus\r\nx-evil: 1"), "model",
     "model must not contain control characters (found U+000D at position 11)"),
    (anthropic(model="a" * 257), "model", "at most 256 characters long (got 257)"),
    (anthropic(model=""), "model", "non-empty"),
    (anthropic(model=7), "model", "must be a string (got a number)"),
]


@pytest.mark.parametrize(("body", "param", "fragment"), ANTHROPIC_REFUSED, ids=[c[1] for c in ANTHROPIC_REFUSED])
def test_anthropic_refusals_name_the_field(body, param, fragment):
    assert_refused(check_anthropic, body, param, fragment)


# --- OpenAI Chat Completions -----------------------------------------------------------------------


def chat(messages=None, **fields) -> dict:
    return {"model": "gpt-4o", "messages": messages if messages is not None else [{"role": "user", "content": "hi"}],
            **fields}


def calls(*ids: str, content=None) -> dict:
    return {"role": "assistant", "content": content, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}} for i in ids]}


def answer(call_id: str) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": "sunny"}


def chat_session(rounds: int) -> list[dict]:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "plan a trip"}]
    for n in range(rounds):
        ids = [f"call_{n}_{k}" for k in range(4)]
        messages += [calls(*ids, content="checking"), *(answer(i) for i in reversed(ids))]
        if n % 7 == 0:
            messages += [{"role": "assistant", "content": "so far so good"}, {"role": "user", "content": "go on"}]
    return messages


CHAT_VALID = [
    chat(chat_session(80), temperature=2, top_p=1, presence_penalty=-2, frequency_penalty=2, n=1, max_tokens=1),
    chat(max_completion_tokens=50, max_tokens=None, temperature=None, n=None, top_k=40),
    chat([{"role": "developer", "content": "x"}, {"role": "user", "content": "a"}, calls("c1"), answer("c1")]),
    chat([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "tool_calls": None},
          {"role": "user", "content": "c"}]),
]


@pytest.mark.parametrize("body", CHAT_VALID, ids=range(len(CHAT_VALID)))
def test_chat_valid_requests_pass(body):
    check_chat(body)


USER = {"role": "user", "content": "weather?"}

CHAT_REFUSED = [
    (chat([USER, answer("call_1")]), "messages[1].tool_call_id", "'call_1' matches no tool call"),
    (chat([USER, calls("call_1"), answer("call_2")]), "messages[2].tool_call_id", "'call_2' matches no tool call"),
    (chat([USER, calls("call_1"), USER]), "messages[1].tool_calls[0].id", "'call_1' has no tool message"),
    (chat([USER, calls("call_1", "call_2"), answer("call_1"), USER]), "messages[1].tool_calls[1].id", "'call_2'"),
    (chat([USER, calls("call_1")]), "messages[1].tool_calls[0].id", "the request ends with it"),
    (chat([USER, calls("call_1"), {"role": "system", "content": "x"}, answer("call_1")]),
     "messages[1].tool_calls[0].id", "must come right after it"),
    (chat([USER, calls("call_1"), answer("call_1"), calls("call_1"), answer("call_1")]),
     "messages[3].tool_calls[0].id", "'call_1' is used twice (first at messages[1].tool_calls[0].id)"),
    (chat([USER, calls("call_1", "call_2"), answer("call_1"), answer("call_1"), answer("call_2")]),
     "messages[3].tool_call_id", "a second tool message for the tool call 'call_1'"),
    (chat(max_tokens=0), "max_tokens", "at least 1 (got 0)"),
    (chat(max_completion_tokens=1.5), "max_completion_tokens", "(got 1.5)"),
    (chat(max_completion_tokens=False), "max_completion_tokens", "(got false)"),
    (chat(n=0), "n", "at least 1"),
    (chat(temperature=2.5), "temperature", "from 0 to 2 (got 2.5)"),
    (chat(temperature=-math.inf), "temperature", "(got -Infinity)"),
    (chat(top_p=-1), "top_p", "from 0 to 1 (got -1)"),
    (chat(presence_penalty=3), "presence_penalty", "from -2 to 2 (got 3)"),
    (chat(frequency_penalty=-2.5), "frequency_penalty", "(got -2.5)"),
    (chat(top_k=-1), "top_k", "at least 0"),
    (chat(model="gpt-4o\x00"), "model", "found U+0000 at position 6"),
    (chat(model="gpt\x7f"), "model", "found U+007F at position 3"),
    (chat(model=None), "model", "model is required"),
]


@pytest.mark.parametrize(("body", "param", "fragment"), CHAT_REFUSED, ids=[c[1] for c in CHAT_REFUSED])
def test_chat_refusals_name_the_field(body, param, fragment):
    assert_refused(check_chat, body, param, fragment)


# --- OpenAI Responses ------------------------------------------------------------------------------


def responses(items=None, **fields) -> dict:
    return {"model": "gpt-5", "input": items if items is not None else "hi", **fields}


def call_item(call_id: str) -> dict:
    return {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": "exec_command",
            "arguments": '{"cmd":"ls"}'}


def output_item(call_id: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": "a.txt"}


def message(role: str, text: str) -> dict:
    return {"type": "message", "role": role, "content": [
        {"type": "input_text" if role != "assistant" else "output_text", "text": text}]}


def codex_session(rounds: int) -> list[dict]:
    items = [message("developer", "rules"), message("user", "env"), {"role": "user", "content": "fix it"}]
    for n in range(rounds):
        a, b = f"call_{n}_a", f"call_{n}_b"
        items += [{"type": "reasoning", "id": f"rs_{n}", "summary": [], "encrypted_content": "x"},
                  message("assistant", "Running."), call_item(a), call_item(b), output_item(b), output_item(a)]
    return items


RESPONSES_VALID = [
    responses(codex_session(80), temperature=0, top_p=1, max_output_tokens=16),
    responses(max_output_tokens=None, temperature=None),
    responses([output_item("call_1"), message("user", "and then?")], previous_response_id="resp_1"),
    responses([output_item("call_1")], conversation="conv_1"),
    # the call is behind a reference (the Vercel AI SDK's store: true): the upstream, or the bridge, resolves it
    responses([{"type": "item_reference", "id": "fc_1"}, output_item("call_1")]),
]


@pytest.mark.parametrize("body", RESPONSES_VALID, ids=range(len(RESPONSES_VALID)))
def test_responses_valid_requests_pass(body):
    check_responses(body)


ASKED = message("user", "list files")

RESPONSES_REFUSED = [
    (responses([ASKED, output_item("call_1")]), "input[1].call_id", "no function_call item with call_id 'call_1'"),
    (responses([ASKED, output_item("call_1"), call_item("call_1")]), "input[1].call_id", "comes before"),
    (responses([ASKED, call_item("call_1"), message("user", "stop")]), "input[1].call_id",
     "the function_call 'call_1' has no output"),
    (responses([ASKED, call_item("call_1")]), "input[1].call_id", "has no output"),
    (responses([ASKED, call_item("call_1"), call_item("call_2"), output_item("call_2")]), "input[1].call_id",
     "'call_1' has no output"),
    (responses([ASKED, call_item("call_1"), output_item("call_1"), call_item("call_1"), output_item("call_1")]),
     "input[3].call_id", "'call_1' is used twice (first at input[1].call_id)"),
    (responses([ASKED, call_item("call_1"), output_item("call_1"), output_item("call_1")]),
     "input[3].call_id", "a second function_call_output for the call 'call_1'"),
    (responses([output_item("call_1"), output_item("call_1")], previous_response_id="resp_1"),
     "input[1].call_id", "a second function_call_output"),
    (responses([ASKED, call_item("")]), "input[1].call_id", "non-empty"),
    (responses(max_output_tokens=15), "max_output_tokens", "at least 16 (got 15)"),
    (responses(max_output_tokens=0), "max_output_tokens", "(got 0)"),
    (responses(max_output_tokens=100.5), "max_output_tokens", "(got 100.5)"),
    (responses(temperature=2.1), "temperature", "from 0 to 2"),
    (responses(top_p=1.5), "top_p", "from 0 to 1"),
    (responses(model="gpt-5\n"), "model", "found U+000A at position 5"),
]


@pytest.mark.parametrize(("body", "param", "fragment"), RESPONSES_REFUSED, ids=[c[1] for c in RESPONSES_REFUSED])
def test_responses_refusals_name_the_field(body, param, fragment):
    assert_refused(check_responses, body, param, fragment)


# --- Gemini ----------------------------------------------------------------------------------------


def gemini(contents=None, **fields) -> dict:
    """A Gemini client body as `transforms.translation.client_body` gives it: the URL's model and method merged in."""
    return {"model": "gemini-2.5-flash", "stream": True, "alt_sse": True,
            "contents": contents if contents is not None else [{"role": "user", "parts": [{"text": "hi"}]}], **fields}


def fc(name: str, call_id: str | None = None, key: str = "functionCall") -> dict:
    return {key: {"name": name, "args": {"city": "Paris"}, **({"id": call_id} if call_id else {})}}


def fr(name: str, call_id: str | None = None, key: str = "functionResponse") -> dict:
    return {key: {"name": name, "response": {"output": "sunny"}, **({"id": call_id} if call_id else {})}}


def turn(role: str, *parts: dict) -> dict:
    return {"role": role, "parts": list(parts)}


def gemini_session(rounds: int) -> list[dict]:
    contents = [{"parts": [{"text": "plan"}]}]  # an unset role is the user's
    for n in range(rounds):
        contents += [turn("model", {"text": "thinking", "thought": True}, fc("weather"), fc("weather"), fc("time")),
                     turn("user", fr("time"), fr("weather"), fr("weather"))]
        if n % 9 == 0:
            contents += [turn("model", {"text": "so far"}), turn("user", {"text": "go on"})]
    return contents


HI = turn("user", {"text": "weather?"})

GEMINI_VALID = [
    gemini(gemini_session(60), generationConfig={"maxOutputTokens": 8192, "temperature": 2, "topP": 1, "topK": 40,
                                                 "candidateCount": 1, "thinkingConfig": {"thinkingBudget": -1}}),
    gemini(generationConfig={"thinkingConfig": {"thinkingBudget": 0, "includeThoughts": False}}),
    gemini(generation_config={"max_output_tokens": 100, "thinking_config": {"thinking_budget": 2048}}),
    # ids given: answered in another order, by id
    gemini([HI, turn("model", fc("weather", "a"), fc("weather", "b")),
            turn("user", fr("weather", "b"), fr("weather", "a"))]),
    # snake_case parts, as the Python SDK may send them
    gemini([HI, turn("model", fc("weather", key="function_call")),
            turn("user", fr("weather", key="function_response"))]),
    # a request may end on the model's calls
    gemini([HI, turn("model", fc("weather"))]),
]


@pytest.mark.parametrize("body", GEMINI_VALID, ids=range(len(GEMINI_VALID)))
def test_gemini_valid_requests_pass(body):
    check_gemini(body)


GEMINI_REFUSED = [
    (gemini([turn("user", fr("weather"))]), "contents[0].parts[0].functionResponse",
     "the functionResponse 'weather' answers no functionCall"),
    (gemini([HI, turn("model", fc("weather")), turn("user", fr("time"), fr("weather"))]),
     "contents[2].parts[0].functionResponse",
     "answers no functionCall of contents[1] (none left with the name 'time')"),
    (gemini([HI, turn("model", fc("weather")), turn("user", fr("weather"), fr("weather"))]),
     "contents[2].parts[1].functionResponse", "none left with the name 'weather'"),
    (gemini([HI, turn("model", fc("weather", "a")), turn("user", fr("weather", "b"))]),
     "contents[2].parts[0].functionResponse", "none left with the id 'b'"),
    (gemini([HI, turn("model", fc("weather")), turn("user", {"text": "hm"}), turn("user", fr("weather"))]),
     "contents[1].parts[0].functionCall",
     "the functionCall 'weather' is not answered: the turn after it (contents[2])"),
    (gemini([HI, turn("model", fc("weather"), fc("time")), turn("user", fr("weather"))]),
     "contents[1].parts[1].functionCall", "'time' is not answered"),
    (gemini([HI, turn("model", fc("weather", "a")), turn("user", fr("weather", "a")),
             turn("model", fc("weather", "a")), turn("user", fr("weather", "a"))]),
     "contents[3].parts[0].functionCall.id", "'a' is used twice (first at contents[1].parts[0].functionCall.id)"),
    (gemini([HI, turn("model", {"functionCall": "weather"})]), "contents[1].parts[0].functionCall",
     "must be an object, not a string"),
    (gemini([HI, turn("model", {"functionCall": {"args": {}}})]), "contents[1].parts[0].functionCall.name", "required"),
    (gemini([HI, turn("model", fc("weather")), turn("user", {"functionResponse": {"response": {}}})]),
     "contents[2].parts[0].functionResponse.name", "required"),
    (gemini([HI, turn("model", {"functionCall": {"name": "w", "id": 5}})]), "contents[1].parts[0].functionCall.id",
     "not a number"),
    (gemini([HI, turn("model", fc("weather", key="function_call")), turn("user", fr("time", key="function_response"))]),
     "contents[2].parts[0].function_response", "answers no functionCall"),
    (gemini(generationConfig={"maxOutputTokens": 0}), "generationConfig.maxOutputTokens",
     "from 1 to 2147483647 (got 0)"),
    (gemini(generationConfig={"maxOutputTokens": 2**31}), "generationConfig.maxOutputTokens", "(got 2147483648)"),
    (gemini(generationConfig={"maxOutputTokens": 1.5}), "generationConfig.maxOutputTokens", "(got 1.5)"),
    (gemini(generation_config={"max_output_tokens": -1}), "generation_config.max_output_tokens", "(got -1)"),
    (gemini(generationConfig={"temperature": 2.5}), "generationConfig.temperature", "from 0 to 2 (got 2.5)"),
    (gemini(generationConfig={"topP": 1.5}), "generationConfig.topP", "from 0 to 1"),
    (gemini(generationConfig={"topK": -1}), "generationConfig.topK", "(got -1)"),
    (gemini(generationConfig={"candidateCount": 0}), "generationConfig.candidateCount", "(got 0)"),
    (gemini(generationConfig={"presencePenalty": 2.5}), "generationConfig.presencePenalty", "from -2 to 2"),
    (gemini(generationConfig={"thinkingConfig": {"thinkingBudget": -2}}),
     "generationConfig.thinkingConfig.thinkingBudget", "-1 (dynamic thinking), 0 (thinking off) or a positive"),
    (gemini(generationConfig={"thinkingConfig": {"thinkingBudget": 1.5}}),
     "generationConfig.thinkingConfig.thinkingBudget", "(got 1.5)"),
    (gemini(generationConfig={"thinkingConfig": {"thinkingBudget": True}}),
     "generationConfig.thinkingConfig.thinkingBudget", "(got true)"),
    (gemini(generationConfig={"thinkingConfig": "high"}), "generationConfig.thinkingConfig", "must be an object"),
    (gemini(generationConfig=[1]), "generationConfig", "must be an object, not an array"),
    (gemini(model="gemini\r\n"), "model", "the model in the URL path (models/{model}:generateContent) must not "
                                          "contain control characters (found U+000D at position 6)"),
    (gemini(model=None), "model", "the model in the URL path"),
]


@pytest.mark.parametrize(("body", "param", "fragment"), GEMINI_REFUSED, ids=[c[1] for c in GEMINI_REFUSED])
def test_gemini_refusals_name_the_field(body, param, fragment):
    assert_refused(check_gemini, body, param, fragment)


# --- checks and decoder together: bad shapes are a clean 400, never a crash -------------------------

# (protocol, body, param): what the decoder already reports well, the checks leave to it
SHAPES = [
    ("anthropic", anthropic("hello"), "messages"),
    ("anthropic", anthropic([ASK, "hi"]), "messages.1"),
    ("anthropic", anthropic([{"role": "wizard", "content": "hi"}]), "messages.0.role"),
    ("anthropic", anthropic([{"role": "user", "content": 5}]), "messages.0.content"),
    ("anthropic", anthropic([ASK, {"role": "assistant", "content": [{"type": "tool_use", "name": "x", "input": {}}]}]),
     "messages.1.content.0"),
    ("anthropic", anthropic([{"role": "user", "content": [{"type": "tool_result"}]}]),
     "messages.0.content.0.tool_use_id"),
    ("anthropic", anthropic([{"role": "user", "content": ["hi"]}]), "messages[0].content[0]"),
    ("anthropic", anthropic([{"role": "user", "content": [{"type": "text"}]}]), "messages.0.content.0.text"),
    ("anthropic", anthropic(thinking="on"), "thinking"),
    ("openai-chat", chat({"role": "user"}), "messages"),
    ("openai-chat", chat([USER, 5]), "messages[1]"),
    ("openai-chat", chat([USER, {"role": "tool", "content": "x"}]), "messages[1].tool_call_id"),
    ("openai-chat", chat([USER, {"role": "assistant", "tool_calls": {"id": "x"}}]), "messages[1].tool_calls"),
    ("openai-chat", chat([USER, {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]),
     "messages[1].tool_calls[0].id"),
    ("openai-chat", chat([USER, {"role": "robot", "content": "x"}]), "messages[1].role"),
    ("openai-responses", responses(7), "input"),
    ("openai-responses", responses([ASKED, "x"]), "input[1]"),
    ("openai-responses", responses([ASKED, {"type": "function_call_output", "output": "x"}]), "input[1].call_id"),
    ("openai-responses", responses([ASKED, {"type": "custom_tool_call_output", "call_id": "c"}]), "input[1].type"),
    ("gemini", gemini({"parts": []}), "contents"),
    ("gemini", gemini([HI, {"role": "model", "parts": "x"}]), "contents[1]"),
    ("gemini", gemini([HI, turn("model", "x")]), "contents[1].parts[0]"),
    ("gemini", gemini([HI, turn("robot", {"text": "x"})]), "contents[1].role"),
    ("gemini", gemini([HI, turn("model", {"functionCall": ["weather"]})]), "contents[1].parts[0].functionCall"),
    ("gemini", gemini([HI, turn("user", {"functionResponse": 3})]), "contents[1].parts[0].functionResponse"),
]


@pytest.mark.parametrize(("protocol", "body", "param"), SHAPES, ids=[f"{c[0]}:{c[2]}" for c in SHAPES])
def test_bad_shapes_are_a_clean_400_from_the_checks_or_the_decoder(protocol, body, param):
    client = CLIENT_CODECS[protocol]
    with pytest.raises(BridgeError) as info:
        client.check_request(body)
        client.decode_request(body)
    assert (info.value.status, info.value.param) == (400, param), info.value.message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.sampled_from(
        ["", "user", "assistant", "model", "tool", "function_call", "function_call_output", "tool_use",
         "tool_result", "call_1", "x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["role", "content", "type", "id", "call_id", "tool_use_id", "tool_call_id", "tool_calls", "name", "parts",
         "functionCall", "functionResponse", "function", "thinkingConfig", "thinkingBudget", "budget_tokens"]),
        inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(protocol=st.sampled_from(sorted(CLIENT_CODECS)), history=JSON, config=JSON, number=JSON)
def test_checks_never_crash(protocol, history, config, number):
    """Whatever the shapes, the checks answer None or a 400 in words."""
    body = {"model": "m", "messages": history, "input": history, "contents": history,
            "generationConfig": config, "thinking": config, "temperature": number, "max_tokens": number}
    try:
        CLIENT_CODECS[protocol].check_request(body)
    except BridgeError as error:
        assert error.status == 400 and not PYTHON_WORDS.search(error.message), error.message


# --- real traffic ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: str(p.relative_to(ROOT / "flows")))
def test_every_recorded_client_request_passes(path):
    """The recorded Claude Code, Codex, SDK and curl requests (flows/) are all accepted."""
    _flow, meta = load(path)
    CLIENT_CODECS[meta["client_protocol"]].check_request(effective_body(meta))


def test_the_codecs_check_their_own_protocol():
    assert CLIENT_CODECS["anthropic"].check_request is check_anthropic
    assert CLIENT_CODECS["openai-chat"].check_request is check_chat
    assert CLIENT_CODECS["openai-responses"].check_request is check_responses
    assert CLIENT_CODECS["gemini"].check_request is check_gemini


# --- model names and URL path segments -------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt-4o", "claude-sonnet-4-5@20250929", "anthropic.claude-3-5-sonnet-20240620-v1:0",
                                  "arn:aws:bedrock:us-east-1:123:inference-profile/x", "models/gemini-2.5-pro",
                                  "Ünïcödé ✓", "a" * 256, "tab\u0080free"])
def test_model_names_accepted(name):
    check_model_name(name)


@pytest.mark.parametrize(("name", "message"), [
    ("claude-opus\r\n", "model must not contain control characters (found U+000D at position 11)."),
    ("\x00", "model must not contain control characters (found U+0000 at position 0)."),
    ("a\tb", "model must not contain control characters (found U+0009 at position 1)."),
    ("del\x7f", "model must not contain control characters (found U+007F at position 3)."),
    ("a" * 257, "model must be at most 256 characters long (got 257)."),
    ("", "model must be a non-empty string."),
    (None, "model is required (a non-empty string)."),
    (["gpt"], "model must be a string (got an array)."),
    (True, "model must be a string (got true)."),
])
def test_model_names_refused(name, message):
    error = refused(check_model_name, name)
    assert (error.param, error.message) == ("model", message)


def test_check_model_name_names_the_given_field():
    assert refused(lambda v: check_model_name(v, "deployment"), "x\n").param == "deployment"


@pytest.mark.parametrize(("value", "segment"), [
    ("gpt-4o", "gpt-4o"),
    ("anthropic.claude-v1:0", "anthropic.claude-v1%3A0"),
    ("a/b", "a%2Fb"),
    ("..", "%2E%2E"),
    (".", "%2E"),
    ("...", "%2E%2E%2E"),
    ("a..b", "a..b"),
    ("../../admin", "..%2F..%2Fadmin"),
    ("x?alt=json#frag", "x%3Falt%3Djson%23frag"),
    ("my deployment", "my%20deployment"),
    ("evil\r\nHost: x", "evil%0D%0AHost%3A%20x"),
    ("100%", "100%25"),
    ("Ünï", "%C3%9Cn%C3%AF"),
    ("", ""),
])
def test_path_segment(value, segment):
    assert path_segment(value) == segment
    assert unquote(segment) == value


HOSTILE = ["..", ".", "a/../../b", "x?key=1", "x#y", "a b", "a\r\nb", "%2e%2e", "..%2F"]


@pytest.mark.parametrize("model", HOSTILE)
@pytest.mark.parametrize(("protocol", "prefix", "suffix"), [
    ("gemini", "/v1beta/models/", ":generateContent"),
    ("azure", "/openai/deployments/", "/chat/completions"),
    ("bedrock", "/model/", "/invoke"),
])
def test_upstream_urls_keep_the_model_in_one_segment(protocol, prefix, suffix, model):
    url = httpx.URL(UPSTREAM_CODECS[protocol].url("https://upstream.example", model, False, UpstreamOptions()))
    assert url.host == "upstream.example" and not url.fragment
    path = url.raw_path.decode().split("?")[0]
    assert path.startswith(prefix) and path.endswith(suffix)
    segment = path[len(prefix):-len(suffix)]
    assert "/" not in segment and unquote(segment) == model
    assert url.params.get("key") is None
