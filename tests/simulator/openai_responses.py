"""OpenAI Responses API (`POST /v1/responses`): request checks and reply rendering.

Wire format per the Responses API reference and streaming-events docs, checked against real
captures: errors use the same `{"error":{"message","type","param","code"}}` envelope as Chat
Completions; a reply is a `response` object whose `output` is a list of items (`message`,
`reasoning`, `function_call`). A stream is `event: TYPE\\ndata: JSON\\n\\n` frames, each JSON
carrying its `type` and a `sequence_number` counting from 0:

    response.created, response.in_progress,
    per output item: response.output_item.added,
      message:       response.content_part.added, response.output_text.delta... (or
                     response.refusal.delta...), response.output_text.done (refusal.done),
                     response.content_part.done
      reasoning:     (only when `reasoning.summary` asks for one) response.reasoning_summary_part.added,
                     response.reasoning_summary_text.delta..., response.reasoning_summary_text.done,
                     response.reasoning_summary_part.done
      function_call: response.function_call_arguments.delta..., response.function_call_arguments.done
    response.output_item.done,
    and last response.completed (or response.incomplete when cut by max_output_tokens).

Scenarios: the text of the latest user message picks one (see `scenarios.py`); a request whose
input ends with `function_call_output` items continues with `after_tools`.

Prompt caching, after OpenAI's prompt-caching guide for GPT-5.6 and later (see `prompt_cache.py`):
a request carrying `prompt_cache_options: {"mode": "implicit"|"explicit", "ttl": "30m"|"12h"}` or a
`prompt_cache_breakpoint: {"mode": "explicit", "ttl"?}` on an input_text / input_image / input_file
part (of a message or a function_call_output; marks on assistant output parts are ignored) is
cached per API key, model and `prompt_cache_key`. The prompt is tools, instructions, then every
content part (or whole item) of `input`, each ceil(len(canonical JSON) / 4) tokens. Mode implicit
(the default) writes one implicit breakpoint at the end of the newest user / system / developer
message or function_call_output plus the latest three explicit ones; mode explicit writes the
latest four explicit ones, and none at all means no caching. A hit is an exact match of a prefix
the scope wrote at one of its latest 80 breakpoints, no lookback, no rounding; prefixes under
`context.prompt_cache.min_tokens` (1024) are not stored. Such requests report `usage.input_tokens`
as the whole prompt, `input_tokens_details.cached_tokens` (read), `cache_write_tokens` (everything
after the hit up to the last breakpoint written) and `cache_write_tokens_details` ({ttl_30m_tokens,
ttl_12h_tokens}); other requests keep the scenario's usage and shape.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from . import openai_chat, scenarios
from .common import Context, Failure, Rejected, dumps, invalid
from .prompt_cache import Block, canonical, prefixes
from .http import Request, Response, StreamEvent, StreamingResponse
from .scenarios import Conversation, Reply, Stop, TextPart, ThinkingPart, ToolCallPart, Usage

# Top-level request parameters (openai-python's ResponseCreateParams); others get 400 unknown_parameter.
PARAMETERS = {
    "access_programs", "background", "context_management", "conversation", "image", "include", "input",
    "instructions", "max_output_tokens", "max_tool_calls", "metadata", "model", "moderation",
    "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
    "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
    "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
    "user",
}  # fmt: skip
ROLES = ("assistant", "system", "developer", "user")
INPUT_CONTENT = ("input_text", "input_image", "input_file", "input_audio")
ASSISTANT_CONTENT = ("output_text", "refusal")
# Input item types accepted without a closer look (server-side tool calls and their outputs, ...).
OTHER_ITEMS = {
    "item_reference", "web_search_call", "file_search_call", "computer_call", "computer_call_output",
    "code_interpreter_call", "image_generation_call", "local_shell_call", "local_shell_call_output",
    "shell_call", "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_list_tools",
    "mcp_approval_request", "mcp_approval_response", "mcp_call", "custom_tool_call", "custom_tool_call_output",
    "tool_search_call", "tool_search_output", "compaction", "compaction_trigger", "additional_tools",
    "program", "program_output",
}  # fmt: skip
ITEM_TYPES = {"message", "function_call", "function_call_output", "reasoning", *OTHER_ITEMS}
# Hosted/other tool types: accepted and ignored (the simulator never calls them).
OTHER_TOOLS = {
    "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26",
    "web_search_preview", "web_search_preview_2025_03_11", "mcp", "code_interpreter", "image_generation",
    "local_shell", "shell", "custom", "namespace", "tool_search", "apply_patch", "programmatic_tool_calling",
}  # fmt: skip
TOOL_CHOICE_MODES = ("none", "auto", "required")
TOOL_CHOICE_TYPES = {"function", "allowed_tools", "custom", "mcp", *OTHER_TOOLS}
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SUMMARIES = ("auto", "concise", "detailed")
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
TEXT_FORMATS = ("text", "json_object", "json_schema")
VERBOSITIES = ("low", "medium", "high")
MIDSTREAM_ERROR = {
    "type": "server_error",
    "code": "server_error",
    "message": "simulated mid-stream failure",
    "param": None,
}


def handle(request: Request, context: Context) -> Response | StreamingResponse:
    request_id = f"req_sim_{context.next_number():06d}"
    try:
        openai_chat._authenticate(request, context)  # same bearer check and key as Chat Completions
        body = request.json
        if not isinstance(body, dict):
            raise invalid("We could not parse the JSON body of your request.")
        validate(body)
        caching = cache_plan(body)
        plan = scenarios.plan(conversation(body, request.body))
    except Rejected as rejected:
        return error_response(rejected.failure, request_id)

    if isinstance(plan.outcome, Failure):
        return error_response(plan.outcome, request_id)
    reply = plan.outcome
    if caching is not None and (body.get("stream") or not reply.midstream_error):
        cached = settle_cache(body, *caching, openai_chat._given_key(request), context)
        reply = replace(reply, usage=cached.applied_to(reply.usage))
    rendering = Rendering(reply, body, context)
    if body.get("stream"):
        headers = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": request_id}
        return StreamingResponse(200, headers, rendering.stream_events(), plan.delay_s, plan.split, reply.disconnect)
    if reply.midstream_error:
        return error_response(Failure(500, "api_error", "simulated api_error"), request_id)
    headers = {"content-type": "application/json", "x-request-id": request_id}
    return Response(200, headers, dumps(rendering.response_object()))


def error_response(failure: Failure, request_id: str) -> Response:
    """The same envelope, statuses and headers as Chat Completions."""
    return openai_chat.error_response(failure, request_id)


def usage_object(usage: Usage) -> dict:
    """Responses usage: input_tokens counts cached input too (cached_tokens is a part of it, and so is
    cache_write_tokens, reported when the prompt-cache model computed the numbers)."""
    total_input = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    details = {"cached_tokens": usage.cache_read_input_tokens}
    if usage.cache_modelled:
        long = usage.cache_creation_long_ttl_tokens
        details["cache_write_tokens"] = usage.cache_creation_input_tokens
        details["cache_write_tokens_details"] = {
            "ttl_30m_tokens": usage.cache_creation_input_tokens - long,
            "ttl_12h_tokens": long,
        }
    return {
        "input_tokens": total_input,
        "input_tokens_details": details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": total_input + usage.output_tokens,
    }


def encrypted_content(item_id: str) -> str:
    """The opaque `encrypted_content` issued for a reasoning item (and checked when it comes back).

    Shaped like the real Fernet-style tokens ("gAAAAAB..."); bound to the item id, so a bridge
    that mangles it or pairs it with another item gets the real API's 400.
    """
    digest = hashlib.sha256(b"llm-simulator reasoning\0" + item_id.encode()).digest()
    return "gAAAAAB" + base64.urlsafe_b64encode(b"sim" + digest + digest[:13]).decode()


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    kind: str  # "message" | "reasoning" | "function_call"
    id: str
    part: TextPart | ThinkingPart | ToolCallPart
    phase: str | None = None  # messages: "commentary" before more output, else "final_answer"
    status: str = "completed"


def _obfuscation(delta: str) -> str:
    """Stand-in for the random padding the API adds to delta events (stream_options.include_obfuscation)."""
    pad = "SimObfuscationPad"
    return pad[: max(1, 16 - len(delta))]


class Rendering:
    """One reply rendered as a Responses `response` object, whole or as stream events."""

    def __init__(self, reply: Reply, body: dict, context: Context) -> None:
        self.reply, self.body = reply, body
        self.response_id = f"resp_sim_{context.next_number():06d}"
        self.created_at = int(time.time())
        reasoning = body.get("reasoning") or {}
        self.summarize = reasoning.get("summary") is not None or reasoning.get("generate_summary") is not None
        self.include_encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
        self.obfuscate = (body.get("stream_options") or {}).get("include_obfuscation") is not False
        self.refusal = reply.stop == Stop.REFUSAL
        self.items: list[_Item] = []
        for position, part in enumerate(reply.parts):
            last = position == len(reply.parts) - 1
            match part:
                case TextPart():
                    status = "incomplete" if last and reply.stop == Stop.MAX_TOKENS else "completed"
                    phase = "final_answer" if last else "commentary"
                    self.items.append(_Item("message", f"msg_sim_{context.next_number():06d}", part, phase, status))
                case ThinkingPart():
                    self.items.append(_Item("reasoning", f"rs_sim_{context.next_number():06d}", part))
                case ToolCallPart():
                    self.items.append(_Item("function_call", f"fc_sim_{part.ordinal:02d}", part))
                case _:
                    raise TypeError(f"the Responses front-end cannot render {part!r}")

    # --- whole objects ---

    @property
    def status(self) -> str:
        return "incomplete" if self.reply.stop == Stop.MAX_TOKENS else "completed"

    def response_object(self) -> dict:
        output = [self.item(item, _full_text(item.part), done=True) for item in self.items]
        return self._response(self.status, output, final=True)

    def item(self, item: _Item, text: str, *, done: bool, status: str | None = None) -> dict:
        """An output item: as announced (`done=False`) or finished, with its text so far."""
        match item.kind:
            case "message":
                return {
                    "id": item.id,
                    "type": "message",
                    "status": (status or item.status) if done else "in_progress",
                    "content": [self._content(text)] if done else [],
                    "phase": item.phase,
                    "role": "assistant",
                }
            case "reasoning":
                shaped = {"id": item.id, "type": "reasoning"}
                if self.include_encrypted:
                    shaped["encrypted_content"] = encrypted_content(item.id)
                shaped["summary"] = [{"type": "summary_text", "text": text}] if done and self.summarize else []
                return shaped
            case "function_call":
                part = item.part
                assert isinstance(part, ToolCallPart)
                return {
                    "id": item.id,
                    "type": "function_call",
                    "status": (status or item.status) if done else "in_progress",
                    "arguments": text if done else "",
                    "call_id": f"call_sim_{part.ordinal:02d}",
                    "name": part.name,
                }
        raise AssertionError(item.kind)

    def _content(self, text: str) -> dict:
        if self.refusal:
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def _response(self, status: str, output: list[dict], *, final: bool, error: dict | None = None) -> dict:
        body = self.body
        reasoning = body.get("reasoning") or {}
        text = body.get("text") or {}
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": bool(body.get("background")),
            "completed_at": int(time.time()) if final and status == "completed" else None,
            "error": error,
            "frequency_penalty": 0.0,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": body["model"],
            "output": output,
            "parallel_tool_calls": _given(body, "parallel_tool_calls", True),
            "presence_penalty": 0.0,
            "previous_response_id": None,
            "prompt_cache_key": body.get("prompt_cache_key"),
            **({"prompt_cache_options": body["prompt_cache_options"]} if body.get("prompt_cache_options") else {}),
            "prompt_cache_retention": body.get("prompt_cache_retention"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default" if final else _given(body, "service_tier", "auto"),
            "store": _given(body, "store", True),
            "temperature": _given(body, "temperature", 1.0),
            "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity") or "medium"},
            "tool_choice": _given(body, "tool_choice", "auto"),
            "tools": [_echo_tool(tool) for tool in body.get("tools") or []],
            "top_logprobs": _given(body, "top_logprobs", 0),
            "top_p": _given(body, "top_p", 1.0),
            "truncation": _given(body, "truncation", "disabled"),
            "usage": usage_object(self.reply.usage) if final and status != "failed" else None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    # --- the stream ---

    def stream_events(self) -> Iterator[StreamEvent]:
        """A lazy stream: done events and the final response are built after the deltas were sent,
        so `timed` stamps (rendered at send time) show up in them as sent."""
        numbers = itertools.count()

        def sse(kind: str, **fields) -> bytes:
            return _frame(kind, fields, next(numbers))

        yield sse("response.created", response=self._response("in_progress", [], final=False))
        yield sse("response.in_progress", response=self._response("in_progress", [], final=False))
        finished: list[dict] = []
        for index, item in enumerate(self.items):
            sent: list[str] = []
            yield from self._opening(index, item, sent, numbers)
            if self.reply.midstream_error:
                # The first item's deltas went out; now the documented `error` event, then
                # `response.failed`. The error fields are flat as the API reference documents
                # them, and nested under `error` as the live API sends them (which is what makes
                # the official SDKs raise), so clients written against either see the failure.
                flat = {key: MIDSTREAM_ERROR[key] for key in ("code", "message", "param")}
                yield sse("error", **flat, error=MIDSTREAM_ERROR)
                partial = [*finished, self.item(item, "".join(sent), done=True, status="incomplete")]
                error = {"code": MIDSTREAM_ERROR["code"], "message": MIDSTREAM_ERROR["message"]}
                yield sse("response.failed", response=self._response("failed", partial, final=True, error=error))
                return
            yield from self._closing(index, item, "".join(sent), numbers)
            finished.append(self.item(item, "".join(sent), done=True))
        final = self._response(self.status, finished, final=True)
        yield sse("response.incomplete" if self.status == "incomplete" else "response.completed", response=final)

    def _opening(
        self, index: int, item: _Item, sent: list[str], numbers: Iterator[int]
    ) -> Iterator[StreamEvent]:
        """output_item.added, the part opening and the deltas; `sent` collects the delta texts."""

        def sse(kind: str, **fields) -> bytes:
            return _frame(kind, fields, next(numbers))

        yield sse("response.output_item.added", item=self.item(item, "", done=False), output_index=index)
        match item.kind:
            case "message":
                ids = {"content_index": 0, "item_id": item.id, "output_index": index}
                yield sse("response.content_part.added", **ids, part=self._content(""))
                kind = "response.refusal.delta" if self.refusal else "response.output_text.delta"
                for delta in item.part.deltas:
                    yield self._delta(kind, delta, ids, sent, next(numbers))
            case "reasoning":
                if self.summarize:
                    ids = {"item_id": item.id, "output_index": index, "summary_index": 0}
                    yield sse("response.reasoning_summary_part.added", **ids, part={"type": "summary_text", "text": ""})
                    for delta in item.part.deltas:
                        yield self._delta("response.reasoning_summary_text.delta", delta, ids, sent, next(numbers))
                else:
                    sent.extend(item.part.deltas)  # counted as reasoning tokens, never shown
            case "function_call":
                ids = {"item_id": item.id, "output_index": index}
                for fragment in item.part.fragments or ("{}",):  # a call without arguments still sends "{}"
                    yield self._delta("response.function_call_arguments.delta", fragment, ids, sent, next(numbers))

    def _delta(self, kind: str, delta: scenarios.Delta, ids: dict, sent: list[str], number: int) -> StreamEvent:
        def render(text: str) -> bytes:
            sent.append(text)
            fields = {"delta": text, **ids}
            if kind == "response.output_text.delta":
                fields["logprobs"] = []
            if self.obfuscate and kind != "response.refusal.delta":
                fields["obfuscation"] = _obfuscation(text)
            return _frame(kind, fields, number)

        if callable(delta):  # rendered when sent, so `timed` stamps are send times
            return lambda: render(delta())
        return render(delta)

    def _closing(self, index: int, item: _Item, text: str, numbers: Iterator[int]) -> Iterator[bytes]:
        def sse(kind: str, **fields) -> bytes:
            return _frame(kind, fields, next(numbers))

        match item.kind:
            case "message":
                ids = {"content_index": 0, "item_id": item.id, "output_index": index}
                if self.refusal:
                    yield sse("response.refusal.done", **ids, refusal=text)
                else:
                    yield sse("response.output_text.done", **ids, logprobs=[], text=text)
                yield sse("response.content_part.done", **ids, part=self._content(text))
            case "reasoning":
                if self.summarize:
                    ids = {"item_id": item.id, "output_index": index, "summary_index": 0}
                    yield sse("response.reasoning_summary_text.done", **ids, text=text)
                    part = {"type": "summary_text", "text": text}
                    yield sse("response.reasoning_summary_part.done", **ids, part=part)
            case "function_call":
                # `name` is in some editions of the API spec (not in the captures): sent for those clients.
                yield sse(
                    "response.function_call_arguments.done",
                    arguments=text,
                    item_id=item.id,
                    name=item.part.name,
                    output_index=index,
                )
        yield sse("response.output_item.done", item=self.item(item, text, done=True), output_index=index)


def _frame(kind: str, fields: dict, number: int) -> bytes:
    payload = {"type": kind, **fields, "sequence_number": number}
    return b"event: " + kind.encode() + b"\ndata: " + dumps(payload) + b"\n\n"


def _full_text(part: TextPart | ThinkingPart | ToolCallPart) -> str:
    if isinstance(part, ToolCallPart):
        return "".join(part.fragments) or "{}"
    return part.text()


def _given(body: dict, key: str, default):
    value = body.get(key)
    return default if value is None else value


def _echo_tool(tool: dict) -> dict:
    """Tools as the response object lists them: function tools with their effective `strict`."""
    if tool.get("type") != "function":
        return tool
    strict = tool.get("strict")
    if strict is None:
        # Documented: with `strict` omitted the API uses strict mode when the schema allows it,
        # and reports strict: false when it fell back to best-effort calling.
        strict = isinstance(tool.get("parameters"), dict) and _strict_problem(tool["parameters"]) is None
    return {
        "type": "function",
        "description": tool.get("description"),
        "name": tool["name"],
        "parameters": tool.get("parameters"),
        "strict": strict,
    }


# --- request checks ----------------------------------------------------------------------------


def _type_name(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _missing(param: str) -> Rejected:
    return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _wrong_type(param: str, expected: str, value) -> Rejected:
    return invalid(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.", param, "invalid_type"
    )


def _bad_value(param: str, value, allowed) -> Rejected:
    names = [f"'{name}'" for name in allowed]
    listed = ", ".join(names[:-1]) + f", and {names[-1]}" if len(names) > 2 else " and ".join(names)
    return invalid(f"Invalid value: '{value}'. Supported values are: {listed}.", param, "invalid_value")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional(body: dict, key: str, check: Callable[[object], bool], expected: str) -> None:
    value = body.get(key)
    if value is not None and not check(value):
        raise _wrong_type(key, expected, value)


def validate(body: dict) -> None:
    """Raise a 400 `Rejected` for requests the real API refuses, naming the parameter."""
    for key in body:
        if key not in PARAMETERS:
            raise invalid(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    if body.get("model") is None:
        raise _missing("model")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _wrong_type("model", "a string", body["model"])
    _optional(body, "stream", lambda v: isinstance(v, bool), "a boolean")
    _optional(body, "store", lambda v: isinstance(v, bool), "a boolean")
    _optional(body, "background", lambda v: isinstance(v, bool), "a boolean")
    _optional(body, "parallel_tool_calls", lambda v: isinstance(v, bool), "a boolean")
    _optional(body, "instructions", lambda v: isinstance(v, str), "a string")
    _optional(body, "metadata", lambda v: isinstance(v, dict), "an object")
    if body.get("stream_options") is not None:
        if not body.get("stream"):
            raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
        _optional(body, "stream_options", lambda v: isinstance(v, dict), "an object")
    max_output_tokens = body.get("max_output_tokens")
    if max_output_tokens is not None:
        if not _is_int(max_output_tokens):
            raise _wrong_type("max_output_tokens", "an integer", max_output_tokens)
        if max_output_tokens < 16:
            raise invalid(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
                f"but got {max_output_tokens} instead.",
                "max_output_tokens",
                "integer_below_min_value",
            )
    for key, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(key)
        if value is None:
            continue
        if not _is_number(value):
            raise _wrong_type(key, "a number", value)
        if value < 0:
            raise invalid(
                f"Invalid '{key}': decimal below minimum value. Expected a value >= 0, but got {value} instead.",
                key,
                "decimal_below_min_value",
            )
        if value > high:
            raise invalid(
                f"Invalid '{key}': decimal above maximum value. Expected a value <= {high}, but got {value} instead.",
                key,
                "decimal_above_max_value",
            )
    _validate_reasoning(body.get("reasoning"))
    _validate_include(body.get("include"))
    _validate_text(body.get("text"))
    names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), names)
    if body.get("previous_response_id") is not None:
        # The simulator stores nothing, so no earlier response can be found.
        response_id = body["previous_response_id"]
        raise invalid(
            f"Previous response with id '{response_id}' not found.",
            "previous_response_id",
            "previous_response_not_found",
        )
    if body.get("conversation") is not None:
        raise invalid("simulator: stored conversations are not simulated; send the items as 'input'.", "conversation")
    if body.get("prompt") is not None:
        raise invalid("simulator: stored prompts are not simulated; send 'input' and 'instructions'.", "prompt")
    _validate_input(body.get("input"))


def _validate_reasoning(reasoning) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise _wrong_type("reasoning", "an object", reasoning)
    if reasoning.get("effort") is not None and reasoning["effort"] not in EFFORTS:
        raise _bad_value("reasoning.effort", reasoning["effort"], EFFORTS)
    for key in ("summary", "generate_summary"):
        if reasoning.get(key) is not None and reasoning[key] not in SUMMARIES:
            raise _bad_value(f"reasoning.{key}", reasoning[key], SUMMARIES)


def _validate_include(include) -> None:
    if include is None:
        return
    if not isinstance(include, list):
        raise _wrong_type("include", "an array", include)
    for number, value in enumerate(include):
        if value not in INCLUDABLE:
            raise _bad_value(f"include[{number}]", value, INCLUDABLE)


def _validate_text(text) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise _wrong_type("text", "an object", text)
    if text.get("verbosity") is not None and text["verbosity"] not in VERBOSITIES:
        raise _bad_value("text.verbosity", text["verbosity"], VERBOSITIES)
    fmt = text.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _wrong_type("text.format", "an object", fmt)
    if fmt.get("type") not in TEXT_FORMATS:
        raise _bad_value("text.format.type", fmt.get("type"), TEXT_FORMATS)
    if fmt["type"] == "json_schema":
        # Chat Completions nests these under `json_schema`; the Responses API wants them flat.
        if not isinstance(fmt.get("name"), str):
            raise _missing("text.format.name")
        if not openai_chat.FUNCTION_NAME.match(fmt["name"]):
            raise invalid(
                "Invalid 'text.format.name': string does not match pattern. Expected a string that matches the "
                "pattern '^[a-zA-Z0-9_-]+$'.",
                "text.format.name",
                "invalid_value",
            )
        if not isinstance(fmt.get("schema"), dict):
            raise _missing("text.format.schema")


def _validate_tools(tools) -> set[str]:
    """Check `tools`; the names of its function tools."""
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        raise _wrong_type("tools", "an array", tools)
    for number, tool in enumerate(tools):
        where = f"tools[{number}]"
        if not isinstance(tool, dict):
            raise _wrong_type(where, "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise _missing(f"{where}.type")
        if kind != "function":
            if kind not in OTHER_TOOLS:
                raise _bad_value(f"{where}.type", kind, ["function", *sorted(OTHER_TOOLS)])
            continue  # hosted tools: accepted, never called by the simulator
        name = tool.get("name")
        if name is None:  # also what a Chat Completions shape ({"type","function":{...}}) gets
            raise _missing(f"{where}.name")
        if not isinstance(name, str) or not openai_chat.FUNCTION_NAME.match(name):
            raise invalid(
                f"Invalid '{where}.name': string does not match pattern. Expected a string that matches the "
                "pattern '^[a-zA-Z0-9_-]+$'.",
                f"{where}.name",
                "invalid_value",
            )
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _wrong_type(f"{where}.parameters", "an object", parameters)
        if tool.get("strict") is not None and not isinstance(tool["strict"], bool):
            raise _wrong_type(f"{where}.strict", "a boolean", tool["strict"])
        if tool.get("description") is not None and not isinstance(tool["description"], str):
            raise _wrong_type(f"{where}.description", "a string", tool["description"])
        if tool.get("strict") is True:
            problem = _strict_problem(parameters or {"type": "object", "properties": {}})
            if problem:
                raise invalid(
                    f"Invalid schema for function '{name}': {problem}",
                    f"{where}.parameters",
                    "invalid_function_parameters",
                )
        names.add(name)
    return names


def _strict_problem(schema, context: tuple = ()) -> str | None:
    """What strict mode refuses in a JSON schema (objects must close and require every property)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        required = schema.get("required")
        missing = [key for key in properties if not isinstance(required, list) or key not in required]
        if missing:
            return (
                f"In context={context}, 'required' is required to be supplied and to be an array including every "
                f"key in properties. Missing '{missing[0]}'."
            )
        for key, sub in properties.items():
            if problem := _strict_problem(sub, (*context, "properties", key)):
                return problem
    if "items" in schema and (problem := _strict_problem(schema["items"], (*context, "items"))):
        return problem
    for keyword in ("anyOf", "$defs", "definitions"):
        children = schema.get(keyword)
        pairs = enumerate(children) if isinstance(children, list) else (children or {}).items()
        for key, sub in pairs:
            if problem := _strict_problem(sub, (*context, keyword, key)):
                return problem
    return None


