"""Prompt caching as the providers document it, shared by the protocol front-ends.

A front-end turns a request into `Block`s in prompt order (Anthropic: tools, system, messages;
OpenAI Responses: tools, instructions, input; Chat: tools, messages; Gemini: systemInstruction,
tools, contents), each with its deterministic token count (`ceil(len(canonical JSON) / 4)`, cache
marks left out) and, when it carries one, the TTL of its breakpoint. `prefixes()` chains them into
`Prefix`es: the identity of everything up to and including a block (a SHA-256 over the model and
the canonical JSON of the blocks) and its cumulative token count. The `PromptCache` of the shared
`Context` then settles the request by one of two rules:

* `explicit()`: breakpoints. A hit is a prefix written earlier, looked up either within `lookback`
  blocks before each breakpoint (Anthropic: 20, the breakpoint included) or at any block boundary
  among the scope's `window` latest entries (OpenAI: 80, exact match at a breakpoint written
  earlier, no rounding). The longest hit is read (and its entry refreshed); everything after it up
  to the last breakpoint is written, each stretch charged to the TTL of the breakpoint that closes
  it, and an entry is stored at every breakpoint whose prefix reaches `min_tokens`.
* `implicit()`: automatic prefix caching (OpenAI Chat with `prompt_cache_key`, Gemini when
  `gemini_implicit` is on). The longest earlier prefix ending at a message boundary is read,
  rounded down to a multiple of `round_to`, never below `min_tokens`; every boundary of the request
  that reaches `min_tokens` is stored.

Entries are kept per scope (protocol, API key, model and, for OpenAI, `prompt_cache_key`) and live
for their TTL from their last use. The clock is `clock()` plus whatever `advance()` added, so tests
can expire entries without waiting. Each settled request appends a `CacheEvent` to `log`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import orjson

TTL_SECONDS = {
    "5m": 5 * 60.0,  # Anthropic's default
    "1h": 3600.0,
    "30m": 30 * 60.0,  # OpenAI's explicit / implicit breakpoints (prompt_cache_options.ttl)
    "12h": 12 * 3600.0,
    "in_memory": 10 * 60.0,  # OpenAI's older retention: 5 to 10 minutes of inactivity
    "24h": 24 * 3600.0,  # prompt_cache_retention: "24h"
}
LONG_TTLS = {"1h", "12h", "24h"}  # reported apart: Anthropic's ephemeral_1h, OpenAI's ttl_12h


def canonical(value) -> bytes:
    """JSON with sorted keys and no spaces: what identities and token counts are taken of."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def token_count(piece: bytes) -> int:
    return math.ceil(len(piece) / 4)


@dataclass(frozen=True)
class Block:
    """One block of a rendered prompt: where it is in the request, its canonical JSON, its breakpoint."""

    where: str  # e.g. "tools.3", "system.0", "messages.4.content.1", "input[2].content[0]"
    piece: bytes
    ttl: str | None = None  # the TTL of a breakpoint on this block; None: no breakpoint

    @property
    def tokens(self) -> int:
        return token_count(self.piece)


@dataclass(frozen=True)
class Prefix:
    """Everything up to and including one block."""

    where: str
    digest: str
    tokens: int  # cumulative


def prefixes(seed: str, blocks: Iterable[Block]) -> list[Prefix]:
    running = hashlib.sha256(seed.encode() + b"\0")
    total, chained = 0, []
    for block in blocks:
        running.update(len(block.piece).to_bytes(8, "big") + block.piece)
        total += block.tokens
        chained.append(Prefix(block.where, running.copy().hexdigest(), total))
    return chained


@dataclass
class CacheEntry:
    scope: tuple
    digest: str
    tokens: int
    ttl: str
    where: str  # the block the prefix ended at when it was written
    written_at: float
    last_used: float

    @property
    def expires_at(self) -> float:
        return self.last_used + TTL_SECONDS[self.ttl]


@dataclass(frozen=True)
class CacheEvent:
    """How one request used the cache."""

    protocol: str
    scope: tuple  # (protocol, api key, model[, prompt_cache_key])
    input_tokens: int  # the whole prompt, cached or not
    read_tokens: int
    write_tokens: int  # newly stored (reported as such by Anthropic and Responses only)
    write_tokens_by_ttl: Mapping[str, int]
    read_at: str | None  # the block the prefix read ends at
    written_at: tuple[str, ...]  # the blocks entries were stored at
    at: float


@dataclass(frozen=True)
class CacheUsage:
    """A request's input, split the protocol-neutral way (`input_tokens` counts the whole prompt)."""

    input_tokens: int
    read_tokens: int = 0
    write_tokens: int = 0
    long_write_tokens: int = 0  # of write_tokens: those under a long TTL (1h / 12h)

    def applied_to(self, usage, *, report_writes: bool = True):
        """The scenario's `Usage` with these input numbers (output counts stay the scenario's)."""
        written = self.write_tokens if report_writes else 0
        return replace(
            usage,
            input_tokens=self.input_tokens - self.read_tokens - written,
            cache_read_input_tokens=self.read_tokens,
            cache_creation_input_tokens=written,
            cache_creation_long_ttl_tokens=self.long_write_tokens if report_writes else 0,
            cache_modelled=True,
        )


