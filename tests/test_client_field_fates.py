"""What Claude Code and Codex send, field by field, and what becomes of each field on an upstream of another
protocol (issue 14, point 4).

The requests are the ones recorded from the pinned CLIs in `flows/claude-code/` and `flows/codex/` (prose
replaced, structure kept; `tests/record_claude_code_flows.py`, `tests/record_codex_flows.py`). Each is sent
again through a real mitmdump to the simulator of every other protocol, and:
- every field, message kind, block kind, tool key and header the CLI sent has a row in FATES (a new CLI
  version that sends something new fails here until its fate is decided and written down);
- every row's fate holds on the request the upstream received: a field said to be sent is there under its
  upstream name, a dropped one is nowhere in the upstream body, a header not sent is not in its headers;
- the README's tables are these rows, rendered (`uv run python -m tests.test_client_field_fates` prints them).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import httpx
import orjson
import pytest
from mitmproxy import io

from tests import claude_code_cli, codex_cli
from tests.bridge_process import ROOT
from tests.conftest import simulator_bridge

TRANSPORT_HEADERS = {"host", "accept", "accept-encoding", "connection", "content-length", "content-type"}
OPAQUE_OBJECTS = {"client_metadata"}  # Codex's ids: one row for the object
CORE_KEYS = {"type", "text", "id", "name", "input", "tool_use_id", "content", "is_error", "signature", "thinking",
             "source", "role", "call_id", "arguments", "output", "status", "encrypted_content", "summary"}


@dataclass(frozen=True)
class Fate:
    """What an upstream receives for a field: `kind` is `sent` (the upstream body has `path`), `dropped` (no key
    `path` anywhere in the upstream body), `key` (the key `path` somewhere in it), `absent` (the text `path` nowhere in it), `url` (`path` is in the
    upstream URL), `header_dropped` (no such upstream header) or `replaced` (the upstream header is not the
    client's); `text` is the README's wording."""

    kind: str
    path: str
    text: str


def sent(path: str, text: str = "") -> Fate:
    return Fate("sent", path, text or f"`{path}`")


def dropped(key: str, text: str) -> Fate:
    return Fate("dropped", key, f"dropped: {text}")


def absent(value: str, text: str) -> Fate:
    return Fate("absent", value, f"dropped: {text}")


def present(key: str, text: str) -> Fate:
    return Fate("key", key, text)


def url(fragment: str, text: str) -> Fate:
    return Fate("url", fragment, text)


def not_sent(text: str = "not sent") -> Fate:
    return Fate("header_dropped", "", text)


def replaced(text: str) -> Fate:
    return Fate("replaced", "", text)


def same(fate: Fate, n: int = 3) -> tuple[Fate, ...]:
    return (fate,) * n


CLAUDE_CODE_UPSTREAMS = {"openai-chat": "gpt-sim", "openai-responses": "resp-sim", "gemini": "gem-sim"}
CODEX_UPSTREAMS = {"anthropic": "claude-sim", "openai-chat": "gpt-sim", "gemini": "gem-sim"}
EFFORT = "low / medium / high; `xhigh`, `max` -> high"
NOT_SENT = not_sent("not sent (kept on a passthrough to Anthropic)")

CLAUDE_CODE: dict[str, tuple[Fate, Fate, Fate]] = {
    "model": (sent("model", "`model`: the configured upstream model"), sent("model", "`model`: the same"),
              url("/models/gemini", "in the URL: the same")),
    "max_tokens": (sent("max_tokens", "`max_tokens`, lowered to the model's `max_output_tokens`"),
                   sent("max_output_tokens", "`max_output_tokens`, lowered the same way"),
                   sent("generationConfig.maxOutputTokens", "`generationConfig.maxOutputTokens`, lowered the same way")),
    "stream": (sent("stream_options.include_usage", "`stream`, with `stream_options.include_usage`"), sent("stream"),
               url("alt=sse", "`:streamGenerateContent?alt=sse`")),
    "system[].type=text": (sent("messages[].role=system", "one `system` message"), sent("instructions"),
                           sent("systemInstruction.parts[].text")),
    "system[].cache_control": (dropped("cache_control", "this upstream caches prefixes by itself (one with the `openai-prompt-cache` quirk gets `prompt_cache_breakpoint`)"),
                               dropped("cache_control", "`instructions` take no breakpoint; OpenAI's implicit one covers them"),
                               dropped("cache_control", "Gemini caches repeated prefixes by itself")),
    "messages[].role=user": (sent("messages[].role=user"), sent("input[].role=user"), sent("contents[].role=user")),
    "messages[].role=assistant": (sent("messages[].role=assistant"), sent("input[].role=assistant"),
                                  sent("contents[].role=model")),
    "messages[].role=system": (sent("messages[].role=system", "joined into the `system` message"),
                               sent("instructions", "joined into `instructions`"),
                               sent("systemInstruction.parts[].text", "joined into `systemInstruction`")),
    "messages[].output_config": (sent("reasoning_effort", "its `effort` (per-turn control) is this call's `reasoning_effort`"),
                                 sent("reasoning.effort", "its `effort` is this call's `reasoning.effort`"),
                                 sent("generationConfig.thinkingConfig.thinkingBudget",
                                      "its `effort` is this call's `thinkingConfig.thinkingBudget`")),
    "messages[].content[].type=text": (sent("messages[].content", "text `content` (a turn's blocks joined by a blank line)"),
                                       sent("input[].content[].type=input_text", "`input_text` / `output_text` parts"),
                                       sent("contents[].parts[].text", "`text` parts")),
    "messages[].content[].type=tool_use": (sent("messages[].tool_calls", "assistant `tool_calls`, same ids"),
                                           sent("input[].type=function_call", "`function_call` items, same ids"),
                                           sent("contents[].parts[].functionCall",
                                                "`functionCall` parts (the first of a step signed with Google's placeholder)")),
    "messages[].content[].type=tool_result": (sent("messages[].role=tool", "`role: tool` messages"),
                                              sent("input[].type=function_call_output", "`function_call_output` items"),
                                              sent("contents[].parts[].functionResponse", "`functionResponse` parts, named after their call")),
    "messages[role=system].content[].cache_control": (
        dropped("cache_control", "as on `system` blocks: the text joins the system prompt"),
        dropped("cache_control", "as on `system` blocks: the text joins `instructions`"),
        dropped("cache_control", "as on `system` blocks: the text joins `systemInstruction`")),
    "messages[].content[].cache_control": (dropped("cache_control", "this upstream caches prefixes by itself (one with the `openai-prompt-cache` quirk gets `prompt_cache_breakpoint`)"),
                                           present("prompt_cache_breakpoint", "`prompt_cache_breakpoint` on the same part (a tool result's output becomes an `input_text` part to carry it), with `prompt_cache_key`"),
                                           dropped("cache_control", "Gemini caches repeated prefixes by itself")),
    "metadata.user_id": (sent("user", "`user`: its SHA-256 (it holds Claude Code's device and account ids)"),
                         sent("user", "`user`: its SHA-256"), dropped("user", "Gemini has no such field")),
    "thinking.type": (sent("reasoning_effort", "adaptive: `reasoning_effort` from `output_config.effort` (none: medium)"),
                      sent("reasoning.effort", "adaptive: `reasoning.effort` the same way, summaries asked as `auto`"),
                      sent("generationConfig.thinkingConfig.thinkingBudget",
                           "adaptive: `thinkingConfig.thinkingBudget` for that effort, `includeThoughts`")),
    "thinking.display": same(dropped("display", "whether Claude Code shows thinking is its own affair")),
    "output_config.effort": (sent("reasoning_effort", f"`reasoning_effort`: {EFFORT}"),
                             sent("reasoning.effort", f"`reasoning.effort`: {EFFORT}"),
                             sent("generationConfig.thinkingConfig.thinkingBudget",
                                  "`thinkingBudget`: 4096 / 16384 / 32768 for low / medium / high")),
    "context_management.edits": same(dropped("context_management", "applied by the bridge (`clear_tool_uses`, `clear_thinking`): the upstream gets the trimmed context, the client `applied_edits`")),
    "tools[].name": (sent("tools[].function.name"), sent("tools[].name"), sent("tools[].functionDeclarations[].name")),
    "tools[].description": (sent("tools[].function.description"), sent("tools[].description"),
                            sent("tools[].functionDeclarations[].description")),
    "tools[].input_schema": (sent("tools[].function.parameters", "`tools[].function.parameters` (cleaned where the provider's quirk says)"),
                             sent("tools[].parameters", "`tools[].parameters`, with `strict: false`"),
                             sent("tools[].functionDeclarations[].parameters", "`functionDeclarations[].parameters`, cleaned to Gemini's subset")),
    "tools[].defer_loading": same(absent("DeferredToolPlaceholder", "the deferred tool is left out (it needs Anthropic's tool search)")),
    "header anthropic-beta": same(NOT_SENT),
    "header anthropic-version": same(NOT_SENT),
    "header anthropic-dangerous-direct-browser-access": same(not_sent()),
    "header x-app": same(not_sent()),
    "header user-agent": same(replaced("the bridge's own")),
    "header x-api-key": same(replaced("the provider's key, from the bridge's configuration")),
}

CODEX: dict[str, tuple[Fate, Fate, Fate]] = {
    "model": (sent("model", "`model`: the configured upstream model"), sent("model", "`model`: the same"),
              url("/models/gemini", "in the URL: the same")),
    "stream": (sent("stream"), sent("stream_options.include_usage", "`stream`, with `stream_options.include_usage`"),
               url("alt=sse", "`:streamGenerateContent?alt=sse`")),
    "input[].type=message": (sent("messages"), sent("messages"), sent("contents")),
    "input[].role=developer": (sent("system", "`system` (developer texts joined)"),
                               sent("messages[].role=system", "one `system` message"),
                               sent("systemInstruction.parts[].text", "`systemInstruction`")),
    "input[].role=user": (sent("messages[].role=user"), sent("messages[].role=user"), sent("contents[].role=user")),
    "input[].role=assistant": (sent("messages[].role=assistant"), sent("messages[].role=assistant"),
                               sent("contents[].role=model")),
    "input[].content[].type=input_text": (sent("messages[].content[].type=text", "`text` blocks"),
                                          sent("messages[].content", "text `content`"), sent("contents[].parts[].text", "`text` parts")),
    "input[].content[].type=output_text": (sent("messages[].content[].type=text", "`text` blocks"),
                                           sent("messages[].content", "text `content`"), sent("contents[].parts[].text", "`text` parts")),
    "input[].content[].annotations": same(dropped("annotations", "citations of an earlier answer")),
    "input[].type=function_call": (sent("messages[].content[].type=tool_use", "`tool_use` blocks, same ids"),
                                   sent("messages[].tool_calls", "assistant `tool_calls`, same ids"),
                                   sent("contents[].parts[].functionCall", "`functionCall` parts")),
    "input[].type=function_call_output": (sent("messages[].content[].type=tool_result", "`tool_result` blocks"),
                                          sent("messages[].role=tool", "`role: tool` messages"),
                                          sent("contents[].parts[].functionResponse", "`functionResponse` parts")),
    "tools[].type=function": (sent("tools[].input_schema", "Anthropic tools"), sent("tools[].type=function", "`function` tools"),
                              sent("tools[].functionDeclarations", "`functionDeclarations`")),
    "tools[].name": (sent("tools[].name"), sent("tools[].function.name"), sent("tools[].functionDeclarations[].name")),
    "tools[].description": (sent("tools[].description"), sent("tools[].function.description"),
                            sent("tools[].functionDeclarations[].description")),
    "tools[].parameters": (sent("tools[].input_schema"), sent("tools[].function.parameters"),
                           sent("tools[].functionDeclarations[].parameters", "`functionDeclarations[].parameters`, cleaned to Gemini's subset")),
    "tools[].strict": same(dropped("strict", "the upstreams here take any schema")),
    "tools[].type=namespace": same(absent("multi_agent_v1", "a namespace of built-in tools no upstream here runs (logged)")),
    "tools[].tools": same(absent("multi_agent_v1", "the namespace's tools go with it")),
    "tools[].type=web_search": same(absent("web_search", "OpenAI's hosted search, which no upstream here runs (logged)")),
    "tools[].external_web_access": same(absent("external_web_access", "with the search tool")),
    "tool_choice": (sent("tool_choice.type=auto", "`tool_choice`"), sent("tool_choice"),
                    sent("toolConfig.functionCallingConfig.mode", "`toolConfig.functionCallingConfig.mode`")),
    "parallel_tool_calls": (dropped("disable_parallel_tool_use", "`true` is Anthropic's default"), sent("parallel_tool_calls"),
                            dropped("parallel_tool_calls", "Gemini calls in parallel when it likes")),
    "reasoning.summary": (dropped("thinking", "alone (no `effort`) it asks for no reasoning"),
                          dropped("reasoning_effort", "alone it asks for no reasoning"),
                          dropped("thinkingConfig", "alone it asks for no reasoning")),
    "include": same(dropped("include", "reasoning signatures come back in `encrypted_content` without asking")),
    "store": same(dropped("store", "`false`, and nothing is stored upstream anyway")),
    "prompt_cache_key": (dropped("prompt_cache_key", "Anthropic partitions its cache by key and prefix"),
                         dropped("prompt_cache_key", "sent only to an upstream with the `openai-prompt-cache` quirk"),
                         dropped("prompt_cache_key", "Gemini has no such field")),
    "client_metadata": same(dropped("client_metadata", "Codex's session and turn ids")),
    "header authorization": same(replaced("the provider's key, from the bridge's configuration")),
    "header originator": same(not_sent()),
    "header x-codex-beta-features": same(not_sent()),
    "header user-agent": same(replaced("the bridge's own")),
}


@dataclass(frozen=True)
class Cli:
    name: str
    folder: str
    version: str
    agent: str
    upstreams: dict[str, str]
    fates: dict[str, tuple[Fate, Fate, Fate]]


CLIS = [
    Cli("Claude Code", "claude-code", claude_code_cli.VERSION, "claude-cli/", CLAUDE_CODE_UPSTREAMS, CLAUDE_CODE),
    Cli("Codex", "codex", codex_cli.VERSION, "codex_exec/", CODEX_UPSTREAMS, CODEX),
]
UPSTREAM_TITLES = {"anthropic": "Anthropic", "openai-chat": "OpenAI Chat", "openai-responses": "OpenAI Responses",
                   "gemini": "Gemini"}


def recorded_requests(cli: Cli) -> list[dict]:
    requests = []
    for path in sorted((ROOT / "flows" / cli.folder).glob("*.flow")):
        with path.open("rb") as file:
            for flow in io.FlowReader(file).stream():
                requests.append(flow.metadata["llm_bridge"]["client_request"])
    return requests


def fields(body: dict, headers: list) -> set[str]:
    """The field paths of a client request: top-level keys (one level into objects), message and item kinds,
    content block kinds, uncommon block keys, tool keys, and every header but the transport's."""
    found = set()
    for key, value in body.items():
        if isinstance(value, dict) and key not in OPAQUE_OBJECTS:
            found |= {f"{key}.{sub}" for sub in value}
        elif key in ("messages", "input", "system") and isinstance(value, list):
            for item in value:
                found |= {f"{key}[].{k}={item[k]}" for k in ("role", "type") if k in item}
                found |= {f"{key}[].{k}" for k in item if k not in CORE_KEYS}
                within = f"{key}[role=system]" if item.get("role") == "system" else f"{key}[]"  # system text goes apart
                for block in item["content"] if isinstance(item.get("content"), list) else []:
                    found.add(f"{key}[].content[].type={block.get('type')}")
                    found |= {f"{within}.content[].{k}" for k in block if k not in CORE_KEYS}
        elif key == "tools":
            for tool in value:
                found |= {f"tools[].type={tool['type']}"} if "type" in tool else set()
                found |= {f"tools[].{k}" for k in tool if k != "type"}
        else:
            found.add(key)
    return found | {f"header {name.lower()}" for name, _ in headers if name.lower() not in TRANSPORT_HEADERS}


def has_path(node: object, path: str) -> bool:
    """`a.b[].c=v`: key `a`, then `b` (a list: any element), then `c` equal to `v` (compared as text)."""
    head, _, rest = path.partition(".")
    head, _, want = head.partition("=") if not rest else (head, "", "")
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(node, dict) or key not in node:
        return False
    values = node[key] if many and isinstance(node[key], list) else [] if many else [node[key]]
    if rest:
        return any(has_path(value, rest) for value in values)
    return any(not want or str(value).lower() == want.lower() for value in values) if (values or not many) else False


def has_key(node: object, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(has_key(value, key) for value in node.values())
    return isinstance(node, list) and any(has_key(value, key) for value in node)


def holds(fate: Fate, field: str, client_headers: dict[str, str], upstream) -> bool:
    body = orjson.loads(upstream.request.content)
    header = field.removeprefix("header ")
    match fate.kind:
        case "sent":
            return has_path(body, fate.path)
        case "dropped":
            return not has_key(body, fate.path)
        case "key":
            return has_key(body, fate.path)
        case "absent":
            return fate.path not in upstream.request.content.decode()
        case "url":
            return fate.path in upstream.request.url
        case "header_dropped":
            return header not in upstream.request.headers
        case "replaced":
            return upstream.request.headers.get(header) != client_headers[header]
    raise AssertionError(fate.kind)


def render(cli: Cli) -> str:
    titles = [UPSTREAM_TITLES[p] for p in cli.upstreams]
    lines = [f"| {cli.name} {cli.version} sends | to {' | to '.join(titles)} |", "|---" * (1 + len(titles)) + "|"]
    for field, fates in cli.fates.items():
        shown = f"header `{field.removeprefix('header ')}`" if field.startswith("header ") else f"`{field}`"
        lines.append(f"| {shown} | {' | '.join(f.text for f in fates)} |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def bridge(simulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fates")
    process = simulator_bridge(simulator, folder, f"--set=bridge_record={folder / 'recorded'}")
    process.recorded = folder / "recorded"
    yield process
    process.stop()


def send_again(bridge, request: dict, model: str, n: int):
    """The recorded client request, its model replaced, through the recording bridge; the upstream flow."""
    headers = {name: value for name, value in request["headers"] if name.lower() not in TRANSPORT_HEADERS}
    headers["content-type"] = "application/json"
    for name in headers:
        if headers[name] == "<redacted>":
            headers[name] = "Bearer client-secret" if name.lower() == "authorization" else "client-secret"
    before = set(bridge.recorded.glob("*.flow")) if bridge.recorded.exists() else set()
    body = {**orjson.loads(request["body"]), "model": model}
    with httpx.stream(request["method"], bridge.base_url + request["path"], content=orjson.dumps(body),
                      headers=headers, timeout=30) as answer:
        answer.read()
    assert answer.status_code == 200, (model, n, answer.text)
    for _ in range(100):
        new = sorted(set(bridge.recorded.glob("*.flow")) - before)
        if new:
            with new[-1].open("rb") as file:
                return headers, next(io.FlowReader(file).stream())
        time.sleep(0.05)
    raise AssertionError("the bridge recorded nothing")


@pytest.mark.parametrize("cli", CLIS, ids=[c.folder for c in CLIS])
def test_the_recordings_are_of_the_pinned_version(cli):
    requests = recorded_requests(cli)
    assert requests
    for request in requests:
        agent = dict((k.lower(), v) for k, v in request["headers"])["user-agent"]
        assert agent.startswith(f"{cli.agent}{cli.version} "), f"flows/{cli.folder} were recorded from {agent}: record them again"


@pytest.mark.parametrize("cli", CLIS, ids=[c.folder for c in CLIS])
def test_every_field_sent_has_a_fate(cli):
    sent_fields = set().union(*(fields(orjson.loads(r["body"]), r["headers"]) for r in recorded_requests(cli)))
    assert sorted(sent_fields - set(cli.fates)) == [], "fields without a documented fate"
    assert sorted(set(cli.fates) - sent_fields) == [], "fates of fields the CLI no longer sends"


@pytest.mark.parametrize("cli", CLIS, ids=[c.folder for c in CLIS])
def test_every_fate_holds_on_the_upstream_request(bridge, cli):
    wrong = []
    for n, request in enumerate(recorded_requests(cli)):
        sent_fields = fields(orjson.loads(request["body"]), request["headers"])
        for column, (protocol, model) in enumerate(cli.upstreams.items()):
            headers, upstream = send_again(bridge, request, model, n)
            headers = {k.lower(): v for k, v in headers.items()}
            wrong += [f"{field} -> {protocol}: {cli.fates[field][column]}" for field in sorted(sent_fields)
                      if not holds(cli.fates[field][column], field, headers, upstream)]
    assert wrong == []


@pytest.mark.parametrize("cli", CLIS, ids=[c.folder for c in CLIS])
def test_the_readme_shows_these_fates(cli):
    assert render(cli) in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README.md's table differs; `uv run python -m tests.test_client_field_fates` prints it")


if __name__ == "__main__":
    sys.stdout.write("\n\n".join(render(cli) for cli in CLIS) + "\n")