def _validate_tool_choice(tool_choice, names: set[str]) -> None:
    if tool_choice is None:
        return
    if isinstance(tool_choice, str):
        if tool_choice not in TOOL_CHOICE_MODES:
            raise _bad_value("tool_choice", tool_choice, TOOL_CHOICE_MODES)
        return
    if not isinstance(tool_choice, dict):
        raise _wrong_type("tool_choice", "one of a string or object", tool_choice)
    kind = tool_choice.get("type")
    if kind not in TOOL_CHOICE_TYPES:
        raise _bad_value("tool_choice.type", kind, ["function", "allowed_tools", "custom", "mcp", "web_search_preview"])
    if kind == "function":
        name = tool_choice.get("name")
        if not isinstance(name, str):  # also what the Chat Completions shape {"function":{"name"}} gets
            raise _missing("tool_choice.name")
        if name not in names:
            raise invalid(f"Tool choice 'function' with name '{name}' not found in 'tools' parameter.", "tool_choice")


def _validate_input(items) -> None:
    if items is None:
        raise _missing("input")
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        raise _wrong_type("input", "one of a string or array of input items", items)
    calls: dict[str, int] = {}  # call_id -> number of its function_call item
    answered: set[str] = set()
    for number, item in enumerate(items):
        where = f"input[{number}]"
        if not isinstance(item, dict):
            raise _wrong_type(where, "an object", item)
        kind = item.get("type", "message" if "role" in item else None)
        if kind is None:
            raise _missing(f"{where}.role")
        if kind not in ITEM_TYPES:
            documented = ["message", "function_call", "function_call_output", "reasoning", "item_reference"]
            raise _bad_value(f"{where}.type", kind, documented)
        match kind:
            case "message":
                _validate_message(item, where)
            case "function_call":
                for key in ("call_id", "name", "arguments"):
                    if item.get(key) is None:
                        raise _missing(f"{where}.{key}")
                    if not isinstance(item[key], str):
                        raise _wrong_type(f"{where}.{key}", "a string", item[key])
                calls[item["call_id"]] = number
            case "function_call_output":
                call_id = item.get("call_id")
                if call_id is None:
                    raise _missing(f"{where}.call_id")
                if not isinstance(call_id, str):
                    raise _wrong_type(f"{where}.call_id", "a string", call_id)
                if "output" not in item or item["output"] is None:
                    raise _missing(f"{where}.output")
                if not isinstance(item["output"], (str, list)):
                    raise _wrong_type(f"{where}.output", "one of a string or array of objects", item["output"])
                if call_id not in calls:
                    raise invalid(f"No tool call found for function call output with call_id {call_id}.", "input")
                answered.add(call_id)
            case "reasoning":
                _validate_reasoning_item(item, where)
            case "item_reference":
                if not isinstance(item.get("id"), str):
                    raise _missing(f"{where}.id")
    for call_id in calls:
        if call_id not in answered:
            raise invalid(f"No tool output found for function call {call_id}.", "input")


