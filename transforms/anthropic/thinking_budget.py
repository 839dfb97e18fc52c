"""reasoning_effort -> Anthropic extended-thinking budget_tokens.

Anthropic's minimum budget is 1024 and the budget must stay below max_tokens
(thinking tokens count against it). "none" turns thinking off.
"""

from __future__ import annotations

MIN_BUDGET = 1024

BUDGET_BY_EFFORT: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}


def thinking_budget(effort: str | None, max_tokens: int) -> int | None:
    """The budget for `effort`, shrunk to fit under `max_tokens`; None = no thinking.

    Raises ValueError when `max_tokens` leaves no room for the minimum budget.
    """
    if effort is None or effort == "none":
        return None
    budget = min(BUDGET_BY_EFFORT[effort], max_tokens - 1)
    if budget < MIN_BUDGET:
        raise ValueError(
            f"reasoning_effort '{effort}' needs max_tokens above {MIN_BUDGET} "
            f"(Anthropic's minimum thinking budget); got {max_tokens}"
        )
    return budget
