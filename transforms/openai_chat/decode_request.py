"""OpenAI Chat Completions request body -> neutral `ChatRequest`.

Validates as it goes: every rejection names the field, so the client can fix
it. Asks the neutral request cannot carry (n > 1, logprobs, ...) are refused
here rather than silently dropped; see `UNSUPPORTED_PARAMS`.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from transforms.openai_responses.prompt_cache_breakpoint import breakpoint_mark, request_ttl_s
from transforms.errors import invalid
from transforms.json_body import parse_json_object
from transforms.ir import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
)

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

# Parameters whose non-default value asks for something no neutral request can
# express; value -> True when the value is harmless (the default).
UNSUPPORTED_PARAMS = {
    "n": lambda v: v in (None, 1),
    "logprobs": lambda v: v in (None, False),
    "top_logprobs": lambda v: v in (None, 0),
    "logit_bias": lambda v: not v,
    "presence_penalty": lambda v: v in (None, 0, 0.0),
    "frequency_penalty": lambda v: v in (None, 0, 0.0),
    "seed": lambda v: v is None,
    "audio": lambda v: v is None,
    "modalities": lambda v: v in (None, ["text"]),
    "web_search_options": lambda v: v is None,
    "functions": lambda v: v is None,
    "function_call": lambda v: v is None,
}

# Non-standard but widely sent by OpenAI-compatible clients; carried when the upstream has it.
EXTENSION_PARAMS = frozenset({"top_k"})

# Accepted and deliberately not carried: hints and OpenAI-side bookkeeping that
# change nothing about the answer.
IGNORED_PARAMS = frozenset(
    {"store", "metadata", "service_tier", "prediction", "safety_identifier", "verbosity", "prompt_cache_retention"}
)

KNOWN_PARAMS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "user",
        "reasoning_effort",
        "response_format",
        "prompt_cache_key",
        "prompt_cache_options",
    }
) | UNSUPPORTED_PARAMS.keys() | IGNORED_PARAMS | EXTENSION_PARAMS


def decode_chat_request(body: bytes | dict) -> ChatRequest:
    if not isinstance(body, dict):
        body = parse_json_object(bytes(body))

    unsupported: list[tuple[str, str]] = []
    for name, is_harmless in UNSUPPORTED_PARAMS.items():
        if name in body and not is_harmless(body[name]):
            unsupported.append((name, f"'{name}'={orjson.dumps(body[name]).decode()} has no equivalent"))
    unsupported.extend((k, f"unknown parameter '{k}'") for k in body if k not in KNOWN_PARAMS)

    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("'model' is required and must be a non-empty string.", "model")

    system_cache: dict = {}
    system, messages = _decode_messages(body.get("messages"), unsupported, system_cache, request_ttl_s(body))
    stream = _optional(body, "stream", bool) or False
    stream_options = _optional(body, "stream_options", dict)
    if stream_options is not None and not stream:
        raise invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options")
    include_usage = bool(stream_options and stream_options.get("include_usage"))

    max_tokens = _optional(body, "max_completion_tokens", int)
    if max_tokens is None:
        max_tokens = _optional(body, "max_tokens", int)
    if max_tokens is not None and max_tokens < 1:
        raise invalid("'max_tokens' must be at least 1.", "max_tokens")

    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise invalid(f"'reasoning_effort' must be one of {', '.join(REASONING_EFFORTS)}.", "reasoning_effort")

    tools = _decode_tools(body.get("tools"))
    return ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=_decode_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=_optional(body, "parallel_tool_calls", bool),
        max_tokens=max_tokens,
        temperature=_optional_number(body, "temperature"),
        top_p=_optional_number(body, "top_p"),
        stop=_decode_stop(body.get("stop")),
        user=_optional(body, "user", str),
        reasoning_effort=effort,
        response_format=_decode_response_format(body.get("response_format")),
        stream=stream,
        include_usage=include_usage,
        top_k=_optional(body, "top_k", int),
        unsupported=unsupported,
        system_cache=system_cache,
        prompt_cache_key=_optional(body, "prompt_cache_key", str),
    )


# --- messages ----------------------------------------------------------------


def _decode_messages(raw: object, unsupported: list[tuple[str, str]], system_cache: dict,
                     ttl_s: int | None) -> tuple[list[str], list[Message]]:
    if raw is None:
        raise invalid("'messages' is required.", "messages")
    if not isinstance(raw, list) or not raw:
        raise invalid("'messages' must be a non-empty array.", "messages")
    system: list[str] = []
    messages: list[Message] = []
    for i, msg in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise invalid(f"{where} must be an object.", where)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(_text_only(msg.get("content"), f"{where}.content"))
            content = msg.get("content")
            marks = [breakpoint_mark(p, ttl_s, f"{where}.content[{j}]") for j, p in enumerate(content)] if isinstance(content, list) else []
            if (mark := next((m for m in reversed(marks) if m is not None), None)) is not None:
                system_cache[len(system) - 1] = mark
        elif role == "user":
            messages.append(Message("user", _user_parts(msg.get("content"), f"{where}.content", unsupported, ttl_s=ttl_s)))
        elif role == "assistant":
            messages.append(Message("assistant", _assistant_parts(msg, where, unsupported)))
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise invalid(f"{where}.tool_call_id is required for role 'tool'.", f"{where}.tool_call_id")
            content = _user_parts(msg.get("content"), f"{where}.content", unsupported, allow_empty=True, ttl_s=ttl_s)
            messages.append(Message("user", [ToolResultPart(call_id, content)]))
        elif role == "function":
            unsupported.append((f"{where}.role", "the deprecated 'function' role has no equivalent; use 'tool'"))
        else:
            raise invalid(f"{where}.role must be one of system, developer, user, assistant, tool.", f"{where}.role")
    return system, messages


def _text_only(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise invalid(f"{where}[{j}] must be a text part.", f"{where}[{j}]")
            texts.append(part["text"])
        return "".join(texts)
    raise invalid(f"{where} must be a string or an array of text parts.", where)


def _user_parts(
    content: object, where: str, unsupported: list[tuple[str, str]], allow_empty: bool = False, ttl_s: int | None = None
) -> list[TextPart | ImagePart]:
    if isinstance(content, str):
        return [TextPart(content)] if content or not allow_empty else []
    if content is None and allow_empty:
        return []
    if not isinstance(content, list):
        raise invalid(f"{where} must be a string or an array of content parts.", where)
    parts: list[TextPart | ImagePart] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise invalid(f"{at}.text must be a string.", f"{at}.text")
            parts.append(TextPart(part["text"], breakpoint_mark(part, ttl_s, at)))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise invalid(f"{at}.image_url.url must be a string.", f"{at}.image_url.url")
            parts.append(_image(url, f"{at}.image_url.url"))
            parts[-1].cache = breakpoint_mark(part, ttl_s, at)
        elif kind in ("input_audio", "file"):
            unsupported.append((f"{at}.type", f"content part type '{kind}' has no equivalent"))
        else:
            raise invalid(f"{at}.type must be 'text', 'image_url', 'input_audio' or 'file'.", f"{at}.type")
    return parts


def _image(url: str, where: str) -> ImagePart:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type.startswith("image/"):
            raise invalid(f"{where} must be a base64 data URL such as data:image/png;base64,....", where)
        try:
            base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
        except binascii.Error:
            raise invalid(f"{where} does not hold valid base64 data.", where) from None
        return ImagePart(data=data, media_type=media_type)
    if url.startswith(("http://", "https://")):
        return ImagePart(url=url)
    raise invalid(f"{where} must be an http(s) URL or a data: URL.", where)


def _assistant_parts(msg: dict, where: str, unsupported: list[tuple[str, str]]) -> list:
    parts: list = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ThinkingPart(reasoning))
    content = msg.get("content")
    if content is not None:
        if isinstance(content, list):
            # assistant array content may carry "refusal" parts; they hold text too
            texts = []
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif kind == "refusal" and isinstance(part.get("refusal"), str):
                    texts.append(part["refusal"])
                else:
                    raise invalid(f"{where}.content[{j}] must be a text part.", f"{where}.content[{j}]")
            content = "".join(texts)
        elif not isinstance(content, str):
            raise invalid(f"{where}.content must be a string, an array of text parts, or null.", f"{where}.content")
        if content:
            parts.append(TextPart(content))
    tool_calls = msg.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            raise invalid(f"{where}.tool_calls must be an array.", f"{where}.tool_calls")
        for k, call in enumerate(tool_calls):
            parts.append(_tool_call(call, f"{where}.tool_calls[{k}]", unsupported))
    return parts


def _tool_call(call: object, where: str, unsupported: list[tuple[str, str]]) -> ToolCallPart:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise invalid(f"{where} must be an object with a 'function'.", where)
    call_id, fn = call.get("id"), call["function"]
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.id is required.", f"{where}.id")
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise invalid(f"{where}.function.name is required.", f"{where}.function.name")
    raw_args = fn.get("arguments") or "{}"
    if not isinstance(raw_args, str):
        raise invalid(f"{where}.function.arguments must be a JSON string.", f"{where}.function.arguments")
    # OpenAI itself stores arguments as an opaque string; only a translation needs an object.
    try:
        arguments = orjson.loads(raw_args)
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        unsupported.append(
            (f"{where}.function.arguments", f"tool arguments {raw_args[:80]!r} are not a JSON object")
        )
        arguments = {}
    return ToolCallPart(call_id, fn["name"], arguments)


# --- tools and options ---------------------------------------------------------


def _decode_tools(raw: object) -> list[ToolDefinition]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("'tools' must be an array.", "tools")
    tools = []
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise invalid(f"{where} must be {{'type': 'function', 'function': {{...}}}}.", where)
        fn = tool["function"]
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise invalid(f"{where}.function.name is required.", f"{where}.function.name")
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise invalid(f"{where}.function.parameters must be a JSON Schema object.", f"{where}.function.parameters")
        tools.append(ToolDefinition(fn["name"], fn.get("description"), params, fn.get("strict")))
    return tools


def _decode_tool_choice(raw: object) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw)
    if isinstance(raw, dict) and raw.get("type") == "function":
        name = (raw.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return ToolChoice("tool", name)
    raise invalid(
        "'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', 'function': {'name': ...}}.",
        "tool_choice",
    )


def _decode_stop(raw: object) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return list(raw)
    raise invalid("'stop' must be a string or an array of strings.", "stop")


def _decode_response_format(raw: object) -> ResponseFormat | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise invalid("response_format.json_schema.schema must be a JSON Schema object.", "response_format")
        return ResponseFormat("json_schema", spec["schema"], spec.get("name"), spec.get("strict"))
    raise invalid("response_format.type must be 'text', 'json_object' or 'json_schema'.", "response_format")


_JSON_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "an object",
               list: "an array"}


def _optional(body: dict, name: str, kind: type):
    value = body.get(name)
    if value is None:
        return None
    # bool is an int subclass; an int field must not accept true/false
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid(f"'{name}' must be {_JSON_KINDS.get(kind, 'of another type')}.", name)
    return value


def _optional_number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"'{name}' must be a number.", name)
    return value
