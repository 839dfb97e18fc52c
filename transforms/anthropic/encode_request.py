"""Neutral `ChatRequest` -> Anthropic Messages request body."""

from __future__ import annotations

from transforms.anthropic.cache_control import MAX_BREAKPOINTS, cache_control, originate_breakpoints
from transforms.anthropic.max_tokens import default_max_tokens
from transforms.anthropic.thinking_budget import thinking_budget
from transforms.errors import invalid
from transforms.prompt_cache import has_marks
from transforms.upstream_options import UpstreamOptions
from transforms.ir import (
    CacheMark,
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)

# id(encoded block) -> (the block, its cache mark): turned into cache_control once all are known
Marks = dict[int, tuple[dict, CacheMark]]
JSON_OBJECT_INSTRUCTION = "Respond only with a single valid JSON object, with no text before or after it."


def encode_messages_request(
    request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions()
) -> dict:
    if request.unsupported:
        field, reason = request.unsupported[0]
        raise invalid(f"{field}: {reason}; Anthropic models cannot honour it, so the request was not sent.", field)
    if request.temperature is not None and not 0 <= request.temperature <= 1:
        raise invalid("'temperature' must be between 0 and 1 for Anthropic models.", "temperature")

    limit = options.limit(request.max_tokens, default_max_tokens(upstream_model))
    body: dict = {"model": upstream_model, "max_tokens": limit}
    if options.prompt_cache == "auto" and not has_marks(request):
        originate_breakpoints(request, options.cache_ttl_s, options.cache_min_tokens)

    system = list(request.system)
    if request.response_format is not None and request.response_format.type == "json_object":
        # Anthropic's structured output needs a schema; "any JSON object" is asked for in words.
        system.append(JSON_OBJECT_INSTRUCTION)
    marks: Marks = {}
    if system:
        body["system"] = _encode_system(system, request.system_cache, marks)
    body["messages"] = _encode_messages(request.messages, marks)

    try:
        budget = thinking_budget(request.reasoning_effort, limit)
    except ValueError as exc:
        raise invalid(f"{exc}.", "max_tokens") from None
    if budget is not None and _ends_in_unsigned_tool_turn(request.messages):
        # Anthropic rejects thinking when the assistant turn being continued used tools
        # without a signed thinking block, which OpenAI clients cannot hand back.
        budget = None
    temperature, top_k = request.temperature, request.top_k
    if budget is not None:
        # Anthropic takes no sampling but temperature 1 beside thinking: what a client sends anyway (the
        # Gemini CLI always sends topK) is dropped, and the proxy logs it, rather than refusing the request
        if temperature not in (None, 1):
            request.dropped.append(f"temperature {temperature} (Anthropic models take none beside thinking)")
            temperature = None
        if top_k is not None:
            request.dropped.append(f"top_k {top_k} (Anthropic models take none beside thinking)")
            top_k = None
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}

    if temperature is not None:
        body["temperature"] = temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if top_k is not None:
        body["top_k"] = top_k
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.user:
        body["metadata"] = {"user_id": request.user}

    if request.tools:
        body["tools"] = [
            {
                "name": tool.name,
                **({"description": tool.description} if tool.description else {}),
                "input_schema": tool.parameters or {"type": "object", "properties": {}},
            }
            for tool in request.tools
        ]
        tool_choice = _encode_tool_choice(request)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice

    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
    if request.stream:
        body["stream"] = True
    _place_cache_controls(body, request, marks)
    return body


def _encode_system(system: list[str], system_cache: dict, marks: Marks) -> str | list[dict]:
    """One string, or, where the client marked breakpoints, text blocks ending at each mark."""
    if not system_cache:
        return "\n\n".join(system)
    blocks, start = [], 0
    for end in sorted(i for i in system_cache if i < len(system)) + [len(system) - 1]:
        if end >= start:
            blocks.append(_marked({"type": "text", "text": "\n\n".join(system[start:end + 1])}, system_cache.get(end), marks))
            start = end + 1
    return blocks


