"""Anthropic Messages request body -> neutral `ChatRequest` (the Anthropic client side).

Every rejection names the field. What the neutral request cannot carry is
recorded in `unsupported` (a passthrough to Anthropic forwards it; a
translation refuses it). What Claude Code sends that has no meaning for other
upstreams is dropped on purpose: `cache_control`, `context_management`,
`defer_loading` tools, `metadata` other than `user_id`.
"""

from __future__ import annotations

import hashlib

from transforms.anthropic.cache_control import cache_mark
from transforms.anthropic.context_edits import apply_edits, parse_edits
from transforms.anthropic.effort import reasoning_effort
from transforms.errors import invalid
from transforms.ir import (
    CacheMark,
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
from transforms.json_body import parse_json_object

# Claude-only features with no meaning upstream of another protocol: dropped on purpose.
DROPPED_PARAMS = frozenset({"container", "mcp_servers", "service_tier", "inference_geo"})
KNOWN_PARAMS = frozenset({
    "model", "max_tokens", "messages", "system", "tools", "tool_choice", "stop_sequences", "temperature",
    "top_p", "top_k", "metadata", "thinking", "output_config", "output_format", "stream", "context_management",
}) | DROPPED_PARAMS

USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
ASSISTANT_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use",
                              "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
                              "mcp_tool_use", "mcp_tool_result", "container_upload", "tool_reference"})


def decode_messages_request(body: bytes | dict) -> ChatRequest:
    if not isinstance(body, dict):
        body = parse_json_object(bytes(body))
    unsupported: list[tuple[str, str]] = [(k, f"unknown parameter '{k}'") for k in body if k not in KNOWN_PARAMS]

    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model: Field required (a non-empty string).", "model")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise invalid("max_tokens: Field required.", "max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid("max_tokens: must be an integer of at least 1.", "max_tokens")

    system: list[str] = []
    system_cache: dict[int, CacheMark] = {}
    _add_system(body.get("system"), "system", system, system_cache)
    messages = _messages(body.get("messages"), system, system_cache, unsupported)
    tools = _tools(body.get("tools"), unsupported)
    choice, parallel = _tool_choice(body.get("tool_choice"))
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise invalid("stop_sequences: must be an array of strings.", "stop_sequences")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise invalid("metadata: must be an object.", "metadata")
    thinking = body.get("thinking")
    if thinking is not None and (not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive")):
        raise invalid("thinking.type: must be 'enabled', 'disabled' or 'adaptive'.", "thinking")
    output_config = body.get("output_config") if isinstance(body.get("output_config"), dict) else {}
    output_config = {**output_config, **_turn_effort(body.get("messages"))}
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream: must be a boolean.", "stream")

    edits = parse_edits(body.get("context_management"))
    request = ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        top_k=_integer(body, "top_k"),
        stop=list(stop or []),
        user=_end_user(metadata.get("user_id")),
        reasoning_effort=reasoning_effort(thinking, output_config),
        response_format=_response_format(output_config.get("format") or body.get("output_format")),
        stream=stream,
        include_usage=True,  # Anthropic streams always report usage
        unsupported=unsupported,
        system_cache=system_cache,
    )
    if edits:  # the bridge edits the context itself (an Anthropic upstream takes the client's body as it is)
        request.client_options["context_management"] = {"applied_edits": apply_edits(request, edits)}
    return request


def _add_system(system: object, where: str, texts: list[str], marks: dict[int, CacheMark]) -> None:
    """Append the system text blocks to `texts`, their cache breakpoints to `marks` (by index in `texts`)."""
    if system is None:
        return
    if isinstance(system, str):
        texts.extend([system] if system else [])
        return
    if not isinstance(system, list):
        raise invalid(f"{where}: must be a string or an array of text blocks.", where)
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid(f"{where}.{i}: system blocks must be text blocks.", f"{where}.{i}")
        texts.append(block["text"])
        if (mark := cache_mark(block, f"{where}.{i}")) is not None:
            marks[len(texts) - 1] = mark


def _messages(raw: object, system: list[str], system_cache: dict[int, CacheMark],
              unsupported: list[tuple[str, str]]) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise invalid("messages: must be a non-empty array.", "messages")
    messages: list[Message] = []
    for i, message in enumerate(raw):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid(f"{where}: must be an object.", where)
        role = message.get("role")
        content = message.get("content")
        if role == "system":  # Claude Code's per-turn system messages: system text, in order
            _add_system(content, f"{where}.content", system, system_cache)
            continue
        if role not in ("user", "assistant"):
            raise invalid(f"{where}.role: must be 'user' or 'assistant'.", f"{where}.role")
        if isinstance(content, str):
            parts = [TextPart(content)] if content else []
        elif isinstance(content, list):
            parts = [p for j, block in enumerate(content)
                     if (p := _block(block, role, f"{where}.content.{j}", unsupported)) is not None]
        else:
            raise invalid(f"{where}.content: must be a string or an array of content blocks.", f"{where}.content")
        messages.append(Message(role, parts))
    return messages


