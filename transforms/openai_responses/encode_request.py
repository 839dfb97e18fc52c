"""Neutral `ChatRequest` -> OpenAI Responses request body (the upstream side).

`store: false` always: the bridge keeps no state upstream, so reasoning is
asked back encrypted (`include: reasoning.encrypted_content`) and handed back
in the next turn's input.
"""

from __future__ import annotations

import orjson

from transforms.errors import invalid
from transforms.ir import ChatRequest, ImagePart, Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from transforms.json_schema_cleaning import clean_tool_schema
from transforms.openai_responses.prompt_cache_breakpoint import prompt_cache_breakpoint
from transforms.openai_responses.reasoning_signature import unpack
from transforms.prompt_cache import conversation_key
from transforms.upstream_options import UpstreamOptions


MIN_OUTPUT_TOKENS = 16  # the Responses API refuses smaller limits


def encode_responses_request(request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions()) -> dict:
    if request.unsupported:
        field, reason = request.unsupported[0]
        raise invalid(f"{field}: {reason}; a Responses upstream cannot take it, so the request was not sent.", field)
    if request.stop:
        raise invalid("stop: the OpenAI Responses API has no stop sequences; remove them for this model.", "stop")
    body: dict = {"model": upstream_model, "input": [item for m in request.messages for item in _items(m)], "store": False}
    if request.system:
        body["instructions"] = "\n\n".join(request.system)
    limit = options.limit(request.max_tokens)
    if limit is not None:
        body["max_output_tokens"] = max(limit, MIN_OUTPUT_TOKENS)
    for name in ("temperature", "top_p", "user"):
        if (value := getattr(request, name)) is not None:
            body[name] = value
    if request.reasoning_effort and request.reasoning_effort != "none" and "no-reasoning-effort" not in options.quirks:
        body["reasoning"] = {"effort": request.reasoning_effort, "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]
    if request.tools:
        level = "gemini" if "gemini-tool-schemas" in options.quirks else "strict" if "clean-tool-schemas" in options.quirks else None
        body["tools"] = [
            {"type": "function", "name": t.name, **({"description": t.description} if t.description else {}),
             "parameters": clean_tool_schema(t.parameters, level=level) if level else (t.parameters or {"type": "object", "properties": {}}),
             # Responses makes function tools strict by default, which arbitrary schemas fail
             "strict": bool(t.strict)}
            for t in request.tools
        ]
        choice = request.tool_choice
        if choice is not None:
            body["tool_choice"] = {"type": "function", "name": choice.name} if choice.mode == "tool" else choice.mode
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        body["text"] = {"format": {"type": "json_schema", "name": fmt.name or "output", "schema": fmt.schema, "strict": bool(fmt.strict)}}
    elif fmt is not None and fmt.type == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    if request.stream:
        body["stream"] = True
    _prompt_cache(body, request)
    return body


def _prompt_cache(body: dict, request: ChatRequest) -> None:
    """The conversation's cache key (the client's, else one derived from how the conversation began, so its turns
    meet the same cache); the client's breakpoints ride on their parts (`_items`), those on the tools and system
    prompt have nowhere to go: OpenAI's implicit breakpoint covers them."""
    body["prompt_cache_key"] = request.prompt_cache_key or conversation_key(request)
    if request.system_cache or any(t.cache is not None for t in request.tools):
        request.dropped.append("cache breakpoints on tools or instructions (Responses marks only content parts)")


def _items(message: Message) -> list[dict]:
    items: list[dict] = []
    content: list[dict] = []
    text_type = "output_text" if message.role == "assistant" else "input_text"

    def flush() -> None:
        if content:
            items.append({"role": message.role, "content": list(content)})
            content.clear()

    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                content.append(_marked({"type": text_type, "text": part.text}, part.cache))
        elif isinstance(part, ImagePart):
            url = part.url if part.url is not None else f"data:{part.media_type};base64,{part.data}"
            content.append(_marked({"type": "input_image", "image_url": url}, part.cache))
        elif isinstance(part, ThinkingPart):
            item_id, encrypted = unpack(part.signature, part.id)
            if item_id and encrypted:  # only reasoning a Responses API issued can go back
                flush()
                items.append({"type": "reasoning", "id": item_id, "encrypted_content": encrypted,
                              "summary": [{"type": "summary_text", "text": part.text}] if part.text else []})
        elif isinstance(part, ToolCallPart):
            flush()
            items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                          "arguments": orjson.dumps(part.arguments).decode()})
        elif isinstance(part, ToolResultPart):
            flush()
            text = "".join(p.text for p in part.content if isinstance(p, TextPart))
            output = ("Error: " + text) if part.is_error else text
            mark = part.cache or next((p.cache for p in reversed(part.content) if p.cache is not None), None)
            items.append({"type": "function_call_output", "call_id": part.tool_call_id,
                          # a breakpoint needs a content part to sit on
                          "output": [_marked({"type": "input_text", "text": output}, mark)] if mark else output})
    flush()
    return items


def _marked(content: dict, mark) -> dict:
    if mark is not None:
        content["prompt_cache_breakpoint"] = prompt_cache_breakpoint(mark)
    return content