def _place_cache_controls(body: dict, request: ChatRequest, marks: Marks) -> None:
    """Turn the marks of tools, system blocks and content blocks into `cache_control`, in the order the body
    reads (tools, system, messages as merged and reordered), keeping the last four (Anthropic takes no more;
    the latest write the most) with 1 h never after 5 min."""
    for tool, definition in zip(body.get("tools", []), request.tools):
        _marked(tool, definition.cache, marks)
    if not marks:
        return
    blocks = [*body.get("tools", []), *(body["system"] if isinstance(body.get("system"), list) else [])]
    for message in body["messages"]:
        for block in message["content"]:
            blocks.append(block)
            blocks += block.get("content", []) if block["type"] == "tool_result" else []
    marked = [block for block in blocks if id(block) in marks]
    kept = marked[-MAX_BREAKPOINTS:]
    if len(marked) > MAX_BREAKPOINTS:
        request.dropped.append(f"{len(marked) - MAX_BREAKPOINTS} cache breakpoint(s) (Anthropic takes four: the last four kept)")
    longest_later = False
    for block in reversed(kept):
        control = cache_control(marks[id(block)][1], longest_later)
        longest_later = longest_later or control.get("ttl") == "1h"
        block["cache_control"] = control


def _encode_tool_choice(request: ChatRequest) -> dict | None:
    choice = request.tool_choice
    if choice is None:
        encoded = {"type": "auto"} if request.parallel_tool_calls is False else None
    elif choice.mode == "required":
        encoded = {"type": "any"}
    elif choice.mode == "tool":
        encoded = {"type": "tool", "name": choice.name}
    else:
        encoded = {"type": choice.mode}
    if encoded is not None and request.parallel_tool_calls is False and encoded["type"] != "none":
        encoded["disable_parallel_tool_use"] = True
    return encoded


def _encode_messages(messages: list[Message], marks: Marks) -> list[dict]:
    """Anthropic needs alternating roles: consecutive same-role messages are merged,
    and a user turn's tool_result blocks go first, as the API requires."""
    encoded: list[dict] = []
    for message in messages:
        blocks = [_encode_part(part, marks) for part in message.parts]
        blocks = [b for b in blocks if b is not None]
        if not blocks:
            continue
        if encoded and encoded[-1]["role"] == message.role:
            encoded[-1]["content"].extend(blocks)
        else:
            encoded.append({"role": message.role, "content": blocks})
    for message in encoded:
        if message["role"] == "user":
            content = message["content"]
            results = [b for b in content if b["type"] == "tool_result"]
            if results and len(results) != len(content):
                message["content"] = results + [b for b in content if b["type"] != "tool_result"]
    return encoded


def _encode_part(part, marks: Marks) -> dict | None:
    if isinstance(part, TextPart):
        # Anthropic rejects empty text blocks
        return _marked({"type": "text", "text": part.text}, part.cache, marks) if part.text else None
    if isinstance(part, ImagePart):
        return _marked(_encode_image(part), part.cache, marks)
    if isinstance(part, ToolCallPart):
        return _marked({"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}, part.cache, marks)
    if isinstance(part, ToolResultPart):
        block: dict = {"type": "tool_result", "tool_use_id": part.tool_call_id}
        content = [_encode_part(p, marks) for p in part.content]
        content = [c for c in content if c is not None]
        if content:
            block["content"] = content
        if part.is_error:
            block["is_error"] = True
        return _marked(block, part.cache, marks)
    if isinstance(part, ThinkingPart):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        if part.signature:
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        return None  # unsigned reasoning (e.g. from another provider) would be rejected
    raise TypeError(f"unknown part {part!r}")


def _marked(block: dict, mark: CacheMark | None, marks: Marks) -> dict:
    if mark is not None:
        # turned into cache_control once all are known (_place_cache_controls); the block is held too, so that
        # its id cannot be another block's
        marks[id(block)] = (block, mark)
    return block


def _encode_image(part: ImagePart) -> dict:
    if part.data is not None:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    else:
        source = {"type": "url", "url": part.url}
    return {"type": "image", "source": source}


def _ends_in_unsigned_tool_turn(messages: list[Message]) -> bool:
    """True inside a tool loop (the request ends with tool results) whose assistant
    turn carries no signed thinking."""
    if not messages or not any(isinstance(p, ToolResultPart) for p in messages[-1].parts):
        return False
    for message in reversed(messages):
        if message.role == "assistant":
            calls_tools = any(isinstance(p, ToolCallPart) for p in message.parts)
            signed = any(isinstance(p, ThinkingPart) and (p.signature or p.redacted) for p in message.parts)
            return calls_tools and not signed
    return False
