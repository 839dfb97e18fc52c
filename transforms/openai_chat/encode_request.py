"""Neutral `ChatRequest` -> OpenAI Chat Completions request body (the upstream side).

OpenAI has no place for a user turn's tool results: each becomes a `role: tool`
message right after the assistant turn that called it, and whatever else the
turn held (text, images, images returned by tools) follows as a user message.
"""

from __future__ import annotations

import orjson

from transforms.openai_responses.prompt_cache_breakpoint import prompt_cache_breakpoint
from transforms.prompt_cache import conversation_key, has_marks
from transforms.errors import invalid
from transforms.ir import ChatRequest, ImagePart, Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from transforms.json_schema_cleaning import clean_tool_schema
from transforms.upstream_options import UpstreamOptions

TOOL_ERROR_PREFIX = "Error: "


def encode_chat_request(request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions()) -> dict:
    if request.unsupported:
        field, reason = request.unsupported[0]
        raise invalid(f"{field}: {reason}; an OpenAI-compatible upstream cannot take it, so the request was not sent.", field)
    quirks = options.quirks
    body: dict = {"model": upstream_model, "messages": _messages(request, quirks)}
    limit = options.limit(request.max_tokens)
    if limit is not None:
        body["max_completion_tokens" if "max-completion-tokens" in quirks else "max_tokens"] = limit
    for name in ("temperature", "top_p", "user"):
        if (value := getattr(request, name)) is not None:
            body[name] = value
    if request.top_k is not None and "top-k" in quirks:
        body["top_k"] = request.top_k  # otherwise dropped: a sampling hint most OpenAI-compatible APIs reject
    if request.stop:
        body["stop"] = request.stop
    if request.reasoning_effort and request.reasoning_effort != "none" and "no-reasoning-effort" not in quirks:
        body["reasoning_effort"] = request.reasoning_effort
    if request.tools:
        level = "gemini" if "gemini-tool-schemas" in quirks else "strict" if "clean-tool-schemas" in quirks else None
        body["tools"] = [_tool(tool, level) for tool in request.tools]
        if request.tool_choice is not None:
            choice = request.tool_choice
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice.name}} if choice.mode == "tool" else choice.mode
            )
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": fmt.name or "output", "schema": fmt.schema, "strict": bool(fmt.strict)}}
    elif fmt is not None and fmt.type == "json_object":
        body["response_format"] = {"type": "json_object"}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if PROMPT_CACHE in quirks:
        body["prompt_cache_key"] = request.prompt_cache_key or conversation_key(request)
    elif has_marks(request):
        request.dropped.append("cache breakpoints (this OpenAI-compatible upstream takes none; it caches prefixes itself)")
    return body


PROMPT_CACHE = "openai-prompt-cache"  # the quirk of upstreams that take OpenAI's cache key and breakpoints


def _tool(tool, level) -> dict:
    parameters = tool.parameters or {"type": "object", "properties": {}}
    if level is not None:
        parameters = clean_tool_schema(parameters, level=level)
    function = {"name": tool.name, "parameters": parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _messages(request: ChatRequest, quirks: frozenset[str]) -> list[dict]:
    out: list[dict] = []
    marks = PROMPT_CACHE in quirks
    if request.system:
        text = "\n\n".join(request.system)
        mark = next(iter(sorted(request.system_cache.items(), reverse=True)), (0, None))[1] if marks else None
        out.append({"role": "system", "content": [_marked({"type": "text", "text": text}, mark)] if mark else text})
    for message in request.messages:
        if message.role == "assistant":
            out.append(_assistant(message, quirks))
        else:
            out.extend(_user(message, marks))
    return out


def _marked(part: dict, mark) -> dict:
    if mark is not None:
        part["prompt_cache_breakpoint"] = prompt_cache_breakpoint(mark)
    return part


def _assistant(message: Message, quirks: frozenset[str]) -> dict:
    texts = [p.text for p in message.parts if isinstance(p, TextPart)]
    calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
    encoded: dict = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        encoded["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()}}
            for c in calls
        ]
    if "reasoning-content-history" in quirks:
        reasoning = "".join(p.text for p in message.parts if isinstance(p, ThinkingPart))
        if reasoning or calls:
            encoded["reasoning_content"] = reasoning
    return encoded


def _user(message: Message, marks: bool = False) -> list[dict]:
    """`marks`: the upstream takes OpenAI's breakpoints, so a marked part keeps its own content part."""
    out: list[dict] = []
    rest: list[dict] = []
    for part in message.parts:
        if isinstance(part, ToolResultPart):
            text = "".join(p.text for p in part.content if isinstance(p, TextPart))
            content = TOOL_ERROR_PREFIX + text if part.is_error else text
            mark = (part.cache or next((p.cache for p in reversed(part.content) if p.cache), None)) if marks else None
            out.append({"role": "tool", "tool_call_id": part.tool_call_id,
                        "content": [_marked({"type": "text", "text": content}, mark)] if mark else content})
            # tool messages carry text only; images a tool returned follow in a user message
            rest.extend(_image(p) for p in part.content if isinstance(p, ImagePart))
        elif isinstance(part, TextPart):
            rest.append(_marked({"type": "text", "text": part.text}, part.cache if marks else None))
        elif isinstance(part, ImagePart):
            rest.append(_marked(_image(part), part.cache if marks else None))
    if rest:
        if all(p["type"] == "text" and "prompt_cache_breakpoint" not in p for p in rest):
            out.append({"role": "user", "content": "\n\n".join(p["text"] for p in rest)})  # separate blocks stay apart
        else:
            out.append({"role": "user", "content": rest})
    return out


def _image(part: ImagePart) -> dict:
    url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data}"
    return {"type": "image_url", "image_url": {"url": url}}