def _block(block: object, role: str, where: str, unsupported: list[tuple[str, str]]):
    kind = block.get("type") if isinstance(block, dict) else None
    allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    if kind not in allowed:
        raise invalid(f"{where}.type: '{kind}' is not a valid {role} content block type.", f"{where}.type")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise invalid(f"{where}.text: must be a string.", f"{where}.text")
        return TextPart(block["text"], cache_mark(block, where))
    if kind == "image":
        return _image(block.get("source"), f"{where}.source", cache_mark(block, where))
    if kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise invalid(f"{where}: tool_use blocks need an 'id' and a 'name'.", where)
        arguments = block.get("input")
        if not isinstance(arguments, dict):
            raise invalid(f"{where}.input: must be an object.", f"{where}.input")
        return ToolCallPart(block["id"], block["name"], arguments, cache_mark(block, where))
    if kind == "tool_result":
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"{where}.tool_use_id: Field required.", f"{where}.tool_use_id")
        return ToolResultPart(call_id, _result_content(block.get("content"), f"{where}.content", unsupported),
                              bool(block.get("is_error")), cache_mark(block, where))
    if kind == "thinking":
        return ThinkingPart(block.get("thinking") or "", block.get("signature") or None)
    if kind == "redacted_thinking":
        return ThinkingPart(redacted=block.get("data"))
    unsupported.append((f"{where}.type", f"content block type '{kind}' has no equivalent in this upstream's protocol"))
    return None


def _result_content(content: object, where: str, unsupported) -> list[TextPart | ImagePart]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    if not isinstance(content, list):
        raise invalid(f"{where}: must be a string or an array of blocks.", where)
    parts = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"], cache_mark(block, f"{where}.{j}")))
        elif kind == "image":
            parts.append(_image(block.get("source"), f"{where}.{j}.source", cache_mark(block, f"{where}.{j}")))
        elif kind in ("document", "search_result", "tool_reference"):
            unsupported.append((f"{where}.{j}.type", f"tool result block type '{kind}' has no equivalent"))
        else:
            raise invalid(f"{where}.{j}.type: '{kind}' is not a valid tool result block type.", f"{where}.{j}.type")
    return parts


def _image(source: object, where: str, cache: CacheMark | None = None) -> ImagePart:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source.get("data"), str) and isinstance(source.get("media_type"), str):
        return ImagePart(data=source["data"], media_type=source["media_type"], cache=cache)
    if kind == "url" and isinstance(source.get("url"), str):
        return ImagePart(url=source["url"], cache=cache)
    raise invalid(f"{where}: an image source must be {{type: base64, media_type, data}} or {{type: url, url}}.", where)


def _tools(raw: object, unsupported: list[tuple[str, str]]) -> list[ToolDefinition]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("tools: must be an array.", "tools")
    tools = []
    for i, tool in enumerate(raw):
        where = f"tools.{i}"
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise invalid(f"{where}.name: Field required.", f"{where}.name")
        if tool.get("type") not in (None, "custom"):  # server tools (web_search_..., bash_..., ...)
            unsupported.append((f"{where}.type", f"server tool '{tool['type']}' runs only on Anthropic's side"))
            continue
        if tool.get("defer_loading"):
            continue  # loaded on demand through Anthropic's tool search, which other upstreams lack: dropped
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise invalid(f"{where}.input_schema: Field required (a JSON Schema object).", f"{where}.input_schema")
        tools.append(ToolDefinition(tool["name"], tool.get("description"), schema, tool.get("strict"),
                                    cache_mark(tool, where)))
    return tools


def _tool_choice(raw: object) -> tuple[ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise invalid("tool_choice: must be an object.", "tool_choice")
    kind = raw.get("type")
    parallel = False if raw.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return ToolChoice("auto"), parallel
    if kind == "any":
        return ToolChoice("required"), parallel
    if kind == "none":
        return ToolChoice("none"), parallel
    if kind == "tool" and isinstance(raw.get("name"), str):
        return ToolChoice("tool", raw["name"]), parallel
    raise invalid("tool_choice.type: must be 'auto', 'any', 'tool' (with a name) or 'none'.", "tool_choice")


def _response_format(fmt: object) -> ResponseFormat | None:
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return ResponseFormat("json_schema", fmt["schema"], "output", True)
    return None


def _number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise invalid(f"{name}: must be a number.", name)
    return value


def _integer(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid(f"{name}: must be an integer.", name)
    return value


def _end_user(user_id: object) -> str | None:
    """`metadata.user_id` as OpenAI's `user`: as it is when it is a short id, else its SHA-256. Claude Code's is a
    JSON string holding its device, account and session ids, which an OpenAI-compatible provider need not
    see; OpenAI asks for a hashed identifier there anyway."""
    if not isinstance(user_id, str) or not user_id:
        return None
    return user_id if len(user_id) <= MAX_PLAIN_USER else hashlib.sha256(user_id.encode()).hexdigest()


MAX_PLAIN_USER = 64


def _turn_effort(messages: object) -> dict:
    """Claude Code's per-turn control: a `role: "system"` message may carry `output_config.effort` for the turns
    from it on; the latest one holds for this call."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "system" and isinstance(message.get("output_config"), dict):
            effort = message["output_config"].get("effort")
            if isinstance(effort, str):
                return {"effort": effort}
    return {}
