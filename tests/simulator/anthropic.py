"""Anthropic Messages API (`POST /v1/messages`): request checks and reply rendering.

Wire format per the Messages and Streaming docs: errors are
`{"type":"error","error":{"type","message"},"request_id"}`; a stream is message_start, ping,
content_block_start / *_delta / content_block_stop per block, message_delta, message_stop,
each written as `event: NAME\\ndata: JSON\\n\\n`.

Prompt caching, after Anthropic's prompt-caching guide (see `prompt_cache.py`): `cache_control:
{"type": "ephemeral", "ttl"?: "5m"|"1h"}` may sit on tools, system blocks and message content blocks
(also inside a tool_result's content). More than four answer 400 "A maximum of 4 blocks with
cache_control may be provided. Found N.", a 1h one after a 5m one (order: tools, system, messages)
400 too. A block counts ceil(len(its canonical JSON without cache_control) / 4) tokens. Entries are
kept per API key and model for their TTL from their last use; a prefix under
`context.prompt_cache.min_tokens` (1024) is not stored. For each breakpoint the 20 block boundaries
ending at it are checked for a prefix written earlier; the longest hit is `cache_read_input_tokens`,
everything after it up to the last breakpoint is `cache_creation_input_tokens` (split into
`cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens` by the TTL of the breakpoint
closing each stretch) and is stored at every breakpoint, and `input_tokens` is what follows the last
breakpoint. Only requests carrying a `cache_control` get these computed numbers (in message_start,
message_delta and whole messages; count_tokens then answers their sum); the others keep the
scenario's usage.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from . import scenarios
from .common import Context, Failure, Rejected, dumps, invalid, key_matches
from .prompt_cache import Block, canonical, prefixes
from .http import Request, Response, StreamEvent, StreamingResponse
from .scenarios import Conversation, Reply, TextPart, ThinkingPart, ToolCallPart, Usage, WebSearchPart

IMAGE_MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
# Block types a request may carry; the ones not checked in detail are accepted as they are.
BLOCK_TYPES = {
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
}
TOOL_RESULT_BLOCKS = {"text", "image", "document", "search_result", "tool_reference"}
ASSISTANT_ONLY_BLOCKS = {"tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def handle(request: Request, context: Context) -> Response | StreamingResponse:
    request_id = f"req_sim_{context.next_number():06d}"
    try:
        _authenticate(request, context)
        body = request.json
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        validate(body, strict_turns=context.strict_turns)
        blocks = cache_blocks(body)
        plan = scenarios.plan(conversation(body, request.body))
    except Rejected as rejected:
        return error_response(rejected.failure, request_id)

    if isinstance(plan.outcome, Failure):
        return error_response(plan.outcome, request_id)
    reply, model = plan.outcome, body["model"]
    if blocks is not None and (body.get("stream") or not reply.midstream_error):
        reply = replace(reply, usage=settle_cache(blocks, model, _given_key(request), context).applied_to(reply.usage))
    message_id = f"msg_sim_{context.next_number():06d}"
    if body.get("stream"):
        headers = {**_headers(request_id, "text/event-stream; charset=utf-8"), "cache-control": "no-cache"}
        events = stream_events(reply, message_id, model)
        return StreamingResponse(200, headers, events, plan.delay_s, plan.split, reply.disconnect)
    if reply.midstream_error:
        return error_response(Failure(529, "overloaded_error", "simulated overloaded_error"), request_id)
    return Response(200, _headers(request_id, "application/json"), dumps(message(reply, message_id, model)))


def count_tokens(request: Request, context: Context) -> Response:
    """POST /v1/messages/count_tokens: the same deterministic count `message_start` reports."""
    request_id = f"req_sim_{context.next_number():06d}"
    try:
        _authenticate(request, context)
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            raise invalid("count_tokens needs 'model' and 'messages'")
        blocks = cache_blocks(body) if _has_cache_marks(body) else None
    except Rejected as rejected:
        return error_response(rejected.failure, request_id)
    # With cache marks: the whole prompt as the prompt-cache model counts it (input + cache read + creation).
    count = sum(block.tokens for block in blocks) if blocks else len(request.body) // 4 + 1
    return Response(200, _headers(request_id, "application/json"), dumps({"input_tokens": count}))


def thinking_signature(thinking: str) -> str:
    """The signature the simulator issues for a thinking text (and checks when it comes back).

    Shaped like the real opaque base64 signatures; binds the text as the real one does, so a
    bridge that alters or drops thinking on the way back gets the real API's 400.
    """
    digest = hashlib.sha256(b"llm-simulator thinking\0" + thinking.encode()).digest()
    return base64.b64encode(b"\x12\x30sim" + digest + digest[:11]).decode()


# --- responses -------------------------------------------------------------------------------


def _headers(request_id: str, content_type: str) -> dict[str, str]:
    return {"content-type": content_type, "request-id": request_id}


def error_response(failure: Failure, request_id: str) -> Response:
    body = {"type": "error", "error": {"type": failure.kind, "message": failure.message}, "request_id": request_id}
    headers = _headers(request_id, "application/json")
    # The real API tells its SDKs whether a retry may help.
    headers["x-should-retry"] = "true" if failure.status in (408, 409, 429) or failure.status >= 500 else "false"
    if failure.status == 429:
        headers["retry-after"] = "7"
    return Response(failure.status, headers, dumps(body))


def not_found_response(request_id: str) -> Response:
    return error_response(Failure(404, "not_found_error", "Not Found"), request_id)


def _full_usage(usage: Usage, output_tokens: int, *, final: bool = True) -> dict:
    """The usage object of a Message; message_start has it too, before any server tool ran."""
    full = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_creation_input_tokens - usage.cache_creation_long_ttl_tokens,
            "ephemeral_1h_input_tokens": usage.cache_creation_long_ttl_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    if usage.web_search_requests and final:
        full["server_tool_use"] = {"web_search_requests": usage.web_search_requests}
    return full


def _delta_usage(usage: Usage) -> dict:
    """message_delta usage: final output count, input counts repeated as the real API does."""
    delta = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.web_search_requests:
        delta["server_tool_use"] = {"web_search_requests": usage.web_search_requests}
    return delta


def _tool_use_id(part: ToolCallPart) -> str:
    return f"toolu_sim_{part.ordinal:02d}"


def _server_tool_use_id(part: WebSearchPart) -> str:
    return f"srvtoolu_sim_{part.ordinal:02d}"


def _search_results(part: WebSearchPart) -> list[dict]:
    return [
        {
            "type": "web_search_result",
            "title": title,
            "url": url,
            "encrypted_content": base64.b64encode(f"sim:{url}".encode()).decode(),
            "page_age": "1 day ago",
        }
        for title, url in part.results
    ]


def _content_blocks(part) -> list[dict]:
    """The finished content block(s) of a part, as in a non-streamed Message."""
    match part:
        case TextPart():
            return [{"type": "text", "text": part.text()}]
        case ThinkingPart():
            return [{"type": "thinking", "thinking": part.text(), "signature": thinking_signature(part.text())}]
        case ToolCallPart():
            return [{"type": "tool_use", "id": _tool_use_id(part), "name": part.name, "input": part.arguments}]
        case WebSearchPart():
            server_id = _server_tool_use_id(part)
            return [
                {"type": "server_tool_use", "id": server_id, "name": "web_search", "input": {"query": part.query}},
                {"type": "web_search_tool_result", "tool_use_id": server_id, "content": _search_results(part)},
            ]
    raise TypeError(f"unknown part {part!r}")


def message(reply: Reply, message_id: str, model: str) -> dict:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block for part in reply.parts for block in _content_blocks(part)],
        "stop_reason": str(reply.stop),
        "stop_sequence": reply.stop_sequence,
        "usage": _full_usage(reply.usage, reply.usage.output_tokens),
    }


def _sse(event: dict) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + dumps(event) + b"\n\n"


def _block_events(parts) -> Iterator[tuple[str, StreamEvent]]:
    """("start" | "delta" | "stop", event) for every content block of the parts, in order."""
    index = 0

    def start(block: dict) -> tuple[str, bytes]:
        return "start", _sse({"type": "content_block_start", "index": index, "content_block": block})

    def delta(payload: dict) -> tuple[str, bytes]:
        return "delta", _sse({"type": "content_block_delta", "index": index, "delta": payload})

    def stop() -> tuple[str, bytes]:
        return "stop", _sse({"type": "content_block_stop", "index": index})

    for part in parts:
        match part:
            case TextPart():
                yield start({"type": "text", "text": ""})
                for text in part.deltas:
                    if callable(text):  # rendered when sent, so `timed` stamps are send times
                        yield (
                            "delta",
                            lambda index=index, text=text: _sse(
                                {
                                    "type": "content_block_delta",
                                    "index": index,
                                    "delta": {"type": "text_delta", "text": text()},
                                }
                            ),
                        )
                    else:
                        yield delta({"type": "text_delta", "text": text})
                yield stop()
            case ThinkingPart():
                yield start({"type": "thinking", "thinking": "", "signature": ""})
                for text in part.deltas:
                    yield delta({"type": "thinking_delta", "thinking": text})
                yield delta({"type": "signature_delta", "signature": thinking_signature(part.text())})
                yield stop()
            case ToolCallPart():
                yield start({"type": "tool_use", "id": _tool_use_id(part), "name": part.name, "input": {}})
                for fragment in ("", *part.fragments):  # the real API opens with an empty fragment
                    yield delta({"type": "input_json_delta", "partial_json": fragment})
                yield stop()
            case WebSearchPart():
                server_id = _server_tool_use_id(part)
                yield start({"type": "server_tool_use", "id": server_id, "name": "web_search", "input": {}})
                for fragment in ("", *part.fragments):
                    yield delta({"type": "input_json_delta", "partial_json": fragment})
                yield stop()
                index += 1
                yield start(
                    {"type": "web_search_tool_result", "tool_use_id": server_id, "content": _search_results(part)}
                )
                yield stop()
        index += 1


def stream_events(reply: Reply, message_id: str, model: str) -> list[StreamEvent]:
    opening = message(reply, message_id, model)
    opening.update(content=[], stop_reason=None, stop_sequence=None, usage=_full_usage(reply.usage, 1, final=False))
    events: list[StreamEvent] = [_sse({"type": "message_start", "message": opening})]
    ping = _sse({"type": "ping"})
    pinged = False
    for kind, event in _block_events(reply.parts):
        if reply.midstream_error and kind == "stop":
            # The first block's deltas went out; now fail mid-block, as an overloaded upstream does.
            error = {"type": "overloaded_error", "message": "simulated overloaded mid-stream"}
            return [*events, _sse({"type": "error", "error": error})]
        events.append(event)
        if kind == "start" and not pinged:
            events.append(ping)  # the real API pings right after the first block opens
            pinged = True
    if not pinged:
        events.append(ping)
    events.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": str(reply.stop), "stop_sequence": reply.stop_sequence},
                "usage": _delta_usage(reply.usage),
            }
        )
    )
    events.append(_sse({"type": "message_stop"}))
    return events


# --- request checks ----------------------------------------------------------------------------


def _authenticate(request: Request, context: Context) -> None:
    # The docs' classic header is x-api-key; current docs and SDKs (2.x) send the same key as a
    # bearer token, so both are accepted.
    key = request.headers.get("x-api-key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not key and scheme.lower() == "bearer":
        key = token.strip()
    if not key:
        raise Rejected(Failure(401, "authentication_error", "x-api-key header is required"))
    if not key_matches(key, context.anthropic_key):
        raise Rejected(Failure(401, "authentication_error", "invalid x-api-key"))
    if not request.headers.get("anthropic-version"):
        raise invalid("anthropic-version: header is required")


def _given_key(request: Request) -> str:
    """The API key the request authenticated with (x-api-key, or a bearer token)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return request.headers.get("x-api-key") or (token.strip() if scheme.lower() == "bearer" else "")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_str(obj: dict, key: str, path: str) -> str:
    if key not in obj:
        raise invalid(f"{path}: Field required")
    if not isinstance(obj[key], str):
        raise invalid(f"{path}: Input should be a valid string")
    return obj[key]


