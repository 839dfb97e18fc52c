"""What an upstream encoder needs to know about the provider and model beyond the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Quirk = Literal[
    "max-completion-tokens",  # send max_completion_tokens, not max_tokens (OpenAI's own API, reasoning models)
    "reasoning-content-history",  # hand earlier reasoning back as reasoning_content (DeepSeek, Kimi after tool calls)
    "no-reasoning-effort",  # never send reasoning_effort (models that reject it)
    "top-k",  # the upstream takes top_k (vLLM, some others)
    "clean-tool-schemas",  # strip JSON Schema keywords strict upstreams reject, from tool schemas only
    "gemini-tool-schemas",  # the stricter cleaning Gemini's OpenAI endpoint needs
    "openai-prompt-cache",  # the upstream takes OpenAI's prompt_cache_key and prompt_cache_breakpoint (OpenAI, Azure)
]


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    max_tokens: int | None = None  # used when the client sends none
    max_output_tokens: int | None = None  # the model's cap: a larger client max_tokens is lowered to it
    quirks: frozenset[str] = frozenset()
    locale: str | None = None  # the UI locale upstreams that want one are told (Trae); None: the codec's default
    api_version: str | None = None  # Azure OpenAI's api-version query parameter; None: the codec's default
    # prompt caching: "auto" gives requests whose client marked nothing the breakpoints an upstream that
    # caches only marked prefixes needs (Anthropic); "off" sends only the client's own marks
    prompt_cache: str = "auto"
    cache_ttl_s: int | None = None  # the lifetime of breakpoints the bridge originates (None: the upstream's default)
    cache_min_tokens: int = 1024  # no breakpoints are originated on a prompt shorter than this (Anthropic's least)

    def limit(self, requested: int | None, fallback: int | None = None) -> int | None:
        value = requested or self.max_tokens or fallback
        if value is not None and self.max_output_tokens is not None:
            value = min(value, self.max_output_tokens)
        return value