def _validate_message(item: dict, where: str) -> None:
    role = item.get("role")
    if role is None:
        raise _missing(f"{where}.role")
    if role not in ROLES:
        raise _bad_value(f"{where}.role", role, ROLES)
    if "content" not in item or item["content"] is None:
        raise _missing(f"{where}.content")
    content = item["content"]
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _wrong_type(f"{where}.content", "one of a string or array of input content", content)
    allowed = ASSISTANT_CONTENT if role == "assistant" else INPUT_CONTENT
    for position, part in enumerate(content):
        at = f"{where}.content[{position}]"
        if not isinstance(part, dict):
            raise _wrong_type(at, "an object", part)
        kind = part.get("type")
        if kind not in allowed:
            raise _bad_value(f"{at}.type", kind, allowed)
        match kind:
            case "input_text" | "output_text":
                if not isinstance(part.get("text"), str):
                    raise _missing(f"{at}.text")
            case "refusal":
                if not isinstance(part.get("refusal"), str):
                    raise _missing(f"{at}.refusal")
            case "input_image":
                if part.get("image_url") is None and part.get("file_id") is None:
                    raise invalid(f"Invalid '{at}': one of 'image_url' or 'file_id' must be provided.", at)
            case "input_file":
                if all(part.get(key) is None for key in ("file_data", "file_id", "file_url")):
                    raise invalid(f"Invalid '{at}': one of 'file_data', 'file_id' or 'file_url' must be provided.", at)


