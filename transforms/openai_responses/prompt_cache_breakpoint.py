"""OpenAI's explicit prompt-cache breakpoints (GPT-5.6 and later, Responses and Chat Completions) <-> `CacheMark`.

A content part with `prompt_cache_breakpoint: {"mode": "explicit", "ttl"?: "30m" | "12h"}` ends a prefix OpenAI
may cache; a breakpoint without a TTL takes the request's `prompt_cache_options.ttl`.
"""

from __future__ import annotations

from transforms.errors import invalid
from transforms.ir import CacheMark
from transforms.prompt_cache import choose_ttl

TTLS = {"30m": 1800, "12h": 43200}


def request_ttl_s(body: dict) -> int | None:
    """`prompt_cache_options.ttl`, in seconds."""
    options = body.get("prompt_cache_options")
    ttl = options.get("ttl") if isinstance(options, dict) else None
    if ttl is not None and ttl not in TTLS:
        raise invalid("Invalid 'prompt_cache_options.ttl': expected '30m' or '12h'.", "prompt_cache_options.ttl")
    return TTLS.get(ttl)


def breakpoint_mark(part: dict, default_ttl_s: int | None, where: str) -> CacheMark | None:
    mark = part.get("prompt_cache_breakpoint")
    if mark is None:
        return None
    if not isinstance(mark, dict) or mark.get("mode") != "explicit" or mark.get("ttl", "30m") not in TTLS:
        raise invalid(f"Invalid '{where}.prompt_cache_breakpoint': expected {{\"mode\": \"explicit\", \"ttl\"?: \"30m\" | \"12h\"}}.",
                      f"{where}.prompt_cache_breakpoint")
    return CacheMark(TTLS[mark["ttl"]] if "ttl" in mark else default_ttl_s)


def prompt_cache_breakpoint(mark: CacheMark) -> dict:
    ttl = choose_ttl(mark.ttl_s, TTLS)
    return {"mode": "explicit", "ttl": ttl} if ttl is not None else {"mode": "explicit"}
