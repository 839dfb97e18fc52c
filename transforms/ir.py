"""The neutral intermediate representation every codec reads or writes.

Shaped after pydantic-ai's message parts: a conversation is a list of messages,
each a list of typed parts. Stream events are the incremental form of the same
parts. Plain slotted dataclasses: they are built per request and per SSE event,
so they must be cheap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import orjson

from transforms.errors import BridgeError

# --- message parts ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheMark:
    """A prompt-cache breakpoint: the prompt up to and including what carries it may be cached.
    `ttl_s`: the least lifetime the client asked for (None: the upstream's default)."""

    ttl_s: int | None = None


@dataclass(slots=True)
class TextPart:
    text: str
    cache: CacheMark | None = None


@dataclass(slots=True)
class ImagePart:
    """An image given either by URL or inline as base64 `data` with its media type."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    cache: CacheMark | None = None


@dataclass(slots=True)
class ThinkingPart:
    """Model reasoning. `signature` (or `redacted` data) must round-trip unchanged
    to upstreams that verify it."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    id: str | None = None  # the reasoning item's id, which OpenAI Responses needs handed back


@dataclass(slots=True)
class ToolCallPart:
    id: str
    name: str
    arguments: dict
    cache: CacheMark | None = None


@dataclass(slots=True)
class ToolResultPart:
    tool_call_id: str
    content: list[TextPart | ImagePart]
    is_error: bool = False
    cache: CacheMark | None = None


Part = TextPart | ImagePart | ThinkingPart | ToolCallPart | ToolResultPart


@dataclass(slots=True)
class Message:
    role: Literal["user", "assistant"]
    parts: list[Part]


# --- request ---------------------------------------------------------------


@dataclass(slots=True)
class ToolDefinition:
    name: str
    description: str | None = None
    parameters: dict | None = None
    strict: bool | None = None
    cache: CacheMark | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: dict | None = None
    name: str | None = None
    strict: bool | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    tools: list[ToolDefinition] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    user: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    # The client asked to be sent token usage at the end of a stream.
    include_usage: bool = False
    top_k: int | None = None
    # Asks present in the client request that this representation cannot carry,
    # as (field, reason). A passthrough forwards them; a translating encoder
    # must refuse the request rather than drop them silently.
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    # What was dropped on purpose (e.g. built-in tools no upstream here can run), for the proxy's log.
    dropped: list[str] = field(default_factory=list)
    # Transport details of the client's protocol that the encoders need (e.g. Gemini's SSE or array framing).
    client_options: dict = field(default_factory=dict)
    # The client's prompt-cache breakpoints at the end of `system[i]` (on parts and tools, each carries its own).
    system_cache: dict[int, CacheMark] = field(default_factory=dict)
    # What the client named its conversation for the upstream's prompt cache (OpenAI's prompt_cache_key).
    prompt_cache_key: str | None = None


# --- response --------------------------------------------------------------

# Why a model stopped, in neutral terms. Codecs map their own vocabulary to and from these.
FinishReason = Literal[
    "stop",  # natural end of turn
    "stop_sequence",  # a requested stop sequence matched
    "length",  # output token limit
    "tool_calls",  # the model wants tools run
    "content_filter",  # refused or filtered
    "pause",  # a long server-side turn paused; the client may continue it
]


@dataclass(slots=True)
class Usage:
    """Token counts. `input_tokens` excludes cache reads and writes, as Anthropic counts."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int | None = None
    # the part of `cache_write_tokens` written with the longer lifetime (Anthropic's 1 h, OpenAI's 12 h)
    cache_write_long_tokens: int = 0


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    parts: list[TextPart | ThinkingPart | ToolCallPart]
    finish_reason: FinishReason | None
    usage: Usage
    stop_sequence: str | None = None


# --- stream events ---------------------------------------------------------


@dataclass(slots=True)
class ResponseStarted:
    id: str
    model: str
    usage: Usage


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ThinkingDelta:
    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class ToolCallStarted:
    index: int  # ordinal among this response's tool calls, from 0
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON-encoded arguments


@dataclass(slots=True)
class ResponseFinished:
    finish_reason: FinishReason | None
    usage: Usage
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamFailed:
    error: BridgeError


StreamEvent = (
    ResponseStarted
    | TextDelta
    | ThinkingDelta
    | ToolCallStarted
    | ToolCallDelta
    | ResponseFinished
    | StreamFailed
)


def response_to_events(response: ChatResponse) -> list[StreamEvent]:
    """The stream a complete response would have produced (for upstreams that
    answer a streaming request with one JSON body)."""
    events: list[StreamEvent] = [ResponseStarted(response.id, response.model, Usage())]
    tool_index = 0
    for part in response.parts:
        if isinstance(part, TextPart):
            events.append(TextDelta(part.text))
        elif isinstance(part, ThinkingPart):
            events.append(ThinkingDelta(part.text, part.signature, part.redacted))
        else:
            events.append(ToolCallStarted(tool_index, part.id, part.name))
            events.append(ToolCallDelta(tool_index, orjson.dumps(part.arguments).decode()))
            tool_index += 1
    events.append(ResponseFinished(response.finish_reason, response.usage, response.stop_sequence))
    return events


def events_to_response(events: Iterable[StreamEvent]) -> ChatResponse:
    """The complete response a stream adds up to (for upstreams that stream even a whole
    answer). A `StreamFailed` raises its error. Tool arguments that are not a JSON object
    are kept as text under "_raw_arguments", so nothing is silently lost."""
    response = ChatResponse(id="", model="", parts=[], finish_reason=None, usage=Usage())
    parts = response.parts
    arguments: dict[int, list[str]] = {}  # tool call index -> JSON fragments
    calls: dict[int, ToolCallPart] = {}
    for event in events:
        cls = type(event)
        if cls is TextDelta:
            if parts and type(parts[-1]) is TextPart:
                parts[-1].text += event.text
            else:
                parts.append(TextPart(event.text))
        elif cls is ThinkingDelta:
            last = parts[-1] if parts else None
            if type(last) is ThinkingPart and last.signature is None and last.redacted is None and event.redacted is None:
                last.text += event.text
                last.signature = event.signature
            else:
                parts.append(ThinkingPart(event.text, event.signature, event.redacted))
        elif cls is ToolCallStarted:
            calls[event.index] = part = ToolCallPart(event.id, event.name, {})
            arguments[event.index] = []
            parts.append(part)
        elif cls is ToolCallDelta:
            arguments.setdefault(event.index, []).append(event.arguments)
        elif cls is ResponseStarted:
            response.id, response.model, response.usage = event.id, event.model, event.usage
        elif cls is ResponseFinished:
            response.finish_reason, response.usage, response.stop_sequence = event.finish_reason, event.usage, event.stop_sequence
        elif cls is StreamFailed:
            raise event.error
    for index, part in calls.items():
        part.arguments = _arguments("".join(arguments.get(index, ())))
    return response


def _arguments(raw: str) -> dict:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}
