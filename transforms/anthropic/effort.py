"""Anthropic thinking settings -> neutral reasoning effort (the inverse of `thinking_budget`).

OpenAI-compatible upstreams widely accept only low / medium / high, so budgets
map onto those three:

| Anthropic                                   | reasoning_effort |
|---------------------------------------------|------------------|
| thinking enabled, budget_tokens <= 4096     | low              |
| thinking enabled, budget_tokens <= 16384    | medium           |
| thinking enabled, larger budget             | high             |
| thinking adaptive: output_config.effort low / medium / high / xhigh / max | low / medium / high / high / high |
| thinking adaptive, no effort given          | medium           |
| thinking disabled or absent                 | (none sent)      |
"""

from __future__ import annotations

EFFORT_BY_OUTPUT_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def effort_for_budget(budget_tokens: int) -> str:
    if budget_tokens <= 4096:
        return "low"
    if budget_tokens <= 16384:
        return "medium"
    return "high"


def reasoning_effort(thinking: dict | None, output_config: dict | None) -> str | None:
    kind = (thinking or {}).get("type")
    if kind == "enabled":
        return effort_for_budget(int(thinking.get("budget_tokens") or 0))
    if kind == "adaptive":
        effort = (output_config or {}).get("effort")
        return EFFORT_BY_OUTPUT_EFFORT.get(effort, "medium")
    return None