def validate(body: dict, *, strict_turns: bool = True) -> None:
    """Raise a 400 `Rejected` for requests the real API refuses, naming the field."""
    _require_str(body, "model", "model")
    if "max_tokens" not in body:
        raise invalid("max_tokens: Field required")
    if not _is_int(body["max_tokens"]):
        raise invalid("max_tokens: Input should be a valid integer")
    if body["max_tokens"] < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream: Input should be a valid boolean")
    _validate_system(body.get("system"))
    _validate_sampling(body)
    _validate_stop_sequences(body.get("stop_sequences"))
    _validate_metadata(body.get("metadata"))
    _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"))
    thinking_enabled = _validate_thinking(body)
    _validate_messages(body.get("messages"), strict_turns=strict_turns, thinking_enabled=thinking_enabled)


def _validate_system(system) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a list of text blocks")
    for number, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid(f"system.{number}.type: Input should be 'text'")
        _require_str(block, "text", f"system.{number}.text")


def _validate_sampling(body: dict) -> None:
    for name in ("temperature", "top_p"):
        if name in body and body[name] is not None:
            value = body[name]
            if not _is_number(value):
                raise invalid(f"{name}: Input should be a valid number")
            if not 0 <= value <= 1:
                raise invalid(f"{name}: Input should be between 0 and 1")
    if body.get("top_k") is not None and (not _is_int(body["top_k"]) or body["top_k"] < 0):
        raise invalid("top_k: Input should be a non-negative integer")


