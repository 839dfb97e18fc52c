"""Neutral `Usage` -> OpenAI usage object."""

from __future__ import annotations

from transforms.ir import Usage


def openai_usage(usage: Usage) -> dict:
    # OpenAI's prompt_tokens include cached tokens; Anthropic counts cache reads and
    # writes apart from input_tokens, so they are added back.
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    result = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }
    if usage.cache_write_tokens:
        result["prompt_tokens_details"]["cache_write_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens is not None:
        result["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return result
