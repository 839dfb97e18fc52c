"""OpenAI Chat Completions (`POST /v1/chat/completions`): request checks and reply rendering.

Wire format per the Chat Completions docs: errors are `{"error":{"message","type","param","code"}}`;
a stream is `data: {chat.completion.chunk}\\n\\n` lines ended by `data: [DONE]\\n\\n`. With
`stream_options.include_usage` every chunk carries `"usage": null` and one last chunk with empty
`choices` carries the usage. Thinking is rendered DeepSeek-style as `reasoning_content`.

Prompt caching (see `prompt_cache.py`): a request with a `prompt_cache_key` is cached implicitly,
per API key, model and key, as OpenAI documents it for Chat Completions: the prompt is the tools
then each whole message, ceil(len(canonical JSON) / 4) tokens each; the longest prefix ending at a
message boundary that an earlier request sent is read, reported as
`usage.prompt_tokens_details.cached_tokens` rounded down to a multiple of 128 and only from
`context.prompt_cache.min_tokens` (1024) on; `prompt_tokens` is then the whole prompt (cached part
included). Entries live 10 minutes from their last use (24 hours with `prompt_cache_retention:
"24h"`). Requests without a `prompt_cache_key` keep the scenario's usage.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

from . import scenarios
from .common import Context, Failure, Rejected, dumps, invalid, key_matches
from .prompt_cache import Block, canonical, prefixes
from .http import Request, Response, StreamEvent, StreamingResponse
from .scenarios import Conversation, Reply, Stop, TextPart, ThinkingPart, ToolCallPart, Usage

ROLES = ("system", "developer", "user", "assistant", "tool")
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
FINISH_REASONS = {
    Stop.END_TURN: "stop",
    Stop.STOP_SEQUENCE: "stop",
    Stop.MAX_TOKENS: "length",
    Stop.TOOL_USE: "tool_calls",
    Stop.REFUSAL: "content_filter",
}
# Anthropic error type -> (HTTP status, OpenAI type, OpenAI code), after OpenAI's error-code docs.
ERROR_SHAPES = {
    "invalid_request_error": (400, "invalid_request_error", None),
    "authentication_error": (401, "invalid_request_error", "invalid_api_key"),
    "permission_error": (403, "request_forbidden", "unsupported_country_region_territory"),
    "not_found_error": (404, "invalid_request_error", "model_not_found"),
    "rate_limit_error": (429, "requests", "rate_limit_exceeded"),
    "api_error": (500, "server_error", None),
    "overloaded_error": (503, "server_error", None),  # OpenAI has no 529
}
MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def handle(request: Request, context: Context) -> Response | StreamingResponse:
    request_id = f"req_sim_{context.next_number():06d}"
    try:
        _authenticate(request, context)
        body = request.json
        if not isinstance(body, dict):
            raise invalid("We could not parse the JSON body of your request.")
        validate(body)
        plan = scenarios.plan(conversation(body, request.body))
    except Rejected as rejected:
        return error_response(rejected.failure, request_id)

    if isinstance(plan.outcome, Failure):
        return error_response(plan.outcome, request_id)
    reply = plan.outcome
    if isinstance(body.get("prompt_cache_key"), str) and (body.get("stream") or not reply.midstream_error):
        reply = replace(reply, usage=settle_cache(body, _given_key(request), context).applied_to(
            reply.usage, report_writes=False))
    completion_id = f"chatcmpl-sim{context.next_number():06d}"
    created = int(time.time())
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "x-request-id": request_id,
            "cache-control": "no-cache",
        }
        events = stream_events(reply, completion_id, body["model"], created, include_usage)
        return StreamingResponse(200, headers, events, plan.delay_s, plan.split, reply.disconnect)
    if reply.midstream_error:
        return error_response(Failure(500, "api_error", "simulated api_error"), request_id)
    completion = chat_completion(reply, completion_id, body["model"], created)
    return Response(200, {"content-type": "application/json", "x-request-id": request_id}, dumps(completion))


# --- responses -------------------------------------------------------------------------------


def error_response(failure: Failure, request_id: str) -> Response:
    status, error_type, code = ERROR_SHAPES.get(failure.kind, (failure.status, failure.kind, None))
    if failure.kind == "invalid_request_error":
        status = failure.status
    error = {"message": failure.message, "type": error_type, "param": failure.param, "code": failure.code or code}
    headers = {"content-type": "application/json; charset=utf-8", "x-request-id": request_id}
    if status == 429:
        headers["retry-after"] = "7"
    return Response(status, headers, dumps({"error": error}))


def not_found_response(method: str, path: str, request_id: str) -> Response:
    return error_response(Failure(404, "invalid_request_error", f"Invalid URL ({method} {path})"), request_id)


def usage_object(usage: Usage) -> dict:
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_id(part: ToolCallPart) -> str:
    return f"call_sim_{part.ordinal:02d}"


def chat_completion(reply: Reply, completion_id: str, model: str, created: int) -> dict:
    texts = [part.text() for part in reply.parts if isinstance(part, TextPart)]
    reasoning = [part.text() for part in reply.parts if isinstance(part, ThinkingPart)]
    calls = [part for part in reply.parts if isinstance(part, ToolCallPart)]
    message: dict = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
        "annotations": [],
    }
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [
            {
                "id": _call_id(part),
                "type": "function",
                "function": {"name": part.name, "arguments": "".join(part.fragments) or "{}"},
            }
            for part in calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": FINISH_REASONS[reply.stop],
                     **_matched_stop(reply)}],
        "usage": usage_object(reply.usage),
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
    }


def stream_events(reply: Reply, completion_id: str, model: str, created: int, include_usage: bool) -> list[StreamEvent]:
    def data(payload: dict) -> bytes:
        return b"data: " + dumps(payload) + b"\n\n"

    def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        if finish_reason:
            choice.update(_matched_stop(reply))
        payload = {**header, "choices": [choice]}
        if include_usage:
            payload["usage"] = None  # documented: every chunk but the last carries a null usage
        return data(payload)

    header = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
    }
    events: list[StreamEvent] = [chunk(_opening_delta(reply))]
    for delta in _part_deltas(reply):
        if callable(delta):  # rendered when sent, so `timed` stamps are send times
            events.append(lambda delta=delta: chunk({"content": delta()}))
        else:
            events.append(chunk(delta))
    if reply.midstream_error:
        error = {"message": "simulated mid-stream failure", "type": "server_error", "param": None, "code": None}
        return [*events, data({"error": error})]

    events.append(chunk({}, FINISH_REASONS[reply.stop]))
    if include_usage:
        events.append(data({**header, "choices": [], "usage": usage_object(reply.usage)}))
    events.append(b"data: [DONE]\n\n")
    return events


def _matched_stop(reply: Reply) -> dict:
    """vLLM's extension: the stop string that ended the turn (OpenAI itself does not say)."""
    return {"stop_reason": reply.stop_sequence} if reply.report_matched_stop and reply.stop_sequence else {}


