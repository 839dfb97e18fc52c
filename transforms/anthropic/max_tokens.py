"""Default `max_tokens` per Claude model: Anthropic requires the field, OpenAI
clients usually omit it (meaning "as much as the model allows").

Longest matching prefix wins; unknown models get a conservative value. A
`max_tokens` set on the model or provider in bridge.toml overrides this table.
"""

from __future__ import annotations

FALLBACK = 4096

_MAX_OUTPUT_BY_PREFIX: tuple[tuple[str, int], ...] = tuple(
    sorted(
        {
            "claude-3-haiku": 4096,
            "claude-3-opus": 4096,
            "claude-3-sonnet": 4096,
            "claude-3-5-haiku": 8192,
            "claude-3-5-sonnet": 8192,
            "claude-3-7-sonnet": 64000,
            "claude-sonnet-4": 64000,
            "claude-haiku-4": 64000,
            "claude-opus-4": 32000,
            "claude-opus-4-5": 64000,
        }.items(),
        key=lambda item: -len(item[0]),
    )
)


def default_max_tokens(model: str) -> int:
    for prefix, limit in _MAX_OUTPUT_BY_PREFIX:
        if model.startswith(prefix):
            return limit
    return FALLBACK
