"""A readable transcript of one LLM API body, for people reading a flow (mitmweb's content views).

`transcript(protocol, kind, body)` reads a request, a whole response or a streamed response (SSE, or
Bedrock's binary AWS event-stream) in the wire format of `protocol` and writes it out as lines:

    request: model claude-sonnet-4-5 · max_tokens 1024 · stream
    tools: get_weather
    system: Be brief.
    user: What is this?
      [image image/png, 95 B]
    assistant: Let me check.
      [tool call get_weather, id call_1] {"city":"Paris"}
    user: [tool result for call_1] 18°C, sunny
    stop reason: end_turn
    usage: input 36 · output 5 · cached 0

A stream is folded into the message it builds (text deltas joined, each tool call's argument deltas
joined) rather than listed event by event. Signatures and encrypted reasoning are shortened to their
first 12 characters; inline data (images, documents) becomes a placeholder with its media type and size.

The field names are the ones the codecs read (transforms/<protocol>/decode_*.py). Pure: no I/O, and it
never raises on a body it cannot read: such a body gives a one-line note. Only an unknown protocol
name or kind is an error (ValueError).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json

from transforms.sse import SSEDecoder

SIGNATURE_CHARS = 12
URL_CHARS = 100
# wire formats that are another protocol's: Azure OpenAI speaks OpenAI Chat, Bedrock Anthropic Messages
ALIASES = {"azure": "openai-chat", "bedrock": "anthropic"}
KINDS = frozenset({"request", "response"})


def transcript(protocol: str, kind: str, body: bytes, *, streamed: bool | None = None) -> str:
    """The readable transcript of `body`; see the module's docstring."""
    wire = ALIASES.get(protocol, protocol)
    if wire not in _READERS:
        raise ValueError(f"unknown protocol {protocol!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be 'request' or 'response', not {kind!r}")
    try:
        return _transcript(wire, kind, bytes(body or b""), streamed)
    except Exception as exc:  # noqa: BLE001 - a view must never fail on odd input
        return f"(could not read this {protocol} {kind}: {type(exc).__name__}: {_clip(str(exc), 200)})"


def _transcript(wire: str, kind: str, body: bytes, streamed: bool | None) -> str:
    if not body.strip():
        return f"(empty {kind} body)"
    request, response, stream = _READERS[wire]
    if kind == "request":
        data = _json_or_none(body)
        if data is None:
            return f"(not a JSON request body: {_describe(body)})"
        if not isinstance(data, dict):
            return f"(not a JSON object: {_clip(_compact(data), 80)})"
        return _join(request(data))
    if _is_event_stream(body):
        events, note = _event_stream_events(body)
        return _join(_stream_lines(stream, events, [note]))
    if streamed or (streamed is None and _looks_like_sse(body)):
        decoder = SSEDecoder()
        events = [*decoder.feed(body), *decoder.close()]
        return _join(_stream_lines(stream, [(e.event, e.data) for e in events], []))
    data = _json_or_none(body)
    if data is None:
        return f"(not a JSON response body: {_describe(body)})"
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        # Gemini's streamGenerateContent without alt=sse: a JSON array of responses
        return _join(_stream_lines(stream, [(None, json.dumps(d).encode()) for d in data], ["JSON array stream"]))
    if not isinstance(data, dict):
        return f"(not a JSON object: {_clip(_compact(data), 80)})"
    return _join(response(data))


def stream_events(body: bytes) -> list[tuple[str | None, bytes]]:
    """The events of a streamed body as (event name, data): SSE, or the Anthropic events inside Bedrock's
    binary AWS event-stream frames. Never raises: bytes it cannot read give no event."""
    try:
        body = bytes(body or b"")
        if _is_event_stream(body):
            return _event_stream_events(body)[0]
        decoder = SSEDecoder()
        return [(e.event, e.data) for e in (*decoder.feed(body), *decoder.close())]
    except Exception:  # noqa: BLE001
        return []


def _stream_lines(stream, events: list[tuple[str | None, bytes]], notes: list[str]) -> list[str]:
    parsed: list[tuple[str | None, object]] = []
    unreadable = 0
    for name, data in events:
        if data.strip() == b"[DONE]":
            parsed.append((name, "[DONE]"))
            continue
        value = _json_or_none(data)
        if value is None:
            unreadable += 1
        else:
            parsed.append((name, value))
    count = len(events)
    if not parsed:
        if not count:
            return ["(a stream without any event)"]
        return [f"(a stream of {_plural(count, 'event')}, none of them JSON)"]
    head = f"stream: {_plural(count, 'event')}"
    for note in notes:
        if note:
            head += f" ({note})"
    if unreadable:
        head += f", {unreadable} not JSON"
    return [head, *stream(parsed)]


# --- shared formatting -------------------------------------------------------------------------


class _Pieces(list):
    """The deltas of one streamed string, held in its place until `_Deltas.join` joins them."""


class _Deltas:
    """Streamed deltas joined once at the end. `obj[key] = obj[key] + delta` copies the whole value at every
    event, quadratic over a long stream; `add` keeps the pieces in a list held in `obj[key]` instead. A
    value set in the meantime (a `.done` event, a part replaced) replaces the pieces, and the next delta
    continues that value, as the concatenation would."""

    def __init__(self) -> None:
        self._held: list[tuple[dict, object]] = []

    def add(self, obj: dict, key: object, text: str) -> None:
        value = obj.get(key)
        if isinstance(value, _Pieces):
            value.append(text)
        else:
            obj[key] = _Pieces((str(value or ""), text))
            self._held.append((obj, key))

    def join(self) -> None:
        for obj, key in self._held:
            value = obj.get(key)
            if isinstance(value, _Pieces):
                obj[key] = "".join(value)
        self._held.clear()