def _opening_delta(reply: Reply) -> dict:
    """The role chunk; its content is "" before text and null before reasoning or tool calls."""
    first = reply.parts[0] if reply.parts else None
    if isinstance(first, ThinkingPart):
        return {"role": "assistant", "content": None, "reasoning_content": ""}
    if isinstance(first, ToolCallPart):
        return {"role": "assistant", "content": None}
    return {"role": "assistant", "content": "", "refusal": None}


def _part_deltas(reply: Reply) -> Iterator[dict | scenarios.Delta]:
    """Deltas after the role chunk; a callable stands for a text delta rendered at send time."""
    call_index = 0
    # DeepSeek marks content deltas of a reasoning reply with "reasoning_content": null.
    after_reasoning = {"reasoning_content": None} if any(isinstance(p, ThinkingPart) for p in reply.parts) else {}
    for part in reply.parts:
        match part:
            case TextPart():
                for text in part.deltas:
                    yield text if callable(text) else {"content": text, **after_reasoning}
            case ThinkingPart():
                for text in part.deltas:
                    yield {"content": None, "reasoning_content": text}
            case ToolCallPart():
                opening = {
                    "index": call_index,
                    "id": _call_id(part),
                    "type": "function",
                    "function": {"name": part.name, "arguments": ""},
                }
                yield {"tool_calls": [opening]}
                for fragment in part.fragments or ("{}",):  # OpenAI always sends parseable arguments
                    yield {"tool_calls": [{"index": call_index, "function": {"arguments": fragment}}]}
                call_index += 1


# --- request checks ----------------------------------------------------------------------------


def _authenticate(request: Request, context: Context) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Rejected(Failure(401, "authentication_error", MISSING_KEY))
    if not key_matches(key.strip(), context.openai_key):
        shown = key.strip()[:3] + "****" + key.strip()[-4:]
        message = f"Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."
        raise Rejected(Failure(401, "authentication_error", message))