def _validate_reasoning_item(item: dict, where: str) -> None:
    if not isinstance(item.get("id"), str):
        raise _missing(f"{where}.id")
    summary = item.get("summary")
    if summary is None:
        raise _missing(f"{where}.summary")
    if not isinstance(summary, list):
        raise _wrong_type(f"{where}.summary", "an array", summary)
    for position, part in enumerate(summary):
        at = f"{where}.summary[{position}]"
        if not isinstance(part, dict) or part.get("type") != "summary_text":
            raise _bad_value(f"{at}.type", part.get("type") if isinstance(part, dict) else part, ["summary_text"])
        if not isinstance(part.get("text"), str):
            raise _missing(f"{at}.text")
    content = item.get("encrypted_content")
    if content is None:
        return
    if not isinstance(content, str):
        raise _wrong_type(f"{where}.encrypted_content", "a string", content)
    if content != encrypted_content(item["id"]):
        shown = f"{content[:4]}...{content[-4:]}" if len(content) > 8 else content
        raise invalid(
            f"The encrypted content {shown} could not be verified. Reason: Encrypted content could not be "
            "decrypted or parsed.",
            None,
            "invalid_encrypted_content",
        )


# --- what the scenarios see ---------------------------------------------------------------------


def _items(body: dict) -> list[dict]:
    given = body["input"]
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    return [{"type": "message", **item} if "type" not in item else item for item in given]


