"""Responses usage <-> neutral `Usage` (input_tokens include cached tokens there)."""

from __future__ import annotations

from transforms.ir import Usage


def decode_usage(usage: dict) -> Usage:
    total_input = usage.get("input_tokens") or 0
    details = usage.get("input_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    return Usage(max(total_input - cached - written, 0), usage.get("output_tokens") or 0, cached, written, reasoning,
                 cache_write_long_tokens=(details.get("cache_write_tokens_details") or {}).get("ttl_12h_tokens") or 0)


def encode_usage(usage: Usage) -> dict:
    total_input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    details: dict = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "input_tokens": total_input,
        "input_tokens_details": details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": total_input + usage.output_tokens,
    }


def usage_of(data: dict, _so_far: Usage | None) -> Usage | None:
    """A whole response's usage, or a stream's (response.completed, .incomplete, .failed carry the response)."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        response = data.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
    return decode_usage(usage) if isinstance(usage, dict) else None
