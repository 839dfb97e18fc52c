"""Anthropic `cache_control` <-> neutral `CacheMark`, and where Anthropic upstreams get breakpoints.

A block, tool or system block with `cache_control: {"type": "ephemeral", "ttl"?: "5m" | "1h"}` ends a prefix
Anthropic may cache; at most four per request, and a 1 h breakpoint may not follow a 5 min one. Anthropic
caches nothing unmarked, so requests from clients that cannot mark (OpenAI Chat, Responses, Gemini) get the
breakpoints its prompt-caching guide recommends (`originate_breakpoints`).
"""

from __future__ import annotations

from transforms.errors import invalid
from transforms.ir import CacheMark, ChatRequest, ImagePart, TextPart, ToolCallPart, ToolResultPart
from transforms.prompt_cache import choose_ttl
from transforms.token_estimate import estimate_input_tokens

TTLS = {"5m": 300, "1h": 3600}
MAX_BREAKPOINTS = 4


def cache_mark(block: dict, where: str) -> CacheMark | None:
    control = block.get("cache_control")
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise invalid(f"{where}.cache_control: must be {{\"type\": \"ephemeral\"}}.", f"{where}.cache_control")
    ttl = control.get("ttl")
    if ttl is not None and ttl not in TTLS:
        raise invalid(f"{where}.cache_control.ttl: must be '5m' or '1h'.", f"{where}.cache_control.ttl")
    return CacheMark(TTLS.get(ttl))


def cache_control(mark: CacheMark, longest: bool) -> dict:
    """`longest`: a later breakpoint asks for 1 h, so this one must too (Anthropic refuses 1 h after 5 min)."""
    ttl = "1h" if longest else choose_ttl(mark.ttl_s, TTLS)
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def originate_breakpoints(request: ChatRequest, ttl_s: int | None, min_tokens: int) -> None:
    """Mark, on a request whose client marked nothing, the end of the tools, the end of the system prompt, the last
    message and the user turn before it (so a tool loop's next call reads what this one wrote). Not below
    `min_tokens`, the least Anthropic caches: a shorter prompt would only carry marks that do nothing."""
    if estimate_input_tokens(request) < min_tokens:
        return
    mark = CacheMark(ttl_s)
    if request.tools:
        request.tools[-1].cache = mark
    if request.system:
        request.system_cache[len(request.system) - 1] = mark
    marked = 0
    for message in reversed(request.messages):
        if marked == 2 or (marked == 1 and message.role != "user"):
            continue
        part = next((p for p in reversed(message.parts) if isinstance(p, MARKABLE)), None)
        if part is not None:
            part.cache = mark
            marked += 1


MARKABLE = (TextPart, ImagePart, ToolCallPart, ToolResultPart)
