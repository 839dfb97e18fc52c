"""Gemini generateContent request body -> neutral `ChatRequest` (the client side).

The model and whether to stream come from the URL; the proxy glue passes
them in as `model` and `stream` alongside the body's own fields.
"""

from __future__ import annotations

import orjson

from transforms.errors import invalid
from transforms.gemini.call_ids import unpack, from_gemini_signature, pack
from transforms.ir import (
    ChatRequest, ImagePart, Message, ResponseFormat, TextPart, ThinkingPart, ToolCallPart, ToolChoice, ToolDefinition,
    ToolResultPart,
)
from transforms.json_body import parse_json_object

# budget -> neutral effort (the inverse of the budget table; 0 turns thinking off)
def _effort(budget: int | None) -> str | None:
    if budget is None or budget < 0:  # -1: dynamic thinking
        return "medium" if budget == -1 else None
    if budget == 0:
        return "none"
    return "low" if budget <= 4096 else "medium" if budget <= 16384 else "high"


def _answered_call(given: object, waiting: list[str], name: str) -> str:
    """The id of the call a functionResponse answers, as the call's id was decoded: a call's id may carry
    its thought signature (call_ids.pack), which the client's functionResponse id does not repeat."""
    if isinstance(given, str) and given:
        for index, call_id in enumerate(waiting):
            if call_id == given or unpack(call_id)[0] == given:
                return waiting.pop(index)
        return given
    return waiting.pop(0) if waiting else f"call_{name}"


def _level(level: object) -> str | None:
    """Gemini 3's thinkingLevel (LOW, MEDIUM, HIGH, MINIMAL; any case) as a reasoning effort."""
    if not isinstance(level, str):
        return None
    effort = level.strip().lower()
    return effort if effort in ("minimal", "low", "medium", "high") else None


def _get(obj: object, camel: str, default=None):
    """The Gemini API takes camelCase and snake_case field names alike (the Python SDK mixes them)."""
    if not isinstance(obj, dict):
        return default
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake, default)


def decode_gemini_request(body: bytes | dict) -> ChatRequest:
    if not isinstance(body, dict):
        body = parse_json_object(bytes(body))
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("* GenerateContentRequest.model: a model is required in the URL.", "model")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified", "contents")
    system = _texts(_get(_get(body, "systemInstruction", {}), "parts"))
    messages: list[Message] = []
    pending_ids: dict[str, list[str]] = {}  # function name -> call ids waiting for a response, in order
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise invalid(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.", where)
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise invalid(f"* GenerateContentRequest.{where}.role: Please use a valid role: user, model.", f"{where}.role")
        parts = [p for j, part in enumerate(content["parts"]) if (p := _part(part, f"{where}.parts[{j}]", i, j, pending_ids)) is not None]
        messages.append(Message("assistant" if role == "model" else "user", parts))
    config = _get(body, "generationConfig", {}) or {}
    thinking = _get(config, "thinkingConfig", {}) or {}
    tools = [ToolDefinition(d["name"], d.get("description"), d.get("parameters") or _get(d, "parametersJsonSchema"))
             for t in body.get("tools") or () for d in (_get(t, "functionDeclarations") or ())]
    calling = _get(_get(body, "toolConfig", {}), "functionCallingConfig", {}) or {}
    choice = None
    if calling.get("mode") == "ANY":
        names = _get(calling, "allowedFunctionNames") or []
        choice = ToolChoice("tool", names[0]) if len(names) == 1 else ToolChoice("required")
    elif calling.get("mode") in ("AUTO", "NONE"):
        choice = ToolChoice(calling["mode"].lower())
    schema = _get(config, "responseSchema") or _get(config, "responseJsonSchema")
    fmt = None
    if _get(config, "responseMimeType") == "application/json":
        fmt = ResponseFormat("json_schema", schema, "output", False) if schema else ResponseFormat("json_object")
    return ChatRequest(
        model=model, messages=messages, system=system, tools=tools, tool_choice=choice,
        max_tokens=_get(config, "maxOutputTokens"), temperature=config.get("temperature"), top_p=_get(config, "topP"),
        top_k=_get(config, "topK"), stop=list(_get(config, "stopSequences") or []),
        # a budget or a level switches thinking on; `includeThoughts` alone only asks to be shown what the model
        # thinks anyway (the Gemini CLI always sends it), so it asks for no reasoning of an upstream
        reasoning_effort=_effort(_get(thinking, "thinkingBudget")) or _level(_get(thinking, "thinkingLevel")),
        response_format=fmt, stream=bool(body.get("stream")), include_usage=True,
        client_options={"sse": bool(body.get("alt_sse", True))},
    )


def _texts(parts: object) -> list[str]:
    return [p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]]


def _part(part: object, where: str, content_index: int, part_index: int, pending: dict[str, list[str]]):
    if not isinstance(part, dict):
        raise invalid(f"* GenerateContentRequest.{where}: a part must be an object.", where)
    if _get(part, "functionCall"):
        call = _get(part, "functionCall")
        call_id = pack(call.get("id") or f"call_c{content_index}p{part_index}", _get(part, "thoughtSignature"))
        pending.setdefault(call.get("name") or "", []).append(call_id)
        return ToolCallPart(call_id, call.get("name") or "", call.get("args") or {})
    if _get(part, "functionResponse"):
        response = _get(part, "functionResponse")
        name = response.get("name") or ""
        call_id = _answered_call(response.get("id"), pending.get(name) or [], name)
        payload = response.get("response")
        text = payload.get("content", payload.get("output")) if isinstance(payload, dict) else payload
        if not isinstance(text, str):
            text = orjson.dumps(payload).decode()
        return ToolResultPart(call_id, [TextPart(text)], isinstance(payload, dict) and "error" in payload)
    if _get(part, "inlineData"):
        data = _get(part, "inlineData")
        return ImagePart(data=data.get("data"), media_type=_get(data, "mimeType"))
    if _get(part, "fileData"):
        return ImagePart(url=_get(_get(part, "fileData"), "fileUri"))
    if part.get("thought"):
        return ThinkingPart(part.get("text") or "", from_gemini_signature(_get(part, "thoughtSignature")))
    if "text" in part:
        return TextPart(part["text"]) if part["text"] else None
    raise invalid(f"* GenerateContentRequest.{where}: required oneof field 'data' must have one initialized field", where)
