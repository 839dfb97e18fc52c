"""Responses usage <-> neutral `Usage` (input_tokens include cached tokens there)."""

from __future__ import annotations

from transforms.ir import Usage


def decode_usage(usage: dict) -> Usage:
    total_input = usage.get("input_tokens") or 0
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    return Usage(max(total_input - cached, 0), usage.get("output_tokens") or 0, cached, 0, reasoning)


def encode_usage(usage: Usage) -> dict:
    total_input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": total_input,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": total_input + usage.output_tokens,
    }