def _text_of(content, kinds: tuple[str, ...] = ("input_text",)) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") in kinds]
        return "\n".join(texts) if texts else None
    return None


def conversation(body: dict, raw_body: bytes) -> Conversation:
    items = _items(body)
    latest_user_text = next(
        (
            text
            for item in reversed(items)
            if item["type"] == "message" and item.get("role") == "user" and (text := _text_of(item.get("content")))
        ),
        None,
    )
    tool_results = None
    if items and items[-1]["type"] == "function_call_output":
        trailing = []
        for item in reversed(items):
            if item["type"] != "function_call_output":
                break
            trailing.append(_text_of(item.get("output"), ("input_text", "output_text")) or "")
        tool_results = trailing[::-1]
    return Conversation(
        protocol="openai_responses",
        body=body,
        raw_body=raw_body,
        latest_user_text=latest_user_text,
        trailing_tool_results=tool_results,
        stop_sequences=[],  # the Responses API has no stop sequences
    )


# --- prompt caching ---------------------------------------------------------------------------------

CACHE_MODES = ("implicit", "explicit")
CACHE_TTLS = ("30m", "12h")
BREAKPOINT_PARTS = ("input_text", "input_image", "input_file")  # the parts openai-python lets carry one
IMPLICIT_ROLES = ("user", "system", "developer")


