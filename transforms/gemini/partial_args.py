"""Vertex AI's streamed function arguments (`streamFunctionCallArguments`): a call opens with
`functionCall {name, willContinue: true}`, then `partialArgs` set values by JSON path (a string
value continues across chunks while its `willContinue` is true), and `functionCall {}` closes it."""

from __future__ import annotations

import re

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_VALUE_KEYS = ("stringValue", "numberValue", "boolValue", "nullValue", "structValue", "listValue")


def apply_partial_args(arguments: dict, partial_args: list[dict]) -> None:
    for partial in partial_args:
        path = partial.get("jsonPath") or "$"
        steps = [name if name else int(index) for name, index in _STEP.findall(path[1:])]
        if not steps:
            continue
        key = next((k for k in _VALUE_KEYS if k in partial), None)
        if key is None:
            continue
        value = None if key == "nullValue" else partial[key]
        target = arguments
        for step, following in zip(steps, steps[1:]):
            empty = [] if isinstance(following, int) else {}
            if isinstance(target, list):
                while len(target) <= step:
                    target.append(None)
                if target[step] is None:
                    target[step] = empty
                target = target[step]
            else:
                target = target.setdefault(step, empty)
        last = steps[-1]
        if isinstance(target, list):
            while len(target) <= last:
                target.append(None)
            current = target[last]
        else:
            current = target.get(last)
        if key == "stringValue" and isinstance(current, str):
            value = current + value  # a string arrives in pieces
        target[last] = value
