"""Client numbers in range (token limits and budgets, sampling values), and flags that must be booleans.

Each check answers the rest of a sentence that starts with the field's name
("must be an integer of at least 1 (got 0)"), or None when the value is fine,
so every protocol can word the refusal in its own envelope's style. A value
that is absent or null is the API's default, and fine.

JSON has one number type, so the checks take what orjson gives: a bool is not
a number, an integer field refuses 1.5 and 1.0 alike, and NaN or Infinity
(only possible from a body built in Python: orjson refuses those literals and
turns integers beyond 64 bits into floats) is never in range.
"""

from __future__ import annotations

import math

from transforms.client_strings import json_kind


def integer_problem(
    value: object, minimum: int, maximum: int | None = None, *, expected: str | None = None
) -> str | None:
    """None when `value` is absent or an integer in [minimum, maximum]. `expected` words the range
    for values with a meaning of their own (Gemini's -1 and 0 thinking budgets)."""
    if value is None:
        return None
    wanted = expected or (f"an integer from {minimum} to {maximum}" if maximum is not None
                          else f"an integer of at least {minimum}")
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be {wanted} (got {_shown(value)})"
    if value < minimum or (maximum is not None and value > maximum):
        return f"must be {wanted} (got {value})"
    return None


def number_problem(value: object, minimum: float, maximum: float) -> str | None:
    """None when `value` is absent or a finite number in [minimum, maximum]."""
    if value is None:
        return None
    in_range = (not isinstance(value, bool) and isinstance(value, (int, float))
                and math.isfinite(value) and minimum <= value <= maximum)
    if in_range:
        return None
    return f"must be a number from {_number(minimum)} to {_number(maximum)} (got {_shown(value)})"


def _shown(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json_kind(value)
    return _number(value)


def _number(value: int | float) -> str:
    """As JSON writes it (2, 0.5, 1e+23), and NaN / Infinity by name."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e16:
            return f"{value:.1f}"
    return str(value)


def boolean_problem(value: object) -> str | None:
    """None when `value` is absent or true or false (`stream: "yes"` must not reach an upstream)."""
    if value is None or isinstance(value, bool):
        return None
    return f"must be true or false (got {_shown(value)})"