@dataclass
class PromptCache:
    """The simulator's prompt cache: `entries`, a `log` of what each request read and wrote, settings."""

    clock: Callable[[], float] = time.monotonic
    min_tokens: int = 1024  # shorter prefixes are not cached (Anthropic's and OpenAI's documented minimum)
    anthropic_lookback: int = 20
    openai_window: int = 80
    gemini_implicit: bool = False  # Gemini's implicit caching; off: Gemini usage stays as before
    entries: dict[tuple, CacheEntry] = field(default_factory=dict)  # (scope, digest) -> entry
    log: list[CacheEvent] = field(default_factory=list)
    offset_s: float = 0.0

    # --- for tests ---

    def now(self) -> float:
        return self.clock() + self.offset_s

    def advance(self, seconds: float) -> None:
        """Move the cache's clock forward (entries expire TTL seconds after their last use)."""
        self.offset_s += seconds

    def clear(self) -> None:
        self.entries.clear()
        self.log.clear()

    def live(self, protocol: str | None = None) -> list[CacheEntry]:
        """The entries not yet expired, oldest write first."""
        self._expire()
        return [entry for entry in self.entries.values() if protocol is None or entry.scope[0] == protocol]

    def events(self, protocol: str | None = None) -> list[CacheEvent]:
        return [event for event in self.log if protocol is None or event.protocol == protocol]

    @property
    def last(self) -> CacheEvent | None:
        return self.log[-1] if self.log else None

    # --- the rules ---

    def explicit(
        self,
        scope: tuple,
        chain: Sequence[Prefix],
        breakpoints: Mapping[int, str],
        *,
        lookback: int | None = None,
        window: int | None = None,
    ) -> CacheUsage:
        """Breakpoint caching; `breakpoints` maps block index -> TTL of the breakpoints written.

        With `lookback` (Anthropic) a hit is looked for at the `lookback` block boundaries ending at
        each breakpoint; without (OpenAI), at every boundary, among the scope's `window` latest entries.
        """
        self._expire()
        total = chain[-1].tokens if chain else 0
        hit: int | None = None
        if breakpoints:
            if lookback is not None:
                for index in sorted(breakpoints):
                    for back in range(index, max(-1, index - lookback), -1):
                        if (scope, chain[back].digest) in self.entries:
                            hit = back if hit is None else max(hit, back)
                            break
            else:
                own = sorted((entry for entry in self.entries.values() if entry.scope == scope), key=lambda e: e.written_at)
                recent = own[-(window or self.openai_window) :]
                digests = {entry.digest for entry in recent}
                hit = next((index for index in range(len(chain) - 1, -1, -1) if chain[index].digest in digests), None)
        now = self.now()
        read = 0
        if hit is not None:
            read = chain[hit].tokens
            self.entries[(scope, chain[hit].digest)].last_used = now
        for index in breakpoints:  # breakpoints inside the prefix read are refreshed too
            entry = self.entries.get((scope, chain[index].digest))
            if entry is not None and hit is not None and index <= hit:
                entry.last_used = now
        start, by_ttl, written = read, {}, []
        for index in sorted(breakpoints):
            prefix = chain[index]
            if (hit is not None and index <= hit) or prefix.tokens < self.min_tokens:
                continue
            ttl = breakpoints[index]
            by_ttl[ttl] = by_ttl.get(ttl, 0) + prefix.tokens - start
            start = prefix.tokens
            self._store(scope, prefix, ttl, now)
            written.append(prefix.where)
        write = start - read
        self._log(scope, total, read, write, by_ttl, chain[hit].where if hit is not None else None, written, now)
        long = sum(tokens for ttl, tokens in by_ttl.items() if ttl in LONG_TTLS)
        return CacheUsage(total, read, write, long)

    def implicit(
        self, scope: tuple, chain: Sequence[Prefix], boundaries: Iterable[int], ttl: str, *, round_to: int = 1
    ) -> CacheUsage:
        """Automatic prefix caching at the given block boundaries (message ends)."""
        self._expire()
        total = chain[-1].tokens if chain else 0
        boundaries = sorted(set(boundaries))
        now = self.now()
        hit = next((index for index in reversed(boundaries) if (scope, chain[index].digest) in self.entries), None)
        read = 0
        if hit is not None:
            self.entries[(scope, chain[hit].digest)].last_used = now
            read = chain[hit].tokens // round_to * round_to
            if read < self.min_tokens:
                read = 0
        written = []
        for index in boundaries:
            prefix = chain[index]
            if prefix.tokens < self.min_tokens:
                continue
            entry = self.entries.get((scope, prefix.digest))
            if entry is not None:
                entry.last_used = now
            else:
                self._store(scope, prefix, ttl, now)
                written.append(prefix.where)
        stored = max((chain[index].tokens for index in boundaries if chain[index].tokens >= self.min_tokens), default=0)
        write = max(0, stored - (chain[hit].tokens if hit is not None else 0))
        self._log(scope, total, read, write, {ttl: write} if write else {},
                  chain[hit].where if hit is not None else None, written, now)
        return CacheUsage(total, read, write, write if ttl in LONG_TTLS else 0)

    # --- inside ---

    def _expire(self) -> None:
        now = self.now()
        for key in [key for key, entry in self.entries.items() if entry.expires_at <= now]:
            del self.entries[key]

    def _store(self, scope: tuple, prefix: Prefix, ttl: str, now: float) -> None:
        self.entries.pop((scope, prefix.digest), None)  # re-inserted: the newest write comes last
        self.entries[(scope, prefix.digest)] = CacheEntry(scope, prefix.digest, prefix.tokens, ttl, prefix.where, now, now)

    def _log(self, scope, total, read, write, by_ttl, read_at, written, now) -> None:
        self.log.append(CacheEvent(scope[0], scope, total, read, write, dict(by_ttl), read_at, tuple(written), now))
