"""Neutral `ChatRequest` -> Gemini generateContent request body (the upstream side).

Roles become `user` / `model`; tool results become `functionResponse` parts
named after the call they answer; tool schemas are always cleaned to the
OpenAPI subset Gemini accepts; each call's thought signature (carried in its
id, see call_ids) goes back on its part.
"""

from __future__ import annotations

from transforms.prompt_cache import has_marks
from transforms.anthropic.thinking_budget import BUDGET_BY_EFFORT
from transforms.errors import invalid
from transforms.gemini.call_ids import unpack
from transforms.ir import ChatRequest, ImagePart, Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from transforms.json_schema_cleaning import clean_tool_schema
from transforms.upstream_options import UpstreamOptions

MODE = {"auto": "AUTO", "required": "ANY", "none": "NONE", "tool": "ANY"}


def encode_gemini_request(request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions()) -> dict:
    if request.unsupported:
        field, reason = request.unsupported[0]
        raise invalid(f"{field}: {reason}; a Gemini upstream cannot take it, so the request was not sent.", field)
    if has_marks(request):
        request.dropped.append("cache breakpoints (Gemini caches repeated prefixes by itself)")
    names = {p.id: p.name for m in request.messages for p in m.parts if isinstance(p, ToolCallPart)}
    contents: list[dict] = []
    for message in request.messages:
        content = _content(message, names)
        if content is None:
            continue
        if contents and contents[-1]["role"] == content["role"]:
            # Gemini wants a turn's function responses (and any text) in one content
            contents[-1]["parts"].extend(content["parts"])
        else:
            contents.append(content)
    body: dict = {"contents": contents}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(request.system)}]}
    config: dict = {}
    limit = options.limit(request.max_tokens)
    if limit is not None:
        config["maxOutputTokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        if (value := getattr(request, ours)) is not None:
            config[theirs] = value
    if request.stop:
        config["stopSequences"] = request.stop
    effort = request.reasoning_effort
    if effort == "none":
        config["thinkingConfig"] = {"thinkingBudget": 0}
    elif effort and "no-reasoning-effort" not in options.quirks:
        config["thinkingConfig"] = {"thinkingBudget": BUDGET_BY_EFFORT[effort], "includeThoughts": True}
    fmt = request.response_format
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        if fmt.schema is not None:
            config["responseSchema"] = clean_tool_schema(fmt.schema, level="gemini")
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": [
            {"name": t.name, **({"description": t.description} if t.description else {}),
             "parameters": clean_tool_schema(t.parameters, level="gemini")}
            for t in request.tools]}]
        choice = request.tool_choice
        if choice is not None:
            calling: dict = {"mode": MODE[choice.mode]}
            if choice.mode == "tool":
                calling["allowedFunctionNames"] = [choice.name]
            body["toolConfig"] = {"functionCallingConfig": calling}
    return body


def _content(message: Message, names: dict[str, str]) -> dict | None:
    parts: list[dict] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, ImagePart):
            if part.data is not None:
                parts.append({"inlineData": {"mimeType": part.media_type, "data": part.data}})
            else:
                parts.append({"fileData": {"mimeType": _guess_mime(part.url), "fileUri": part.url}})
        elif isinstance(part, ToolCallPart):
            call_id, signature = unpack(part.id)
            encoded: dict = {"functionCall": {"name": part.name, "args": part.arguments}}
            if signature:
                encoded["thoughtSignature"] = signature
            parts.append(encoded)
        elif isinstance(part, ToolResultPart):
            text = "".join(p.text for p in part.content if isinstance(p, TextPart))
            name = names.get(part.tool_call_id)
            if name is None:
                raise invalid(f"The tool result for '{part.tool_call_id}' answers no earlier tool call; Gemini needs the function's name.",
                              "messages")
            key = "error" if part.is_error else "content"
            parts.append({"functionResponse": {"name": name, "response": {key: text}}})
        elif isinstance(part, ThinkingPart):
            continue  # thought text is not sent back; signatures travel on the calls
    if not parts:
        return None
    if message.role == "assistant":
        _vouch_for_foreign_calls(parts)
    return {"role": "model" if message.role == "assistant" else "user", "parts": parts}


# Google's documented placeholder for function calls Gemini did not make itself (history from another model,
# or a client that lost the signature): Gemini 3 refuses a step whose first call carries no signature.
FOREIGN_CALL_SIGNATURE = "skip_thought_signature_validator"


def _vouch_for_foreign_calls(parts: list[dict]) -> None:
    first_call = next((part for part in parts if "functionCall" in part), None)
    if first_call is not None and "thoughtSignature" not in first_call:
        first_call["thoughtSignature"] = FOREIGN_CALL_SIGNATURE


def _guess_mime(url: str | None) -> str:
    lowered = (url or "").lower()
    for ending, mime in ((".png", "image/png"), (".gif", "image/gif"), (".webp", "image/webp")):
        if lowered.endswith(ending):
            return mime
    return "image/jpeg"
