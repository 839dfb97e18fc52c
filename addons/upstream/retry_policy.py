"""When an upstream call is tried again, and after how long.

Only before the first byte reached the client (the relay decides that); only on
what is likely to pass on its own: connection failures, timeouts, 429 and 5xx.
A `Retry-After` (or OpenAI's `retry-after-ms`) is honoured up to a cap; a longer
one is not waited for but told to the client. Otherwise the pause grows
exponentially, with jitter so that many clients failing together do not retry
together.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

NOT_TRANSIENT_5XX = frozenset({501, 505})  # not implemented / version not supported: will not pass


def retryable_status(status: int) -> bool:
    return status == 429 or (status >= 500 and status not in NOT_TRANSIENT_5XX)


def retry_after_seconds(headers, now: float | None = None) -> float | None:
    """`retry-after-ms`, else `retry-after` as seconds or an HTTP date; None when absent or unreadable."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return _seconds(float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return _seconds(when - (time.time() if now is None else now))


MAX_RETRY_AFTER_S = 86400.0  # a day: anything longer (or "inf") is read as a day


def _seconds(value: float) -> float | None:
    if math.isnan(value):
        return None
    return min(max(0.0, value), MAX_RETRY_AFTER_S)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # tries in all; 1 turns retrying off
    max_retry_after: float = 20.0  # a longer Retry-After is not waited for
    backoff_initial: float = 0.5
    backoff_max: float = 8.0

    @property
    def enabled(self) -> bool:
        return self.attempts > 1

    def backoff(self, attempt: int, rng=random.random) -> float:
        """The pause after failed attempt number `attempt` (1-based): half fixed, half random."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return ceiling / 2 + rng() * ceiling / 2

    def pause(self, attempt: int, retry_after: float | None) -> float | None:
        """How long to wait before the next try, or None when there is to be none:
        attempts used up, or the upstream asked for a longer wait than the cap."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff(attempt)


NO_RETRIES = RetryPolicy(attempts=1)