def _validate_stop_sequences(stop_sequences) -> None:
    if stop_sequences is None:
        return
    if not isinstance(stop_sequences, list):
        raise invalid("stop_sequences: Input should be a valid list")
    for number, sequence in enumerate(stop_sequences):
        if not isinstance(sequence, str):
            raise invalid(f"stop_sequences.{number}: Input should be a valid string")


def _validate_metadata(metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    if metadata.get("user_id") is not None and not isinstance(metadata["user_id"], str):
        raise invalid("metadata.user_id: Input should be a valid string")
    extra = set(metadata) - {"user_id"}
    if extra:
        raise invalid(f"metadata.{min(extra)}: Extra inputs are not permitted")


def _validate_tools(tools) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    names = set()
    for number, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"tools.{number}: Input should be a valid dictionary")
        name = _require_str(tool, "name", f"tools.{number}.name")
        if tool.get("type") in (None, "custom"):  # client tool; server tools carry a versioned type
            if not TOOL_NAME.match(name):
                raise invalid(f"tools.{number}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            if "input_schema" not in tool:
                raise invalid(f"tools.{number}.custom.input_schema: Field required")
            if not isinstance(tool["input_schema"], dict):
                raise invalid(f"tools.{number}.custom.input_schema: Input should be a valid dictionary")
        if name in names:
            raise invalid("tools: Tool names must be unique.")
        names.add(name)


def _validate_tool_choice(tool_choice) -> None:
    if tool_choice is None:
        return
    if not isinstance(tool_choice, dict) or tool_choice.get("type") not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if tool_choice["type"] == "tool":
        _require_str(tool_choice, "name", "tool_choice.tool.name")
    if "disable_parallel_tool_use" in tool_choice and not isinstance(tool_choice["disable_parallel_tool_use"], bool):
        raise invalid(f"tool_choice.{tool_choice['type']}.disable_parallel_tool_use: Input should be a valid boolean")


def _validate_thinking(body: dict) -> bool:
    """Check `thinking` and the sampling limits it imposes; True when thinking is enabled."""
    thinking = body.get("thinking")
    if thinking is None:
        return False
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
        raise invalid("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
    if thinking["type"] == "disabled":
        return False
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            raise invalid("thinking.enabled.budget_tokens: Field required")
        if not _is_int(budget):
            raise invalid("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < 1024:
            raise invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if body["max_tokens"] <= budget:
            raise invalid(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
                f"at {THINKING_DOCS}#max-tokens-and-context-window-size"
            )
    if body.get("temperature") is not None and body["temperature"] != 1:
        raise invalid(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation "
            f"at {THINKING_DOCS}#important-considerations-when-using-extended-thinking"
        )
    if body.get("top_k") is not None:
        raise invalid("`top_k` is not supported when thinking is enabled.")
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        raise invalid("`top_p` must be greater than or equal to 0.95 when thinking is enabled.")
    return True


@dataclass
class _Turn:
    """Consecutive same-role messages, which the API treats as one turn."""

    role: str
    blocks: list[tuple[int, int, dict]]  # (message number, block number, block)

    @property
    def first_message(self) -> int:
        return self.blocks[0][0] if self.blocks else -1


def _validate_messages(messages, *, strict_turns: bool, thinking_enabled: bool) -> None:
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")

    turns: list[_Turn] = []
    for number, item in enumerate(messages):
        if not isinstance(item, dict):
            raise invalid(f"messages.{number}: Input should be a valid dictionary")
        role = item.get("role")
        if role not in ("user", "assistant"):
            raise invalid(f"messages.{number}.role: Input should be 'user' or 'assistant'")
        blocks = _message_blocks(item, number, role, is_final=number == len(messages) - 1)
        if strict_turns and number == 0 and role != "user":
            raise invalid('messages: first message must use the "user" role')
        if turns and turns[-1].role == role:
            if strict_turns:
                raise invalid(
                    'messages: roles must alternate between "user" and "assistant", '
                    f'but found multiple "{role}" roles in a row'
                )
            turns[-1].blocks.extend(blocks)
        else:
            turns.append(_Turn(role, blocks))

    final = turns[-1]
    if final.role == "assistant" and final.blocks:
        last = final.blocks[-1][2]
        if last["type"] == "text" and last["text"] != last["text"].rstrip():
            raise invalid("messages: final assistant content cannot end with trailing whitespace")
    _check_tool_pairing(turns)
    if thinking_enabled:
        _check_thinking_continuation(turns)


def _message_blocks(item: dict, number: int, role: str, *, is_final: bool) -> list[tuple[int, int, dict]]:
    if "content" not in item:
        raise invalid(f"messages.{number}.content: Field required")
    content = item["content"]
    if not isinstance(content, (str, list)):
        raise invalid(f"messages.{number}.content: Input should be a valid string or a list of content blocks")
    if not content and not (is_final and role == "assistant"):
        raise invalid(
            f"messages.{number}: all messages must have non-empty content "
            "except for the optional final assistant message"
        )
    if isinstance(content, str):  # shorthand for one text block
        return [(number, 0, {"type": "text", "text": content})] if content else []
    for position, block in enumerate(content):
        _validate_block(block, f"messages.{number}.content.{position}", role)
    return [(number, position, block) for position, block in enumerate(content)]


def _validate_block(block, path: str, role: str) -> None:
    if not isinstance(block, dict):
        raise invalid(f"{path}: Input should be a valid dictionary")
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise invalid(f"{path}.type: Input tag {kind!r} found using 'type' does not match any of the expected tags")
    if kind in ASSISTANT_ONLY_BLOCKS and role != "assistant":
        raise invalid(f"{path}: `{kind}` blocks can only be in `assistant` messages")
    if kind == "tool_result" and role != "user":
        raise invalid(f"{path}: `tool_result` blocks can only be in `user` messages")
    match kind:
        case "text":
            if not _require_str(block, "text", f"{path}.text"):
                raise invalid(f"{path}: text content blocks must be non-empty")
        case "image":
            _validate_source(block, path, {"base64", "url", "file"}, IMAGE_MEDIA_TYPES)
        case "document":
            _validate_source(block, path, {"base64", "text", "content", "url", "file"}, None)
        case "tool_use" | "server_tool_use":
            tool_id = _require_str(block, "id", f"{path}.{kind}.id")
            if not TOOL_USE_ID.match(tool_id):
                raise invalid(f"{path}.{kind}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            _require_str(block, "name", f"{path}.{kind}.name")
            if not isinstance(block.get("input"), dict):
                raise invalid(f"{path}.{kind}.input: Input should be a valid dictionary")
        case "tool_result":
            _require_str(block, "tool_use_id", f"{path}.tool_result.tool_use_id")
            content = block.get("content")
            if content is not None and not isinstance(content, str):
                if not isinstance(content, list):
                    raise invalid(f"{path}.tool_result.content: Input should be a valid string or list")
                for inner, item in enumerate(content):
                    inner_path = f"{path}.tool_result.content.{inner}"
                    if not isinstance(item, dict) or item.get("type") not in TOOL_RESULT_BLOCKS:
                        raise invalid(
                            f"{inner_path}.type: Input should be one of {', '.join(sorted(TOOL_RESULT_BLOCKS))}"
                        )
                    _validate_block(item, inner_path, "user")
            if "is_error" in block and not isinstance(block["is_error"], bool):
                raise invalid(f"{path}.tool_result.is_error: Input should be a valid boolean")
        case "thinking":
            thinking = _require_str(block, "thinking", f"{path}.thinking.thinking")
            signature = _require_str(block, "signature", f"{path}.thinking.signature")
            if signature != thinking_signature(thinking):
                raise invalid(f"{path}: Invalid `signature` in `thinking` block")
        case "redacted_thinking":
            _require_str(block, "data", f"{path}.redacted_thinking.data")


def _validate_source(block: dict, path: str, allowed: set[str], media_types: set[str] | None) -> None:
    kind = block["type"]
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid(f"{path}.{kind}.source: Field required")
    source_type = source.get("type")
    if source_type not in allowed:
        raise invalid(f"{path}.{kind}.source.type: Input should be one of {', '.join(sorted(allowed))}")
    field = {"base64": "data", "text": "data", "url": "url", "file": "file_id", "content": "content"}[source_type]
    if field not in source:
        raise invalid(f"{path}.{kind}.source.{source_type}.{field}: Field required")
    if source_type == "base64":
        media_type = _require_str(source, "media_type", f"{path}.{kind}.source.base64.media_type")
        if media_types is not None and media_type not in media_types:
            raise invalid(f"{path}.{kind}.source.base64.media_type: Input should be {', '.join(sorted(media_types))}")


def _check_tool_pairing(turns: list[_Turn]) -> None:
    """tool_result ids must answer the previous assistant turn's tool_use ids, all of them."""
    previous: _Turn | None = None
    for turn in turns:
        if turn.role == "user":
            offered = (
                [block["id"] for _, _, block in previous.blocks if block["type"] == "tool_use"] if previous else []
            )
            answered = set()
            for number, position, block in turn.blocks:
                if block["type"] != "tool_result":
                    continue
                if block["tool_use_id"] not in offered:
                    raise invalid(
                        f"messages.{number}.content.{position}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block['tool_use_id']}. Each `tool_result` block must have a corresponding `tool_use` block "
                        "in the previous message."
                    )
                answered.add(block["tool_use_id"])
            missing = [tool_id for tool_id in offered if tool_id not in answered]
            if missing:
                raise invalid(
                    f"messages.{previous.first_message}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
        previous = turn


def _check_thinking_continuation(turns: list[_Turn]) -> None:
    """With thinking on, the assistant turn answered by the final tool results must open with thinking."""
    if len(turns) < 2 or turns[-1].role != "user":
        return
    if not any(block["type"] == "tool_result" for _, _, block in turns[-1].blocks):
        return
    assistant = turns[-2]
    number, position, first = assistant.blocks[0]
    if first["type"] not in ("thinking", "redacted_thinking"):
        raise invalid(
            f"messages.{number}.content.{position}.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{first['type']}`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
            "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
            "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our "
            f"documentation at {THINKING_DOCS}"
        )


# --- what the scenarios see ---------------------------------------------------------------------


def _text_of(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [block["text"] for block in content if isinstance(block, dict) and block.get("type") == "text"]
        return "\n".join(texts) if texts else None
    return None


def conversation(body: dict, raw_body: bytes) -> Conversation:
    messages = body["messages"]
    latest_user_text = next(
        (text for item in reversed(messages) if item["role"] == "user" and (text := _text_of(item["content"]))),
        None,
    )
    final = messages[-1]
    tool_results = None
    if final["role"] == "user" and isinstance(final["content"], list):
        results = [block for block in final["content"] if block.get("type") == "tool_result"]
        if results:
            tool_results = [_text_of(block.get("content")) or "" for block in results]
    return Conversation(
        protocol="anthropic",
        body=body,
        raw_body=raw_body,
        latest_user_text=latest_user_text,
        trailing_tool_results=tool_results,
        stop_sequences=list(body.get("stop_sequences") or []),
    )


# --- prompt caching ---------------------------------------------------------------------------------

CACHE_TTLS = ("5m", "1h")
MAX_BREAKPOINTS = 4


def _has_cache_marks(body: dict) -> bool:
    return b'"cache_control"' in canonical(body)


def cache_blocks(body: dict) -> list[Block] | None:
    """The prompt as cacheable blocks (tools, system, then message content), or None without `cache_control`.

    Raises the real API's 400s: a malformed `cache_control`, more than four of them, a 1h breakpoint
    after a 5m one (in the order tools, system, messages).
    """
    blocks, marks = [], []  # marks: (where, ttl), in prompt order
    for number, tool in enumerate(body.get("tools") or []):
        blocks.append(_cache_block("tools", f"tools.{number}", tool, marks))
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(Block("system", canonical(["system", {"type": "text", "text": system}])))
    elif isinstance(system, list):
        for number, block in enumerate(system):
            blocks.append(_cache_block("system", f"system.{number}", block, marks))
    for number, item in enumerate(body.get("messages") or []):
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        for position, block in enumerate(content or []):
            blocks.append(_cache_block(item.get("role"), f"messages.{number}.content.{position}", block, marks))
    if not marks:
        return None
    if len(marks) > MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marks)}.")
    seen_short = False
    for where, ttl in marks:
        if ttl == "5m":
            seen_short = True
        elif seen_short:
            raise invalid(
                f"{where}.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
                "cache_control block. Note that blocks are processed in the following order: `tools`, `system`, "
                "`messages`."
            )
    return blocks


def _cache_block(section, where: str, block, marks: list[tuple[str, str]]) -> Block:
    """One block without its cache marks; a mark on it (or inside a tool_result) makes it a breakpoint."""
    if not isinstance(block, dict):
        return Block(where, canonical([section, block]))
    ttl = _cache_mark(block, where, marks)
    stripped = {key: value for key, value in block.items() if key != "cache_control"}
    inner = stripped.get("content")
    if isinstance(inner, list):  # tool_result content blocks may carry their own marks
        cleaned = []
        for position, item in enumerate(inner):
            if isinstance(item, dict):
                ttl = _cache_mark(item, f"{where}.content.{position}", marks) or ttl
                item = {key: value for key, value in item.items() if key != "cache_control"}
            cleaned.append(item)
        stripped["content"] = cleaned
    return Block(where, canonical([section, stripped]), ttl)


def _cache_mark(block: dict, where: str, marks: list[tuple[str, str]]) -> str | None:
    mark = block.get("cache_control")
    if mark is None:
        return None
    if not isinstance(mark, dict):
        raise invalid(f"{where}.cache_control: Input should be a valid dictionary")
    if mark.get("type") != "ephemeral":
        raise invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
    ttl = mark.get("ttl", "5m")
    if ttl not in CACHE_TTLS:
        raise invalid(f"{where}.cache_control.ephemeral.ttl: Input should be '5m' or '1h'")
    marks.append((where, ttl))
    return ttl


def settle_cache(blocks: list[Block], model: str, key: str, context: Context):
    """Read and write the cache for this prompt: the request's CacheUsage (per API key and model)."""
    chain = prefixes(f"anthropic\0{model}", blocks)
    breakpoints = {index: block.ttl for index, block in enumerate(blocks) if block.ttl}
    cache = context.prompt_cache
    return cache.explicit(("anthropic", key, model), chain, breakpoints, lookback=cache.anthropic_lookback)
