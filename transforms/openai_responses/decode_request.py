"""OpenAI Responses request body -> neutral `ChatRequest` (the client side).

Built-in tools the bridge cannot run upstream (`web_search`, `file_search`,
`namespace`, ...) are dropped and listed in `request.dropped`, so the proxy
can log them rather than fail (Codex sends some on every call).
"""

from __future__ import annotations

from transforms.openai_responses.prompt_cache_breakpoint import breakpoint_mark, request_ttl_s
from transforms.errors import invalid
from transforms.ir import (
    ChatRequest, ImagePart, Message, ResponseFormat, TextPart, ThinkingPart, ToolCallPart, ToolChoice, ToolDefinition,
    ToolResultPart,
)
from transforms.json_body import parse_json_object
from transforms.openai_chat.decode_response import parse_arguments

IGNORED = frozenset({"store", "include", "client_metadata", "metadata", "service_tier",
                     "truncation", "safety_identifier", "background", "stream_options", "top_logprobs", "prompt_cache_retention"})
KNOWN = frozenset({"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
                   "temperature", "top_p", "reasoning", "text", "stream", "user", "previous_response_id", "conversation",
                   "prompt_cache_key", "prompt_cache_options"}) | IGNORED


def decode_responses_request(body: bytes | dict) -> ChatRequest:
    if not isinstance(body, dict):
        body = parse_json_object(bytes(body))
    unsupported = [(k, f"unknown parameter '{k}'") for k in body if k not in KNOWN]
    for stateful in ("previous_response_id", "conversation"):
        if body.get(stateful):
            unsupported.append((stateful, f"'{stateful}' needs state stored upstream; send the whole input with store: false"))
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("Missing required parameter: 'model'.", "model")
    system: list[str] = []
    system_cache: dict = {}
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        system.append(body["instructions"])
    messages = _input(body.get("input"), system, system_cache, request_ttl_s(body))
    tools, dropped = _tools(body.get("tools"))
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    fmt = ((body.get("text") or {}).get("format") or {}) if isinstance(body.get("text"), dict) else {}
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise invalid("Invalid 'max_output_tokens': expected an integer of at least 1.", "max_output_tokens")
    return ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls") if isinstance(body.get("parallel_tool_calls"), bool) else None,
        max_tokens=max_tokens,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        user=body.get("user") if isinstance(body.get("user"), str) else None,
        reasoning_effort=reasoning.get("effort") if reasoning.get("effort") in ("minimal", "low", "medium", "high", "xhigh", "none") else None,
        response_format=ResponseFormat("json_schema", fmt.get("schema"), fmt.get("name"), fmt.get("strict"))
        if fmt.get("type") == "json_schema" else ResponseFormat("json_object") if fmt.get("type") == "json_object" else None,
        stream=bool(body.get("stream")),
        include_usage=True,
        unsupported=unsupported,
        dropped=dropped,
        system_cache=system_cache,
        prompt_cache_key=body.get("prompt_cache_key") if isinstance(body.get("prompt_cache_key"), str) else None,
    )


def _input(raw: object, system: list[str], system_cache: dict, ttl_s: int | None) -> list[Message]:
    if isinstance(raw, str):
        return [Message("user", [TextPart(raw)])]
    if not isinstance(raw, list) or not raw:
        raise invalid("Invalid 'input': expected a string or a non-empty array of input items.", "input")
    messages: list[Message] = []

    def add(role: str, part) -> None:
        if messages and messages[-1].role == role and role == "assistant":
            messages[-1].parts.append(part)  # a turn's reasoning, text and calls arrive as separate items
        else:
            messages.append(Message(role, [part]))

    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"Invalid '{where}': expected an object.", where)
        kind = item.get("type", "message")
        if kind in ("item_reference", "compaction", "compaction_trigger"):
            continue  # left for a Responses upstream (passthrough); for any other, the bridge resolved or refused them
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                parts = _content(item.get("content"), where, ttl_s)
                system.append("".join(p.text for p in parts if isinstance(p, TextPart)))
                if (mark := next((p.cache for p in reversed(parts) if p.cache is not None), None)) is not None:
                    system_cache[len(system) - 1] = mark
            elif role in ("user", "assistant"):
                for part in _content(item.get("content"), where, ttl_s):
                    add(role, part)
            else:
                raise invalid(f"Invalid '{where}.role': expected user, assistant, system or developer.", f"{where}.role")
        elif kind == "function_call":
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
                raise invalid(f"Missing '{where}.call_id' or '{where}.name'.", where)
            add("assistant", ToolCallPart(item["call_id"], item["name"], parse_arguments(item.get("arguments"))))
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise invalid(f"Missing '{where}.call_id'.", f"{where}.call_id")
            output = item.get("output")
            content = _content(output, where, ttl_s) if isinstance(output, list) else [TextPart(output if isinstance(output, str) else "")]
            messages.append(Message("user", [ToolResultPart(item["call_id"], content)]))
        elif kind == "reasoning":
            summary = "\n\n".join(s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict))
            add("assistant", ThinkingPart(summary, item.get("encrypted_content"), None, item.get("id")))
        else:
            raise invalid(f"Invalid '{where}.type': '{kind}' is not an input item the bridge can translate.", f"{where}.type")
    return messages


def _content(content: object, where: str, ttl_s: int | None = None) -> list:
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    if not isinstance(content, list):
        raise invalid(f"Invalid '{where}.content': expected a string or an array of content parts.", f"{where}.content")
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        mark = breakpoint_mark(part, ttl_s, f"{where}.content[{j}]") if kind is not None else None
        if kind in ("input_text", "output_text", "text"):
            parts.append(TextPart(part.get("text") or "", mark))
        elif kind == "refusal":
            parts.append(TextPart(part.get("refusal") or ""))
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            url = part["image_url"]
            if url.startswith("data:"):
                header, _, data = url[5:].partition(",")
                parts.append(ImagePart(data=data, media_type=header.partition(";")[0], cache=mark))
            else:
                parts.append(ImagePart(url=url, cache=mark))
        else:
            raise invalid(f"Invalid '{where}.content[{j}].type': '{kind}' is not supported.", f"{where}.content[{j}].type")
    return parts


def _tools(raw: object) -> tuple[list[ToolDefinition], list[str]]:
    tools, dropped = [], []
    for i, tool in enumerate(raw or ()):
        if not isinstance(tool, dict):
            raise invalid(f"Invalid 'tools[{i}]': expected an object.", f"tools[{i}]")
        if tool.get("type") == "function" and isinstance(tool.get("name"), str):
            tools.append(ToolDefinition(tool["name"], tool.get("description"), tool.get("parameters"), tool.get("strict")))
        else:
            dropped.append(f"tools[{i}] ({tool.get('type')}{' ' + tool['name'] if isinstance(tool.get('name'), str) else ''})")
    return tools, dropped


def _tool_choice(raw: object) -> ToolChoice | None:
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw)
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("name"), str):
        return ToolChoice("tool", raw["name"])
    return None
