"""Pieces shared by both protocol front-ends: failures, server context, JSON helpers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson

from .prompt_cache import PromptCache


@dataclass(frozen=True)
class Failure:
    """An HTTP error in protocol-neutral terms.

    `kind` uses Anthropic's error type names (invalid_request_error, rate_limit_error, ...);
    the OpenAI front-end maps them onto its own envelope. `param`/`code` only show up there.
    """

    status: int
    kind: str
    message: str
    param: str | None = None
    code: str | None = None


class Rejected(Exception):
    """Raised while checking a request; carries the error the upstream would answer with."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def invalid(message: str, param: str | None = None, code: str | None = None) -> Rejected:
    """A 400 invalid_request_error naming the offending field."""
    return Rejected(Failure(400, "invalid_request_error", message, param, code))


@dataclass
class Context:
    """Simulator-wide settings and id source handed to each protocol front-end.

    `prompt_cache` is the shared prompt cache (see `prompt_cache.py`): its `entries`, its `log` of
    what each request read and wrote, its settings (`min_tokens`, `gemini_implicit`) and its clock
    (`advance(seconds)` to expire entries).
    """

    anthropic_key: str | None
    openai_key: str | None
    # Reject non-alternating Anthropic turns (older API behaviour; today's API merges them).
    strict_turns: bool = True
    prompt_cache: PromptCache = field(default_factory=PromptCache)
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_number(self) -> int:
        return next(self._numbers)


def dumps(value: Any) -> bytes:
    """Compact JSON, as both providers send it."""
    return orjson.dumps(value)


def key_matches(given: str | None, expected: str | None) -> bool:
    """Expected None accepts any non-empty key."""
    if not given:
        return False
    return expected is None or given == expected
