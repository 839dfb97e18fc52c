"""Neutral `ChatRequest` -> Trae IDE chat body (`POST /api/ide/v1/chat`).

Trae takes a history, one user input and IDE bookkeeping; it has no tool calling,
no sampling parameters and no reasoning hand-back. So:
- tool calls and results in the history become readable text;
- tool definitions are dropped (refused when the client demands a tool call). The
  encoder is pure and the proxy logs `request.dropped` before encoding, so the drop
  is not recorded there;
- images are refused: Trae's image upload flow is unknown (see the seed notes, 2.9);
- thinking, temperature, top_p, max_tokens and stop are left out.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from transforms.errors import BridgeError, invalid
from transforms.ir import (
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from transforms.trae.session_id import derive_session_id
from transforms.upstream_options import UpstreamOptions

DEFAULT_LOCALE = "en-us"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
IMAGES_REFUSED = (
    "Trae image input is not supported by llm-bridge: Trae's image upload flow is not documented or confirmed, "
    "so images are refused rather than silently dropped."
)


def encode_trae_request(
    request: ChatRequest, *, upstream_model: str, options: UpstreamOptions = UpstreamOptions(),
    now: datetime | None = None,
) -> dict:
    if request.unsupported:
        field, reason = request.unsupported[0]
        raise invalid(f"{field}: {reason}; Trae cannot take it, so the request was not sent.", field)
    if request.tool_choice is not None and request.tool_choice.mode in ("required", "tool"):
        raise invalid(
            "tool_choice demands a tool call, but Trae's chat API cannot call tools; "
            "send tool_choice 'auto' or 'none', or route this model to another provider.",
            "tool_choice",
        )
    _refuse_images(request.messages)
    last_user = _last_user_index(request.messages)
    locale = options.locale or DEFAULT_LOCALE

    history = [_history_item("system", "\n\n".join(request.system), locale)] if request.system else []
    for message in request.messages[:last_user]:
        text = _flatten(message)
        if text:  # e.g. an assistant turn that held only reasoning: nothing Trae can take back
            history.append(_history_item(message.role, text, locale))
    first = request.messages[0]
    session = derive_session_id(first.role, _flatten(first))
    return {
        "chat_history": history,
        "user_input": _flatten(request.messages[last_user]),
        "current_turn": sum(1 for m in request.messages[:last_user] if m.role == "user"),
        "session_id": session,
        "conversation_id": session,
        "valid_turns": list(range(len(history))),
        "context_resolvers": [],
        "generate_suggested_questions": False,
        "intent_name": "general_qa_intent",
        "is_preset": True,
        "multi_media": [],
        "provider": "",
        "model_name": upstream_model,
        "stream": True,  # Trae always answers SSE; whole answers are folded by the bridge
        "variables": orjson.dumps({"locale": locale, "current_time": _current_time(now)}).decode(),
    }


def _refuse_images(messages: list[Message]) -> None:
    for i, message in enumerate(messages):
        for j, part in enumerate(message.parts):
            if isinstance(part, ImagePart):
                raise invalid(IMAGES_REFUSED, f"messages[{i}].content[{j}]")
            if isinstance(part, ToolResultPart):
                for k, inner in enumerate(part.content):
                    if isinstance(inner, ImagePart):
                        raise invalid(IMAGES_REFUSED, f"messages[{i}].content[{j}].content[{k}]")


def _last_user_index(messages: list[Message]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            if i != len(messages) - 1:
                # Trae answers a user input; an assistant turn after it (a prefill) would be lost
                raise invalid(
                    "Trae's chat API answers the last user message; a conversation ending in an assistant "
                    "message (prefill) cannot be sent to it.",
                    f"messages[{len(messages) - 1}]",
                )
            return i
    raise BridgeError("invalid_request", "Trae's chat API needs a user message to answer; the request has none.", param="messages")


def _history_item(role: str, content: str, locale: str) -> dict:
    return {"role": role, "content": content, "status": "success", "locale": locale}


def _flatten(message: Message) -> str:
    """A message as the plain text Trae takes; tool traffic written out so the model still sees it."""
    pieces: list[str] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, ToolCallPart):
            pieces.append(f"[called tool {part.name} with {orjson.dumps(part.arguments).decode()}]")
        elif isinstance(part, ToolResultPart):
            text = "".join(p.text for p in part.content if isinstance(p, TextPart))
            label = "tool error" if part.is_error else "tool result"
            pieces.append(f"[{label} for {part.tool_call_id}]: {text}")
        # ThinkingPart: Trae takes no reasoning back; ImagePart was refused before
    return "\n\n".join(piece for piece in pieces if piece)


def _current_time(now: datetime | None) -> str:
    """As the Trae IDE writes it: `YYYYMMDD HH:MM:SS Weekday` (English names, whatever the C locale)."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%d %H:%M:%S ") + WEEKDAYS[now.weekday()]