def _join(lines: list[str]) -> str:
    text = "\n".join(line for line in lines if line is not None)
    return text if text.strip() else "(nothing to show)"


def _message(role: str, parts: list[str]) -> list[str]:
    """`role: first part`, each further part on a line of its own indented by 2, and the further lines
    of a part of several lines indented by 4 (so they cannot be taken for the next part)."""
    parts = [p for p in parts if p is not None and p != ""]
    if not parts:
        return [f"{role}: (empty)"]
    lines: list[str] = []
    for i, part in enumerate(parts):
        sub = str(part).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lines.append(f"{role}: {sub[0]}" if i == 0 else f"  {sub[0]}")
        lines.extend(f"    {s}" if s.strip() else "" for s in sub[1:])
    return lines


def _safe_message(role: object, render, *args) -> list[str]:
    try:
        return _message(str(role), render(*args))
    except Exception as exc:  # noqa: BLE001
        return [f"{role}: (unreadable: {type(exc).__name__}: {_clip(str(exc), 120)})"]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(signature: object) -> str:
    text = signature if isinstance(signature, str) else _compact(signature)
    return text if len(text) <= SIGNATURE_CHARS else text[:SIGNATURE_CHARS] + "…"


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _arguments(value: object) -> str:
    """Tool arguments as compact JSON: objects as they are, JSON strings re-encoded, other text kept."""
    if isinstance(value, str):
        try:
            return _compact(json.loads(value)) if value.strip() else "{}"
        except ValueError:
            return value
    return _compact(value if value is not None else {})


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def _b64_size(data: object) -> str:
    if not isinstance(data, str):
        return "no data"
    data = data.strip()
    return _size(max(len(data) * 3 // 4 - (len(data) - len(data.rstrip("="))), 0))


def _media(kind: str, media_type: object = None, data: object = None, url: object = None) -> str:
    """`[image image/png, 12.3 KB]`, `[image url https://…]`: inline data as a size, never as its bytes."""
    if isinstance(url, str) and url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        return _media(kind, header.partition(";")[0] or media_type, payload)
    label = f"[{kind}"
    if isinstance(media_type, str) and media_type:
        label += f" {media_type}"
    if isinstance(url, str):
        return f"{label}{',' if label != f'[{kind}' else ''} url {_clip(url, URL_CHARS)}]"
    return f"{label}, {_b64_size(data)}]"


def _call(name: object, call_id: object, arguments: object, *, label: str = "tool call", extra: str = "") -> str:
    head = f"[{label} {name or '?'}"
    if call_id:
        head += f", id {call_id}"
    return f"{head}{extra}] {_arguments(arguments)}"


def _result(call_id: object, content: str, *, error: bool = False, label: str = "tool result") -> str:
    head = f"[{label} for {call_id or '?'}{' (error)' if error else ''}]"
    return f"{head} {content}" if content else head


def _thinking(text: object, signature: object = None, *, label: str = "thinking") -> str:
    head = f"[{label}"
    if signature:
        head += f", signature {_short(signature)}"
    head += "]"
    return f"{head} {text}" if isinstance(text, str) and text else head


def _head(label: str, items: list[tuple[str, object]]) -> str | None:
    """`request: model X · max_tokens 1024 · stream`: the values present, in order."""
    shown = []
    for name, value in items:
        if value is None or value is False or value == "":
            continue
        shown.append(name if value is True else f"{name} {value if isinstance(value, (str, int, float)) else _compact(value)}")
    return f"{label}: {' · '.join(shown)}" if shown else None


def _tools_line(names: list[str]) -> str | None:
    return f"tools: {', '.join(names)}" if names else None


def _usage(pairs: list[tuple[str, object]]) -> str | None:
    shown = [f"{name} {value}" for name, value in pairs if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return f"usage: {' · '.join(shown)}" if shown else None


def _error_line(error: object) -> str:
    """`error: rate_limit_error: message` from any envelope the protocols use."""
    if isinstance(error, dict) and isinstance(error.get("error"), (dict, str)):
        error = error["error"]  # {"error": {...}} or Anthropic's {"type": "error", "error": {...}}
    if isinstance(error, str):
        return f"error: {error}"
    if not isinstance(error, dict):
        return f"error: {_clip(_compact(error), 300)}"
    if isinstance(error.get("Error"), dict):  # ByteDance's ResponseMetadata.Error
        error = {"code": error["Error"].get("Code"), "message": error["Error"].get("Message")}
    kinds = [str(error[k]) for k in ("type", "status", "code") if error.get(k) not in (None, "")]
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = _clip(_compact(error), 300)
    return f"error: {' · '.join(dict.fromkeys(kinds))}: {message}" if kinds else f"error: {message}"


def _json_or_none(data: bytes | str) -> object:
    try:
        return json.loads(data)
    except (ValueError, TypeError, RecursionError):
        return None


def _describe(body: bytes) -> str:
    text = body[:60].decode("utf-8", "replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if not text or printable < len(text) * 0.8:
        return f"{_size(len(body))} of binary data"
    return f"{_size(len(body))}: {_clip(' '.join(text.split()), 50)!r}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _looks_like_sse(body: bytes) -> bool:
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:200]
    if head[:1] in (b"{", b"["):
        return False
    return head.startswith((b"data:", b"event:", b":", b"id:", b"retry:")) or b"\ndata:" in body[:4096]


def _is_event_stream(body: bytes) -> bool:
    """AWS binary event-stream framing (Bedrock's streamed answers)."""
    if len(body) < 16:
        return False
    total = int.from_bytes(body[0:4], "big")
    headers = int.from_bytes(body[4:8], "big")
    return 16 <= total <= len(body) and headers <= total - 16 and (
        b":message-type" in body[12: 12 + headers] or b":event-type" in body[12: 12 + headers])


def _event_stream_events(body: bytes) -> tuple[list[tuple[str | None, bytes]], str]:
    """Bedrock frames -> the Anthropic stream events inside them (an exception frame -> an `error` event)."""
    events: list[tuple[str | None, bytes]] = []
    offset = frames = 0
    while offset + 16 <= len(body):
        total = int.from_bytes(body[offset: offset + 4], "big")
        header_length = int.from_bytes(body[offset + 4: offset + 8], "big")
        if total < 16 or offset + total > len(body) or header_length > total - 16:
            break
        headers = _frame_headers(body[offset + 12: offset + 12 + header_length])
        payload = body[offset + 12 + header_length: offset + total - 4]
        offset += total
        frames += 1
        value = _json_or_none(payload)
        if headers.get(":message-type") == "event" and isinstance(value, dict) and isinstance(value.get("bytes"), str):
            try:
                events.append((headers.get(":event-type"), base64.b64decode(value["bytes"])))
            except (binascii.Error, ValueError):
                events.append((None, payload))
        else:
            kind = headers.get(":exception-type") or headers.get(":error-code") or headers.get(":event-type") or "exception"
            message = value.get("message") if isinstance(value, dict) else payload.decode("utf-8", "replace")
            error = {"type": "error", "error": {"type": kind, "message": message or headers.get(":error-message", "")}}
            events.append(("error", json.dumps(error).encode()))
    note = f"AWS event-stream, {_plural(frames, 'frame')}"
    if offset < len(body):
        note += f", {_size(len(body) - offset)} unreadable"
    return events, note


_HEADER_SIZES = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


def _frame_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    i = 0
    while i < len(raw):
        name_length = raw[i]
        name = raw[i + 1: i + 1 + name_length].decode("utf-8", "replace")
        i += 1 + name_length
        kind = raw[i] if i < len(raw) else 0
        i += 1
        if kind in (6, 7):
            length = int.from_bytes(raw[i: i + 2], "big")
            value = raw[i + 2: i + 2 + length]
            i += 2 + length
            if kind == 7:
                headers[name] = value.decode("utf-8", "replace")
        elif kind in _HEADER_SIZES:
            i += _HEADER_SIZES[kind]
        else:
            break
    return headers


def _text_of(content: object) -> str:
    """Text from a string or from a list of text parts (any protocol's)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "" if content is None else _compact(content)


# --- OpenAI Chat Completions (also Azure OpenAI) --------------------------------------------------


def _chat_request(body: dict) -> list[str]:
    lines = [_head("request", [
        ("model", body.get("model")),
        ("max_tokens", body.get("max_completion_tokens", body.get("max_tokens"))),
        ("reasoning_effort", body.get("reasoning_effort")),
        ("stream", body.get("stream") is True),
        ("tool_choice", body.get("tool_choice")),
    ])]
    lines.append(_tools_line([_chat_tool_name(t) for t in body.get("tools") or () if isinstance(t, dict)]))
    messages = body.get("messages")
    if not isinstance(messages, list):
        lines.append("(no messages)")
        return lines
    for message in messages:
        if not isinstance(message, dict):
            lines.append(f"(unreadable message: {_clip(_compact(message), 80)})")
            continue
        lines.extend(_safe_message(message.get("role") or "?", _chat_parts, message))
    return lines


def _chat_tool_name(tool: dict) -> str:
    function = tool.get("function") if isinstance(tool.get("function"), dict) else {}
    name = function.get("name") or tool.get("name")
    kind = tool.get("type")
    if kind in (None, "function"):
        return str(name or "?")
    return f"{name} ({kind})" if name else str(kind)


def _chat_parts(message: dict) -> list[str]:
    parts: list[str] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(_thinking(reasoning, label="reasoning"))
    if message.get("role") == "tool":
        content = "\n".join(_chat_content(message.get("content")))
        return [*parts, _result(message.get("tool_call_id"), content)]
    if message.get("role") == "function":
        return [*parts, _result(message.get("name"), _text_of(message.get("content")), label="function result")]
    parts.extend(_chat_content(message.get("content")))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(f"[refusal] {message['refusal']}")
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            custom = call.get("custom") if isinstance(call.get("custom"), dict) else None
            if custom is not None:
                parts.append(_call(custom.get("name"), call.get("id"), custom.get("input"), label="custom tool call"))
            else:
                parts.append(_call(function.get("name"), call.get("id"), function.get("arguments")))
    if isinstance(message.get("function_call"), dict):  # the deprecated single call
        parts.append(_call(message["function_call"].get("name"), None, message["function_call"].get("arguments")))
    return parts


def _chat_content(content: object) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return [_compact(content)]
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append(str(part.get("text") or ""))
        elif kind == "refusal":
            parts.append(f"[refusal] {part.get('refusal') or ''}")
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media("image", url=url if isinstance(url, str) else ""))
        elif kind == "input_audio":
            audio = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
            parts.append(_media("audio", audio.get("format"), audio.get("data")))
        elif kind == "file":
            file = part.get("file") if isinstance(part.get("file"), dict) else {}
            if file.get("file_data"):
                parts.append(_media("file", file.get("filename"), url=file["file_data"]) if str(file["file_data"]).startswith("data:")
                             else _media("file", file.get("filename"), file.get("file_data")))
            else:
                parts.append(f"[file {file.get('file_id') or file.get('filename') or '?'}]")
        else:
            parts.append(f"[{kind or 'unknown'} part]")
    return parts


def _chat_response(body: dict) -> list[str]:
    lines: list[str] = []
    if body.get("error"):
        lines.append(_error_line(body))
    elif "choices" not in body and isinstance(body.get("message"), str):
        lines.append(_error_line(body))
    if "choices" not in body and lines:
        return lines
    lines.append(_head("response", [("model", body.get("model")), ("id", body.get("id"))]))
    choices = [c for c in body.get("choices") or () if isinstance(c, dict)]
    for choice in choices:
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        role = str(message.get("role") or "assistant")
        if len(choices) > 1:
            role += f" (choice {choice.get('index', choices.index(choice))})"
        lines.extend(_safe_message(role, _chat_parts, message))
    for choice in choices:
        if choice.get("finish_reason"):
            which = f" (choice {choice.get('index')})" if len(choices) > 1 else ""
            stop = f" ({choice['stop_reason']})" if isinstance(choice.get("stop_reason"), str) else ""
            lines.append(f"finish reason{which}: {choice['finish_reason']}{stop}")
    if not choices:
        lines.append("(no choices)")
    lines.append(_chat_usage(body.get("usage")))
    return lines


def _chat_usage(usage: object) -> str | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    completion = usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) else {}
    return _usage([("input", usage.get("prompt_tokens")), ("output", usage.get("completion_tokens")),
                   ("cached", prompt.get("cached_tokens")), ("reasoning", completion.get("reasoning_tokens")),
                   ("total", usage.get("total_tokens"))])


def _chat_stream(events: list[tuple[str | None, object]]) -> list[str]:
    body: dict = {}
    choices: dict[int, dict] = {}
    errors: list[str] = []
    deltas = _Deltas()
    done = False
    for _, chunk in events:
        if chunk == "[DONE]":
            done = True
            continue
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error") and not chunk.get("choices"):
            errors.append(_error_line(chunk))
            continue
        for key in ("id", "model"):
            if chunk.get(key) and key not in body:
                body[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            body["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0) if isinstance(choice.get("index", 0), int) else 0
            state = choices.setdefault(index, {"index": index, "message": {"role": "assistant"}, "_calls": {}})
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            message = state["message"]
            if isinstance(delta.get("role"), str):
                message["role"] = delta["role"]
            for key in ("content", "reasoning_content", "reasoning", "refusal"):
                if isinstance(delta.get(key), str):
                    deltas.add(message, key, delta[key])
            for call in delta.get("tool_calls") or ():
                if not isinstance(call, dict):
                    continue
                pending = state["_calls"].setdefault(call.get("index", len(state["_calls"])),
                                                     {"id": None, "function": {"name": "", "arguments": ""}})
                function = call.get("function") if isinstance(call.get("function"), dict) else {}
                pending["id"] = pending["id"] or call.get("id")
                pending["function"]["name"] = pending["function"]["name"] or function.get("name") or ""
                if isinstance(function.get("arguments"), str):
                    deltas.add(pending["function"], "arguments", function["arguments"])
            if choice.get("finish_reason"):
                state["finish_reason"] = choice["finish_reason"]
                if choice.get("stop_reason") is not None:
                    state["stop_reason"] = choice["stop_reason"]
    deltas.join()
    for state in choices.values():
        calls = state.pop("_calls")
        if calls:
            state["message"]["tool_calls"] = [calls[k] for k in sorted(calls, key=str)]
    body["choices"] = [choices[k] for k in sorted(choices)]
    lines = _chat_response(body) if choices or "usage" in body or not errors else []
    lines.extend(errors)
    if not done and not errors and not any(c.get("finish_reason") for c in choices.values()):
        lines.append("(the stream ended without a finish reason or [DONE])")
    return lines


# --- Anthropic Messages (also Bedrock) ---------------------------------------------------------


def _anthropic_request(body: dict) -> list[str]:
    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else None
    thinking_text = None
    if thinking is not None:
        thinking_text = str(thinking.get("type"))
        if thinking.get("budget_tokens"):
            thinking_text += f" (budget {thinking['budget_tokens']})"
    effort = (body.get("output_config") or {}).get("effort") if isinstance(body.get("output_config"), dict) else None
    lines = [_head("request", [
        ("model", body.get("model")),
        ("max_tokens", body.get("max_tokens")),
        ("thinking", thinking_text),
        ("effort", effort),
        ("stream", body.get("stream") is True),
        ("tool_choice", body.get("tool_choice")),
        ("anthropic_version", body.get("anthropic_version")),
    ])]
    lines.append(_tools_line([_anthropic_tool_name(t) for t in body.get("tools") or () if isinstance(t, dict)]))
    system = body.get("system")
    if system:
        lines.extend(_message("system", [_text_of(system)]))
    _each_message(lines, body.get("messages"), "message", "?", "content", _anthropic_content)
    return lines


def _each_message(lines: list[str], items: object, noun: str, role: str, content_key: str, render) -> None:
    """Each message of a conversation, its role (or `role` when it has none) and its content rendered."""
    if not isinstance(items, list):
        lines.append(f"(no {noun}s)")
        return
    for item in items:
        if not isinstance(item, dict):
            lines.append(f"(unreadable {noun}: {_clip(_compact(item), 80)})")
            continue
        lines.extend(_safe_message(item.get("role") or role, render, item.get(content_key)))


def _anthropic_tool_name(tool: dict) -> str:
    name, kind = tool.get("name"), tool.get("type")
    if kind in (None, "custom"):
        return str(name or "?")
    return f"{name} ({kind})" if name else str(kind)


def _each_part(content: object, render) -> list[str]:
    """A message's content: a string is its text, a list its parts (each rendered), anything else shown as is."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return [] if content is None else [_compact(content)]
    return [render(part) for part in content]


def _anthropic_content(content: object) -> list[str]:
    return _each_part(content, _anthropic_block)


def _anthropic_block(block: object) -> str:
    if not isinstance(block, dict):
        return _compact(block)
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind in ("image", "document"):
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        source_kind = source.get("type")
        if source_kind == "url":
            return _media(kind, url=source.get("url"))
        if source_kind == "file":
            return f"[{kind} file {source.get('file_id')}]"
        if source_kind == "text":
            return f"[{kind} text, {_plural(len(str(source.get('data') or '')), 'char')}]"
        if source_kind == "content":
            return f"[{kind} content, {_plural(len(source.get('content') or ()), 'block')}]"
        return _media(kind, source.get("media_type"), source.get("data"))
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        label = {"tool_use": "tool call", "server_tool_use": "server tool call"}.get(kind, "mcp tool call")
        return _call(block.get("name"), block.get("id"), block.get("input"), label=label)
    if kind in ("tool_result", "mcp_tool_result"):
        return _result(block.get("tool_use_id"), "\n".join(_anthropic_content(block.get("content"))),
                       error=bool(block.get("is_error")))
    if kind == "thinking":
        return _thinking(block.get("thinking"), block.get("signature"))
    if kind == "redacted_thinking":
        return f"[redacted thinking, data {_short(block.get('data') or '')}]"
    if kind == "search_result":
        return f"[search result {block.get('title') or block.get('source') or ''}]"
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        content = block.get("content")
        size = f", {_plural(len(content), 'item')}" if isinstance(content, list) else ""
        return f"[{kind} for {block.get('tool_use_id') or '?'}{size}]"
    return f"[{kind or 'unknown'} block]"


def _anthropic_response(body: dict) -> list[str]:
    if body.get("type") == "error" or (body.get("error") and "content" not in body):
        return [_error_line(body)]
    lines = [_head("response", [("model", body.get("model")), ("id", body.get("id"))])]
    lines.extend(_safe_message(body.get("role") or "assistant", _anthropic_content, body.get("content") or []))
    if body.get("stop_reason"):
        stop = body["stop_reason"]
        if body.get("stop_sequence"):
            stop += f" ({_compact(body['stop_sequence'])})"
        lines.append(f"stop reason: {stop}")
    lines.append(_anthropic_usage(body.get("usage")))
    return lines


def _anthropic_usage(usage: object) -> str | None:
    if not isinstance(usage, dict):
        return None
    return _usage([("input", usage.get("input_tokens")), ("output", usage.get("output_tokens")),
                   ("cached", usage.get("cache_read_input_tokens")),
                   ("cache write", usage.get("cache_creation_input_tokens"))])


def _anthropic_stream(events: list[tuple[str | None, object]]) -> list[str]:
    message: dict = {}
    blocks: dict[int, dict] = {}
    partial: dict[int, str] = {}
    usage: dict = {}
    errors: list[str] = []
    deltas = _Deltas()
    finished = False
    for _, data in events:
        if not isinstance(data, dict):
            continue
        kind = data.get("type")
        if kind == "message_start" and isinstance(data.get("message"), dict):
            message = {k: v for k, v in data["message"].items() if k != "content"}
            usage.update(message.get("usage") or {})
        elif kind == "content_block_start" and isinstance(data.get("content_block"), dict):
            blocks[data.get("index", len(blocks))] = dict(data["content_block"])
        elif kind == "content_block_delta" and isinstance(data.get("delta"), dict):
            index = data.get("index", 0)
            block = blocks.setdefault(index, {"type": "text", "text": ""})
            delta = data["delta"]
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                deltas.add(block, "text", str(delta.get("text") or ""))
            elif delta_type == "input_json_delta":
                deltas.add(partial, index, str(delta.get("partial_json") or ""))
            elif delta_type == "thinking_delta":
                deltas.add(block, "thinking", str(delta.get("thinking") or ""))
            elif delta_type == "signature_delta":
                deltas.add(block, "signature", str(delta.get("signature") or ""))
        elif kind == "message_delta":
            delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
            for key in ("stop_reason", "stop_sequence"):
                if delta.get(key) is not None:
                    message[key] = delta[key]
            usage.update(data.get("usage") or {})
            finished = True
        elif kind == "message_stop":
            finished = True
        elif kind == "error":
            errors.append(_error_line(data))
    deltas.join()
    for index, text in partial.items():
        if text:
            blocks[index]["input"] = text  # shown as compact JSON when it parses, as sent when not
    message["content"] = [blocks[k] for k in sorted(blocks, key=lambda k: (not isinstance(k, int), k if isinstance(k, int) else 0))]
    message["usage"] = usage or None
    message.pop("type", None)
    lines = _anthropic_response(message) if message["content"] or len(message) > 2 or not errors else []
    lines.extend(errors)
    if not finished and not errors:
        lines.append("(the stream ended before message_delta / message_stop)")
    return lines


# --- OpenAI Responses ----------------------------------------------------------------------------


def _responses_request(body: dict) -> list[str]:
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    lines = [_head("request", [
        ("model", body.get("model")),
        ("max_output_tokens", body.get("max_output_tokens")),
        ("reasoning", reasoning.get("effort")),
        ("stream", body.get("stream") is True),
        ("tool_choice", body.get("tool_choice")),
        ("previous_response_id", body.get("previous_response_id")),
    ])]
    lines.append(_tools_line([_responses_tool_name(t) for t in body.get("tools") or () if isinstance(t, dict)]))
    if body.get("instructions"):
        lines.extend(_message("instructions", [_text_of(body["instructions"])]))
    items = body.get("input")
    if isinstance(items, str):
        lines.extend(_message("user", [items]))
    elif isinstance(items, list):
        for item in items:
            lines.extend(_responses_item(item))
    else:
        lines.append("(no input)")
    return lines


def _responses_tool_name(tool: dict) -> str:
    name, kind = tool.get("name"), tool.get("type")
    if kind == "function":
        return str(name or "?")
    return f"{name} ({kind})" if name else str(kind)


def _responses_item(item: object, *, default_role: str = "user") -> list[str]:
    if not isinstance(item, dict):
        return [f"(unreadable item: {_clip(_compact(item), 80)})"]
    kind = item.get("type", "message")
    if kind == "message":
        return _safe_message(item.get("role") or default_role, _responses_content, item.get("content"))
    if kind == "function_call":
        return _message("assistant", [_call(item.get("name"), item.get("call_id"), item.get("arguments"))])
    if kind == "custom_tool_call":
        return _message("assistant", [_call(item.get("name"), item.get("call_id"), item.get("input"), label="custom tool call")])
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        content = "\n".join(_responses_content(output)) if isinstance(output, list) else _text_of(output)
        return _message("tool", [_result(item.get("call_id"), content)])
    if kind == "reasoning":
        summary = "\n\n".join(s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict))
        if not summary:  # raw reasoning text (open-weight models), when there is no summary
            summary = "\n\n".join(s.get("text", "") for s in item.get("content") or () if isinstance(s, dict))
        return _message("assistant", [_thinking(summary, item.get("encrypted_content"), label="reasoning")])
    if kind == "item_reference":
        return [f"[item_reference {item.get('id')}]"]
    status = f" ({item['status']})" if isinstance(item.get("status"), str) else ""
    return _message("assistant", [f"[{kind}{status}]"])


def _responses_content(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return [] if content is None else [_compact(content)]
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            parts.append(str(part.get("text") or ""))
        elif kind == "refusal":
            parts.append(f"[refusal] {part.get('refusal') or ''}")
        elif kind == "input_image":
            url = part.get("image_url")
            parts.append(_media("image", url=url) if isinstance(url, str) else f"[image file {part.get('file_id')}]")
        elif kind == "input_file":
            data = part.get("file_data")
            if isinstance(data, str):
                parts.append(_media("file", part.get("filename"), url=data) if data.startswith("data:")
                             else _media("file", part.get("filename"), data))
            else:
                parts.append(f"[file {part.get('file_id') or part.get('file_url') or part.get('filename') or '?'}]")
        elif kind == "input_audio":
            audio = part.get("input_audio") if isinstance(part.get("input_audio"), dict) else {}
            parts.append(_media("audio", audio.get("format"), audio.get("data")))
        else:
            parts.append(f"[{kind or 'unknown'} part]")
    return parts


def _responses_response(body: dict) -> list[str]:
    if isinstance(body.get("response"), dict) and "output" not in body:
        body = body["response"]  # a lone response.completed event, handed in whole
    if body.get("error") and "output" not in body and "object" not in body:
        return [_error_line(body)]
    lines = [_head("response", [("model", body.get("model")), ("id", body.get("id"))])]
    for item in body.get("output") or ():
        lines.extend(_responses_item(item, default_role="assistant"))
    status = body.get("status")
    if status:
        details = body.get("incomplete_details") if isinstance(body.get("incomplete_details"), dict) else {}
        lines.append(f"status: {status}{' (' + str(details['reason']) + ')' if details.get('reason') else ''}")
    if body.get("error"):
        lines.append(_error_line(body["error"]))
    usage = body.get("usage")
    if isinstance(usage, dict):
        inputs = usage.get("input_tokens_details") if isinstance(usage.get("input_tokens_details"), dict) else {}
        outputs = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else {}
        lines.append(_usage([("input", usage.get("input_tokens")), ("output", usage.get("output_tokens")),
                             ("cached", inputs.get("cached_tokens")), ("reasoning", outputs.get("reasoning_tokens")),
                             ("total", usage.get("total_tokens"))]))
    return lines


def _responses_stream(events: list[tuple[str | None, object]]) -> list[str]:
    response: dict = {}
    final: dict | None = None
    items: dict[int, dict] = {}
    by_id: dict[str, int] = {}
    errors: list[str] = []
    deltas = _Deltas()

    def item_for(data: dict) -> dict:
        index = data.get("output_index")
        if not isinstance(index, int):
            index = by_id.get(data.get("item_id"), len(items))
        return items.setdefault(index, {"type": "message", "role": "assistant", "content": []})

    def part_for(item: dict, key: str, index: object, kind: str) -> dict:
        parts = item.setdefault(key, [])
        if not isinstance(parts, list):
            parts = item[key] = []
        index = index if isinstance(index, int) else 0
        while len(parts) <= index:
            parts.append({"type": kind, "text": ""})
        return parts[index]

    for name, data in events:
        if not isinstance(data, dict):
            continue
        kind = data.get("type") or name
        if kind in ("response.created", "response.in_progress", "response.queued") and isinstance(data.get("response"), dict):
            response = dict(data["response"])
        elif kind == "response.output_item.added" and isinstance(data.get("item"), dict):
            index = data.get("output_index") if isinstance(data.get("output_index"), int) else len(items)
            items[index] = dict(data["item"])
            if isinstance(data["item"].get("id"), str):
                by_id[data["item"]["id"]] = index
        elif kind == "response.output_item.done" and isinstance(data.get("item"), dict):
            index = data.get("output_index") if isinstance(data.get("output_index"), int) else by_id.get(data["item"].get("id"), len(items))
            items[index] = dict(data["item"])
        elif kind == "response.content_part.added" and isinstance(data.get("part"), dict):
            item = item_for(data)
            part = part_for(item, "content", data.get("content_index"), data["part"].get("type") or "output_text")
            part.update(data["part"])
        elif kind == "response.output_text.delta":
            part = part_for(item_for(data), "content", data.get("content_index"), "output_text")
            deltas.add(part, "text", str(data.get("delta") or ""))
        elif kind == "response.refusal.delta":
            part = part_for(item_for(data), "content", data.get("content_index"), "refusal")
            part["type"] = "refusal"
            deltas.add(part, "refusal", str(data.get("delta") or ""))
        elif kind == "response.function_call_arguments.delta":
            item = item_for(data)
            deltas.add(item, "arguments", str(data.get("delta") or ""))
        elif kind == "response.function_call_arguments.done" and isinstance(data.get("arguments"), str):
            item_for(data)["arguments"] = data["arguments"]
        elif kind == "response.reasoning_summary_part.added":
            part_for(item_for(data), "summary", data.get("summary_index"), "summary_text")
        elif kind == "response.reasoning_summary_text.delta":
            part = part_for(item_for(data), "summary", data.get("summary_index"), "summary_text")
            deltas.add(part, "text", str(data.get("delta") or ""))
        elif kind == "response.reasoning_text.delta":
            part = part_for(item_for(data), "content", data.get("content_index"), "reasoning_text")
            deltas.add(part, "text", str(data.get("delta") or ""))
        elif kind in ("response.completed", "response.incomplete", "response.failed") and isinstance(data.get("response"), dict):
            final = dict(data["response"])
        elif kind == "error":
            errors.append(_error_line(data if "error" in data else {k: v for k, v in data.items() if k != "type"}))
    deltas.join()
    body = final if final is not None else response
    if not body.get("output"):
        body["output"] = [items[k] for k in sorted(items)]
    lines = _responses_response(body) if body.get("output") or final is not None or not errors else []
    lines.extend(errors)
    if final is None and not errors:
        lines.append("(the stream ended before response.completed)")
    return lines


# --- Gemini --------------------------------------------------------------------------------------


def _g(obj: object, camel: str, default=None):
    """Gemini takes camelCase and snake_case field names alike."""
    if not isinstance(obj, dict):
        return default
    if camel in obj:
        return obj[camel]
    return obj.get(_snake(camel), default)


@functools.cache
def _snake(camel: str) -> str:
    """`thoughtSignature` -> `thought_signature`, worked out once per name (a stream asks for every chunk)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _gemini_request(body: dict) -> list[str]:
    config = _g(body, "generationConfig") if isinstance(_g(body, "generationConfig"), dict) else {}
    thinking = _g(config, "thinkingConfig") if isinstance(_g(config, "thinkingConfig"), dict) else {}
    thinking_text = None
    if thinking:
        shown = [f"{k} {v}" for k, v in (("budget", _g(thinking, "thinkingBudget")), ("level", _g(thinking, "thinkingLevel")))
                 if v is not None]
        if _g(thinking, "includeThoughts"):
            shown.append("thoughts included")
        thinking_text = ", ".join(shown) or None
    lines = [_head("request", [
        ("model", body.get("model")),
        ("maxOutputTokens", _g(config, "maxOutputTokens")),
        ("thinking", thinking_text),
        ("stream", body.get("stream") is True),
    ])]
    names: list[str] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        declarations = _g(tool, "functionDeclarations")
        if isinstance(declarations, list):
            names.extend(str(d.get("name") or "?") for d in declarations if isinstance(d, dict))
        names.extend(key for key in tool if key not in ("functionDeclarations", "function_declarations"))
    lines.append(_tools_line(names))
    system = _g(body, "systemInstruction")
    if system:
        lines.extend(_message("system", ["\n".join(_gemini_parts(_g(system, "parts") if isinstance(system, dict) else system))]))
    _each_message(lines, body.get("contents"), "content", "user", "parts", _gemini_parts)
    return lines


def _gemini_parts(parts: object) -> list[str]:
    return _each_part(parts, _gemini_part)


def _gemini_part(part: object) -> str:
    if not isinstance(part, dict):
        return _compact(part)
    signature = _g(part, "thoughtSignature")
    extra = f", signature {_short(signature)}" if signature else ""
    if _g(part, "functionCall"):
        call = _g(part, "functionCall")
        return _call(call.get("name"), call.get("id"), call.get("args") if "args" in call else call.get("partialArgs"),
                     extra=extra)
    if _g(part, "functionResponse"):
        response = _g(part, "functionResponse")
        who = response.get("id") or response.get("name")
        label = f"tool result {response.get('name')}" if response.get("id") else "tool result"
        return _result(who, _arguments(response.get("response")), label=label)
    if _g(part, "inlineData"):
        data = _g(part, "inlineData")
        mime = _g(data, "mimeType") or ""
        kind = mime.split("/")[0] if mime.split("/")[0] in ("image", "audio", "video") else "file"
        return _media(kind, mime, data.get("data"))
    if _g(part, "fileData"):
        data = _g(part, "fileData")
        return _media("file", _g(data, "mimeType"), url=str(_g(data, "fileUri") or ""))
    if _g(part, "executableCode"):
        code = _g(part, "executableCode")
        return f"[code {code.get('language') or ''}]\n{code.get('code') or ''}"
    if _g(part, "codeExecutionResult"):
        result = _g(part, "codeExecutionResult")
        return f"[code result {result.get('outcome') or ''}]\n{result.get('output') or ''}"
    if part.get("thought"):
        return _thinking(part.get("text"), signature, label="thought")
    if "text" in part:
        text = str(part.get("text") or "")
        return f"{text} [signature {_short(signature)}]" if signature else text
    return f"[{', '.join(part) or 'empty'} part]"


def _gemini_response(body: dict) -> list[str]:
    if body.get("error"):
        return [_error_line(body)]
    lines = [_head("response", [("model", body.get("modelVersion")), ("id", body.get("responseId"))])]
    candidates = [c for c in body.get("candidates") or () if isinstance(c, dict)]
    for candidate in candidates:
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        role = str(content.get("role") or "model")
        if len(candidates) > 1:
            role += f" (candidate {candidate.get('index', candidates.index(candidate))})"
        lines.extend(_safe_message(role, _gemini_parts, content.get("parts") or []))
    for candidate in candidates:
        if candidate.get("finishReason"):
            which = f" (candidate {candidate.get('index')})" if len(candidates) > 1 else ""
            message = f" ({candidate['finishMessage']})" if candidate.get("finishMessage") else ""
            lines.append(f"finish reason{which}: {candidate['finishReason']}{message}")
    feedback = _g(body, "promptFeedback")
    if isinstance(feedback, dict) and _g(feedback, "blockReason"):
        lines.append(f"blocked: {_g(feedback, 'blockReason')}")
    usage = _g(body, "usageMetadata")
    if isinstance(usage, dict):
        lines.append(_usage([("input", _g(usage, "promptTokenCount")), ("output", _g(usage, "candidatesTokenCount")),
                             ("cached", _g(usage, "cachedContentTokenCount")), ("thoughts", _g(usage, "thoughtsTokenCount")),
                             ("total", _g(usage, "totalTokenCount"))]))
    return lines


def _gemini_stream(events: list[tuple[str | None, object]]) -> list[str]:
    body: dict = {}
    parts: list[dict] = []
    errors: list[str] = []
    deltas = _Deltas()
    finished = False
    for _, chunk in events:
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            errors.append(_error_line(chunk))
            continue
        for key in ("modelVersion", "responseId"):
            if chunk.get(key) and key not in body:
                body[key] = chunk[key]
        for key in ("usageMetadata", "promptFeedback"):
            if _g(chunk, key):
                body[key] = _g(chunk, key)  # cumulative: the last one counts
        candidate = next((c for c in chunk.get("candidates") or () if isinstance(c, dict)), {})
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        for part in content.get("parts") or ():
            if isinstance(part, dict):
                _gemini_fold(parts, part, deltas)
        if candidate.get("finishReason"):
            body["finishReason"] = candidate["finishReason"]
            finished = True
    deltas.join()
    candidate = {"content": {"role": "model", "parts": parts}}
    if body.get("finishReason"):
        candidate["finishReason"] = body.pop("finishReason")
    body["candidates"] = [candidate]
    lines = _gemini_response(body) if parts or finished or not errors else []
    lines.extend(errors)
    if not finished and not errors and not _g(body, "promptFeedback"):
        lines.append("(the stream ended without a finishReason)")
    return lines


def _gemini_fold(parts: list[dict], part: dict, deltas: _Deltas) -> None:
    """Append one streamed part: text (or thought text) continues the previous part of its kind."""
    text = part.get("text")
    is_text = isinstance(text, str) and not any(_g(part, k) for k in ("functionCall", "inlineData", "fileData"))
    last = parts[-1] if parts else None
    if is_text and last is not None and "text" in last and bool(last.get("thought")) == bool(part.get("thought")):
        deltas.add(last, "text", text)
        if _g(part, "thoughtSignature"):
            last["thoughtSignature"] = _g(part, "thoughtSignature")
        return
    if is_text and not text and _g(part, "thoughtSignature") and last is not None:
        last["thoughtSignature"] = _g(part, "thoughtSignature")  # an empty part that only carries a signature
        return
    if is_text and not text:
        return
    parts.append(dict(part))


# --- Trae (best effort: an IDE backend's chat body and its SSE events) ----------------------------


def _trae_request(body: dict) -> list[str]:
    lines = [_head("request", [("model", body.get("model_name")), ("stream", body.get("stream") is True),
                    ("session", body.get("session_id"))])]
    for item in body.get("chat_history") or ():
        if isinstance(item, dict):
            lines.extend(_message(str(item.get("role") or "?"), [_text_of(item.get("content"))]))
    if "user_input" in body:
        lines.extend(_message("user", [_text_of(body.get("user_input"))]))
    return lines


def _trae_response(body: dict) -> list[str]:
    return [_error_line(body.get("ResponseMetadata") or body)]


def _trae_stream(events: list[tuple[str | None, object]]) -> list[str]:
    text, reasoning, errors = [], [], []
    finish, completion_id, usage = None, None, None
    for name, data in events:
        if not isinstance(data, dict):
            continue
        if name == "output":
            if isinstance(data.get("reasoning_content"), str):
                reasoning.append(data["reasoning_content"])
            if isinstance(data.get("response"), str):
                text.append(data["response"])
            finish = data.get("finish_reason") or finish
        elif name == "metadata":
            completion_id = data.get("prompt_completion_id")
        elif name == "done":
            finish = data.get("finish_reason") or finish or "done"
        elif name == "error":
            errors.append(_error_line(data.get("ResponseMetadata") or data))
        if isinstance(data.get("usage"), dict):
            usage = data["usage"]
    lines = [_head("response", [("model", None), ("id", completion_id)])] if completion_id else []
    parts = ([_thinking("".join(reasoning), label="reasoning")] if "".join(reasoning) else []) + ["".join(text)]
    if "".join(text) or "".join(reasoning):
        lines.extend(_message("assistant", parts))
    if finish:
        lines.append(f"finish reason: {finish}")
    if usage:
        lines.append(_usage([("input", usage.get("prompt_tokens", usage.get("input_tokens"))),
                             ("output", usage.get("completion_tokens", usage.get("output_tokens")))]))
    lines.extend(errors)
    return lines


_READERS = {
    "openai-chat": (_chat_request, _chat_response, _chat_stream),
    "anthropic": (_anthropic_request, _anthropic_response, _anthropic_stream),
    "openai-responses": (_responses_request, _responses_response, _responses_stream),
    "gemini": (_gemini_request, _gemini_response, _gemini_stream),
    "trae": (_trae_request, _trae_response, _trae_stream),
}