def _given_key(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def validate(body: dict) -> None:
    """Raise a 400 `Rejected` for requests the real API refuses, naming the parameter."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("you must provide a model parameter", param="model")
    if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
        raise invalid(
            f"Invalid type for 'stream': expected a boolean, but got {type(body['stream']).__name__} instead.",
            "stream",
            "invalid_type",
        )
    if body.get("stream_options") is not None:
        if not body.get("stream"):
            raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
        if not isinstance(body["stream_options"], dict):
            raise invalid("Invalid type for 'stream_options': expected an object.", "stream_options", "invalid_type")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise invalid(
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1.",
                name,
                "integer_below_min_value",
            )
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise invalid("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type")
    _validate_tools(body.get("tools"))
    _validate_messages(body.get("messages"))


def _validate_tools(tools) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    for number, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise invalid(
                f"Invalid value for 'tools[{number}]': expected a function tool.", f"tools[{number}]", "invalid_value"
            )
        name = tool["function"].get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise invalid(
                f"Invalid 'tools[{number}].function.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                f"tools[{number}].function.name",
                "invalid_value",
            )


def _validate_messages(messages) -> None:
    if messages is None:
        raise invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise invalid("Invalid type for 'messages': expected an array.", "messages", "invalid_type")
    if not messages:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
            "empty_array",
        )

    awaiting: dict[str, int] = {}  # tool_call_id -> number of the assistant message that made the call
    answerable: set[str] = set()  # ids a tool message may still answer
    for number, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(
                f"Invalid type for 'messages[{number}]': expected an object.", f"messages[{number}]", "invalid_type"
            )
        role = message.get("role")
        if role not in ROLES:
            raise invalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
                f"messages[{number}].role",
                "invalid_value",
            )
        if role != "tool" and awaiting:
            ids = ", ".join(awaiting)
            raise invalid(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
                f"messages.[{next(iter(awaiting.values()))}].role",
            )
        _validate_content(message, number, role)
        if role == "assistant":
            calls = message.get("tool_calls") or []
            awaiting = {call.get("id"): number for call in calls if isinstance(call, dict)}
            answerable = set(awaiting)
        elif role == "tool":
            tool_call_id = message.get("tool_call_id")
            if not isinstance(tool_call_id, str):
                raise invalid(
                    f"Missing required parameter: 'messages[{number}].tool_call_id'.",
                    f"messages[{number}].tool_call_id",
                    "missing_required_parameter",
                )
            if tool_call_id not in answerable:
                raise invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                    f"messages.[{number}].role",
                )
            awaiting.pop(tool_call_id, None)
        else:
            answerable = set()


def _validate_content(message: dict, number: int, role: str) -> None:
    content = message.get("content")
    param = f"messages[{number}].content"
    if content is None:
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            return
        raise invalid("Invalid value for 'content': expected a string, got null.", param)
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(
            f"Invalid type for '{param}': expected one of a string or array of objects.", param, "invalid_type"
        )
    allowed = (
        {"text", "image_url", "input_audio", "file"}
        if role == "user"
        else {"text", "refusal"}
        if role == "assistant"
        else {"text"}
    )
    for position, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            raise invalid(
                f"Invalid value: '{kind}'. Supported values are: {', '.join(repr(a) for a in sorted(allowed))}.",
                f"{param}[{position}].type",
                "invalid_value",
            )


# --- what the scenarios see ---------------------------------------------------------------------


def _text_of(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        return "\n".join(texts) if texts else None
    return None


def conversation(body: dict, raw_body: bytes) -> Conversation:
    messages = body["messages"]
    latest_user_text = next(
        (text for item in reversed(messages) if item["role"] == "user" and (text := _text_of(item.get("content")))),
        None,
    )
    tool_results = None
    if messages[-1]["role"] == "tool":
        trailing = []
        for item in reversed(messages):
            if item["role"] != "tool":
                break
            trailing.append(_text_of(item.get("content")) or "")
        tool_results = trailing[::-1]
    stop = body.get("stop")
    return Conversation(
        protocol="openai",
        body=body,
        raw_body=raw_body,
        latest_user_text=latest_user_text,
        trailing_tool_results=tool_results,
        stop_sequences=[stop] if isinstance(stop, str) else list(stop or []),
    )


# --- prompt caching ---------------------------------------------------------------------------------

CACHE_ROUNDING = 128  # cache hits come in 128-token increments past the first 1024


def settle_cache(body: dict, key: str, context: Context):
    """Implicit prefix caching at message boundaries, per API key, model and prompt_cache_key."""
    tools = [Block(f"tools[{number}]", canonical(["tools", tool])) for number, tool in enumerate(body.get("tools") or [])]
    messages = [Block(f"messages[{number}]", canonical(message)) for number, message in enumerate(body["messages"])]
    chain = prefixes(f"openai\0{body['model']}", [*tools, *messages])
    boundaries = range(len(tools), len(chain))
    ttl = "24h" if body.get("prompt_cache_retention") == "24h" else "in_memory"
    scope = ("openai", key, body["model"], body["prompt_cache_key"])
    return context.prompt_cache.implicit(scope, chain, boundaries, ttl, round_to=CACHE_ROUNDING)