def cache_plan(body: dict) -> tuple[list[Block], dict[int, str]] | None:
    """The prompt as blocks and the breakpoints the request writes (index -> TTL), or None when the
    request carries neither `prompt_cache_options` nor a `prompt_cache_breakpoint`."""
    options = body.get("prompt_cache_options")
    if options is None and not any(_marked_parts(item) for item in _items(body)):
        return None
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise _wrong_type("prompt_cache_options", "an object", options)
    mode = options.get("mode") or "implicit"
    if mode not in CACHE_MODES:
        raise _bad_value("prompt_cache_options.mode", mode, CACHE_MODES)
    ttl = options.get("ttl") or "30m"
    if ttl not in CACHE_TTLS:
        raise _bad_value("prompt_cache_options.ttl", ttl, CACHE_TTLS)

    blocks = [Block(f"tools[{number}]", canonical(["tools", tool])) for number, tool in enumerate(body.get("tools") or [])]
    if body.get("instructions"):
        blocks.append(Block("instructions", canonical(["instructions", body["instructions"]])))
    explicit: list[int] = []
    implicit_at = None
    for number, item in enumerate(_items(body)):
        where, kind = f"input[{number}]", item.get("type")
        holder = _PARTS_FIELD.get(kind)
        parts = item.get(holder) if holder else None
        if isinstance(parts, list) and parts:
            head = {key: value for key, value in item.items() if key != holder}
            for position, part in enumerate(parts):
                at = f"{where}.{holder}[{position}]"
                mark = part.get("prompt_cache_breakpoint") if isinstance(part, dict) else None
                if mark is None:
                    blocks.append(Block(at, canonical([head, part])))
                    continue
                part_ttl = _breakpoint_ttl(mark, f"{at}.prompt_cache_breakpoint", ttl)
                clean = {key: value for key, value in part.items() if key != "prompt_cache_breakpoint"}
                honoured = part.get("type") in BREAKPOINT_PARTS  # assistant output parts take none
                if honoured:
                    explicit.append(len(blocks))
                blocks.append(Block(at, canonical([head, clean]), part_ttl if honoured else None))
        else:
            blocks.append(Block(where, canonical(item)))
        if (kind == "message" and item.get("role") in IMPLICIT_ROLES) or kind == "function_call_output":
            implicit_at = len(blocks) - 1  # the end of the newest eligible message
    written = explicit[-4:] if mode == "explicit" else explicit[-3:]
    breakpoints = {index: blocks[index].ttl for index in written}
    if mode == "implicit" and implicit_at is not None:
        breakpoints.setdefault(implicit_at, ttl)
    return blocks, breakpoints


