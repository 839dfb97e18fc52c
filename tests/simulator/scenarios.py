"""The scenario catalogue, in protocol-neutral terms.

A request names its scenario with a directive such as `[sim:tools split=1 delay_ms=5]` in the
text of its most recent user message. `plan()` turns the request (already reduced to a
`Conversation` by the protocol front-end) into a `Plan`: either a `Reply` made of parts
(text, thinking, tool calls, ...) that each front-end renders in its own wire format, or a
`Failure` to answer with.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from .common import Failure, dumps, invalid

# A text delta: a string, or a callable evaluated when the event is sent (the `timed` stamps).
Delta = str | Callable[[], str]


def resolve(delta: Delta) -> str:
    return delta() if callable(delta) else delta


@dataclass(frozen=True)
class TextPart:
    deltas: tuple[Delta, ...]

    def text(self) -> str:
        return "".join(resolve(delta) for delta in self.deltas)


@dataclass(frozen=True)
class ThinkingPart:
    deltas: tuple[str, ...]

    def text(self) -> str:
        return "".join(self.deltas)


@dataclass(frozen=True)
class ToolCallPart:
    ordinal: int  # 1-based; rendered as toolu_sim_01 / call_sim_01
    name: str
    arguments: dict
    # The JSON text of `arguments`, cut mid-token like real streams. Empty for no arguments:
    # Anthropic then streams just the "" fragment, OpenAI a single "{}".
    fragments: tuple[str, ...]

    def __post_init__(self) -> None:
        streamed = "".join(self.fragments) or "{}"
        assert json.loads(streamed) == self.arguments, f"fragments of {self.name} do not spell its arguments"


@dataclass(frozen=True)
class WebSearchPart:
    """Anthropic server tool: a server_tool_use block then its web_search_tool_result block."""

    ordinal: int
    query: str
    fragments: tuple[str, ...]
    results: tuple[tuple[str, str], ...]  # (title, url)

    def __post_init__(self) -> None:
        assert json.loads("".join(self.fragments)) == {"query": self.query}


Part = TextPart | ThinkingPart | ToolCallPart | WebSearchPart


class Stop(StrEnum):
    """Why the reply ended (Anthropic's names; the OpenAI front-end maps them to finish_reason)."""

    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    TOOL_USE = "tool_use"
    REFUSAL = "refusal"


@dataclass(frozen=True)
class Usage:
    input_tokens: int  # uncached input (Anthropic's meaning)
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    web_search_requests: int = 0
    # Of cache_creation_input_tokens, those written under the longer TTL (Anthropic's 1h, OpenAI's 12h).
    cache_creation_long_ttl_tokens: int = 0
    # The input numbers come from the prompt-cache model (`prompt_cache.py`), not the scenario: the
    # front-ends then report the cache-write details too (OpenAI Responses' cache_write_tokens).
    cache_modelled: bool = False


@dataclass(frozen=True)
class Reply:
    parts: tuple[Part, ...]
    stop: Stop
    usage: Usage
    stop_sequence: str | None = None
    # Streamed: the parts' first deltas, then a protocol error event. Not streamed: a 5xx.
    midstream_error: bool = False
    # Streamed: the parts, then the TCP connection closes without ending the body.
    disconnect: bool = False
    # OpenAI Chat: name the matched stop sequence in the choice's `stop_reason`, as vLLM does
    report_matched_stop: bool = False


@dataclass(frozen=True)
class Conversation:
    """What the scenarios need from a request; each front-end extracts it from its own format."""

    protocol: Literal["anthropic", "openai", "openai_responses"]
    body: dict
    raw_body: bytes
    latest_user_text: str | None
    trailing_tool_results: list[str] | None  # set when the request ends with tool output
    stop_sequences: list[str]


@dataclass(frozen=True)
class Plan:
    scenario: str
    outcome: Reply | Failure
    split: int | None = None
    delay_s: float = 0.0


DIRECTIVE = re.compile(r"\[sim:(?P<name>[A-Za-z0-9_]+)(?P<options>[^\]]*)\]")
COMMON_OPTIONS = {"split", "delay_ms"}
ANTHROPIC_ONLY = {"multi_text", "web_search"}
RESPONSES_TOO = {"multi_text"}  # the OpenAI Responses front-end renders these as well (several message items)

HELLO = ("Hello", " from the", " simulator! Ünï", "cödé ✓", " 🌍")

ERRORS = {  # scenario -> (HTTP status, Anthropic error type)
    "error400": (400, "invalid_request_error"),
    "error401": (401, "authentication_error"),
    "error403": (403, "permission_error"),
    "error404": (404, "not_found_error"),
    "error429": (429, "rate_limit_error"),
    "error500": (500, "api_error"),
    "error529": (529, "overloaded_error"),
}


def plan(conversation: Conversation) -> Plan:
    name, options = "text", {}
    if conversation.latest_user_text:
        found = DIRECTIVE.search(conversation.latest_user_text)
        if found:
            name, options = found["name"], _parse_options(found["options"])
    if conversation.trailing_tool_results is not None:
        # A tool round trip always continues with `after_tools`; only split/delay carry over.
        name = "after_tools"
        options = {key: value for key, value in options.items() if key in COMMON_OPTIONS}

    if name not in SCENARIOS and name not in ERRORS:
        raise invalid(f"simulator: unknown scenario {name!r}; known: {', '.join(sorted([*SCENARIOS, *ERRORS]))}")
    if name in ANTHROPIC_ONLY and conversation.protocol != "anthropic" and not (
        name in RESPONSES_TOO and conversation.protocol == "openai_responses"
    ):
        raise invalid(f"simulator: scenario {name!r} exists only for Anthropic Messages")

    own = _SCENARIO_OPTIONS.get(name, set())
    unknown = set(options) - COMMON_OPTIONS - own
    if unknown:
        raise invalid(f"simulator: unknown option(s) {', '.join(sorted(unknown))} for scenario {name!r}")

    split = _int_option(options, "split", None, minimum=1)
    delay_s = _int_option(options, "delay_ms", 0, minimum=0) / 1000
    if name == "timed":
        delay_s = _int_option(options, "interval_ms", 20, minimum=0) / 1000
    outcome = _error_scenario(name) if name in ERRORS else SCENARIOS[name](conversation, options)
    return Plan(name, outcome, split, delay_s)


def _parse_options(text: str) -> dict[str, str]:
    options = {}
    for item in text.split():
        key, equals, value = item.partition("=")
        if not equals:
            raise invalid(f"simulator: option {item!r} must look like key=value")
        options[key] = value
    return options


def _int_option(options: dict[str, str], key: str, default, *, minimum: int):
    if key not in options:
        return default
    try:
        value = int(options[key])
    except ValueError:
        raise invalid(f"simulator: option {key} must be an integer") from None
    if value < minimum:
        raise invalid(f"simulator: option {key} must be >= {minimum}")
    return value


def _usage(conversation: Conversation, parts: tuple[Part, ...], **overrides) -> Usage:
    """Deterministic counts: ~4 bytes of request per input token, one output token per delta."""
    output = sum(
        len(part.deltas) if isinstance(part, (TextPart, ThinkingPart)) else len(part.fragments) + 1 for part in parts
    )
    reasoning = sum(len(part.deltas) for part in parts if isinstance(part, ThinkingPart))
    values = {
        "input_tokens": len(conversation.raw_body) // 4 + 1,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
    }
    return Usage(**{**values, **overrides})


def _reply(conversation: Conversation, *parts: Part, stop: Stop = Stop.END_TURN, **extra) -> Reply:
    usage = extra.pop("usage", None) or _usage(conversation, parts)
    return Reply(parts=parts, stop=stop, usage=usage, **extra)


def _pieces(text: str, count: int) -> tuple[str, ...]:
    """Cut text into `count` roughly equal, non-empty deltas."""
    if not text:
        return ()
    size = max(1, math.ceil(len(text) / count))
    return tuple(text[start : start + size] for start in range(0, len(text), size))


# --- the scenarios -------------------------------------------------------------------------


def text(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(HELLO))


def multi_text(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(("Part", " one.")), TextPart(("Part", " two.")))


def thinking(conversation: Conversation, options: dict) -> Reply:
    return _reply(
        conversation,
        ThinkingPart(("Let me think this", " through carefully.")),
        TextPart(("The answer", " is 42.")),
    )


def tools(conversation: Conversation, options: dict) -> Reply:
    return _reply(
        conversation,
        TextPart(("Let me", " check.")),
        ToolCallPart(1, "get_weather", {"city": "Paris"}, ('{"ci', 'ty": "Pa', 'ris"}')),
        ToolCallPart(2, "get_weather", {"city": "London"}, ('{"city"', ': "Lon', 'don"}')),
        stop=Stop.TOOL_USE,
    )


def tool_noargs(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, ToolCallPart(1, "get_time", {}, ()), stop=Stop.TOOL_USE)


def read(conversation: Conversation, options: dict) -> Reply:
    """A call of a client's own file-reading tool on `path=...`, for real-client tool rounds: Claude Code's
    `Read` by default, or the one named `tool=...` (the Gemini CLI's `read_file`, opencode's `read`), its
    argument `file_path` or the one named `arg=...` (opencode's `filePath`)."""
    path = options.get("path")
    if not path:
        raise invalid("simulator: scenario 'read' needs path=/absolute/file")
    arguments = {options.get("arg") or "file_path": path}
    text = json.dumps(arguments, separators=(",", ":"))
    name = options.get("tool") or "Read"
    return _reply(conversation, TextPart(("I will read it.",)), ToolCallPart(1, name, arguments, (text[:9], text[9:])),
                  stop=Stop.TOOL_USE)


def exec(conversation: Conversation, options: dict) -> Reply:  # noqa: A001 - the scenario's name
    """A call of Codex's own `exec_command` tool with `cmd=...` ("+" for spaces), for real-client tool rounds."""
    cmd = options.get("cmd", "").replace("+", " ")
    if not cmd:
        raise invalid("simulator: scenario 'exec' needs cmd=command+with+args")
    arguments = {"cmd": cmd}
    text = json.dumps(arguments, separators=(",", ":"))
    return _reply(conversation, TextPart(("Running it.",)), ToolCallPart(1, "exec_command", arguments, (text[:6], text[6:])),
                  stop=Stop.TOOL_USE)


def max_tokens(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(("This answer is cut", " off before it")), stop=Stop.MAX_TOKENS)


def stop_sequence(conversation: Conversation, options: dict) -> Reply:
    matched = conversation.stop_sequences[0] if conversation.stop_sequences else None
    if matched is None and conversation.protocol == "anthropic":
        raise invalid("simulator: scenario 'stop_sequence' needs `stop_sequences` in the request")
    return _reply(conversation, TextPart(("Counting: 1, 2,", " 3")), stop=Stop.STOP_SEQUENCE, stop_sequence=matched,
                  report_matched_stop=options.get("vllm") == "1")


def refusal(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(("I can't", " help with that.")), stop=Stop.REFUSAL)


def cached(conversation: Conversation, options: dict) -> Reply:
    usage = Usage(input_tokens=12, output_tokens=9, cache_read_input_tokens=1000, cache_creation_input_tokens=200)
    return _reply(conversation, TextPart(("Served", " mostly", " from cache.")), usage=usage)


def web_search(conversation: Conversation, options: dict) -> Reply:
    search = WebSearchPart(
        1,
        "simulator weather",
        ('{"query":', ' "simulator wea', 'ther"}'),
        (
            ("Simulated Weather Report", "https://example.com/sim/weather"),
            ("Simulated Forecast", "https://example.com/sim/forecast"),
        ),
    )
    answer = TextPart(("According to the search,", " it is sunny."))
    usage = _usage(conversation, (search, answer), web_search_requests=1)
    return _reply(conversation, search, answer, usage=usage)


def midstream_error(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(("Partial", " answer", " before")), midstream_error=True)


def disconnect(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(("Partial", " answer", " before")), disconnect=True)


def echo(conversation: Conversation, options: dict) -> Reply:
    return _reply(conversation, TextPart(_pieces(dumps(conversation.body).decode(), 4)))


def after_tools(conversation: Conversation, options: dict) -> Reply:
    joined = "; ".join(conversation.trailing_tool_results or [])
    deltas = ("Tool results", " received: ", *_pieces(joined, 2))
    return _reply(conversation, TextPart(deltas))


def timed(conversation: Conversation, options: dict) -> Reply:
    count = _int_option(options, "n", 20, minimum=1)
    return _reply(conversation, TextPart((_send_time_stamp,) * count))


def _send_time_stamp() -> str:
    """Evaluated as each event is written, so it records the send time."""
    return f"t={time.time_ns()};"


def _error_scenario(name: str) -> Failure:
    status, kind = ERRORS[name]
    return Failure(status, kind, f"simulated {kind}")


SCENARIOS: dict[str, Callable[[Conversation, dict], Reply]] = {
    scenario.__name__: scenario
    for scenario in (
        text,
        multi_text,
        thinking,
        tools,
        tool_noargs,
        read,
        exec,
        max_tokens,
        stop_sequence,
        refusal,
        cached,
        web_search,
        midstream_error,
        disconnect,
        echo,
        after_tools,
        timed,
    )
}
_SCENARIO_OPTIONS = {"timed": {"n", "interval_ms"}, "stop_sequence": {"vllm"}, "read": {"path", "tool", "arg"}, "exec": {"cmd"}}
