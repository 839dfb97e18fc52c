"""OpenAI usage object -> neutral `Usage` (cached tokens are part of prompt_tokens there)."""

from __future__ import annotations

from transforms.ir import Usage


def decode_usage(usage: dict) -> Usage:
    prompt = usage.get("prompt_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return Usage(
        input_tokens=max(prompt - cached - written, 0),
        output_tokens=usage.get("completion_tokens") or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    )
