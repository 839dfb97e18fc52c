"""Streamed JSON arrays (Gemini without alt=sse): any split gives the same elements."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.json_array import JSONArrayFraming

ELEMENTS = [{"a": "x]}{\\\"[", "b": [1, {"c": "é🌍"}]}, {"candidates": [{"content": {"parts": [{"text": "hi, [there]"}]}}]}, {}]
BODY = b"[" + b",\r\n".join(orjson.dumps(e, option=orjson.OPT_INDENT_2) for e in ELEMENTS) + b"]"


def elements(pieces):
    framing = JSONArrayFraming()
    return [orjson.loads(e.data) for p in pieces for e in framing.feed(p)] + framing.close()


def test_every_split_point():
    assert elements([BODY]) == ELEMENTS
    for i in range(len(BODY) + 1):
        assert elements([BODY[:i], BODY[i:]]) == ELEMENTS, i
    assert elements([BODY[i:i + 1] for i in range(len(BODY))]) == ELEMENTS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(BODY)), max_size=10))
def test_random_splits(cuts):
    cuts = sorted(set(cuts))
    assert elements([BODY[a:b] for a, b in zip([0, *cuts], [*cuts, len(BODY)])]) == ELEMENTS
