"""What every codec shares about prompt caching: which lifetime an upstream offers for what the client asked,
whether a prompt is long enough to be worth marking, and the stable name of a conversation.

Each protocol's marks are read and written by its codec (`anthropic/cache_control.py`, the Responses and Chat
codecs' `prompt_cache_breakpoint`); the neutral form is `CacheMark` on parts, tools and system texts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import orjson

from transforms.ir import ChatRequest, TextPart, ToolResultPart


def choose_ttl(asked_s: int | None, offered: Mapping[str, int]) -> str | None:
    """The shortest lifetime `offered` (name -> seconds) that lasts at least `asked_s`, else the longest;
    None for the upstream's default (the shortest)."""
    if asked_s is None:
        return None
    ordered = sorted(offered.items(), key=lambda item: item[1])
    if asked_s <= ordered[0][1]:
        return None
    return next((name for name, seconds in ordered if seconds >= asked_s), ordered[-1][0])


def has_marks(request: ChatRequest) -> bool:
    return bool(request.system_cache) or any(t.cache is not None for t in request.tools) or any(
        getattr(part, "cache", None) is not None for message in request.messages for part in message.parts)


def conversation_key(request: ChatRequest) -> str:
    """A stable name for the conversation a request belongs to: a hash of how it began (the system prompt and the
    first user message), the same on every turn; for the upstream's prompt_cache_key and for session affinity."""
    first = next((m for m in request.messages if m.role == "user"), None)
    opening = [p.text if isinstance(p, TextPart) else p.tool_call_id if isinstance(p, ToolResultPart) else type(p).__name__
               for p in (first.parts if first is not None else [])]
    digest = hashlib.sha256(orjson.dumps([request.system, opening]))
    return "llmb-" + digest.hexdigest()[:32]