_PARTS_FIELD = {"message": "content", "function_call_output": "output"}


def _marked_parts(item: dict) -> bool:
    parts = item.get(_PARTS_FIELD.get(item.get("type"), ""))
    return isinstance(parts, list) and any(isinstance(part, dict) and "prompt_cache_breakpoint" in part for part in parts)


def _breakpoint_ttl(mark, param: str, default: str) -> str:
    if not isinstance(mark, dict):
        raise _wrong_type(param, "an object", mark)
    if mark.get("mode") != "explicit":
        raise _bad_value(f"{param}.mode", mark.get("mode"), ["explicit"])
    ttl = mark.get("ttl") or default
    if ttl not in CACHE_TTLS:
        raise _bad_value(f"{param}.ttl", ttl, CACHE_TTLS)
    return ttl


def settle_cache(body: dict, blocks: list[Block], breakpoints: dict[int, str], key: str, context: Context):
    """Read and write the cache: per API key, model and `prompt_cache_key`, exact matches at earlier breakpoints."""
    model = body["model"]
    # Settings that change the rendered prompt (the diagnostics' text_format / reasoning_effort misses).
    settings = canonical({"text": body.get("text"), "effort": (body.get("reasoning") or {}).get("effort")})
    chain = prefixes(f"openai_responses\0{model}\0{settings.decode()}", blocks)
    scope = ("openai_responses", key, model, body.get("prompt_cache_key"))
    return context.prompt_cache.explicit(scope, chain, breakpoints, window=context.prompt_cache.openai_window)
