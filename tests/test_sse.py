"""SSE framing: any split of the bytes gives the same events."""

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.sse import SSEDecoder

BODY = (
    b": keep-alive\n\nevent: a\ndata: {\"x\": \"\xc3\xa9\xf0\x9f\x8c\x8d\"}\n\n"
    b"data: line1\r\ndata: line2\r\n\r\nevent: b\rdata: cr-only\r\rdata: no-space:x\n\ndata:tail"
)


def events_of(chunks, keep_raw=False):
    decoder = SSEDecoder(keep_raw=keep_raw)
    events = [e for c in chunks for e in decoder.feed(c)] + decoder.close()
    return [(e.event, e.data) for e in events]


EXPECTED = [
    ("a", b'{"x": "\xc3\xa9\xf0\x9f\x8c\x8d"}'),
    (None, b"line1\nline2"),
    ("b", b"cr-only"),
    (None, b"no-space:x"),
    (None, b"tail"),
]


def test_whole_body():
    assert events_of([BODY]) == EXPECTED


def test_every_single_split_point():
    for i in range(len(BODY) + 1):
        assert events_of([BODY[:i], BODY[i:]]) == EXPECTED, i


def test_byte_by_byte():
    assert events_of([BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(BODY)), max_size=12))
def test_random_splits(cuts):
    cuts = sorted(set(cuts))
    pieces = [BODY[a:b] for a, b in zip([0, *cuts], [*cuts, len(BODY)])]
    assert events_of(pieces) == EXPECTED


def test_raw_bytes_kept_for_passthrough():
    body = b": ping\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n"
    decoder = SSEDecoder(keep_raw=True)
    raw = b"".join(e.raw for i in range(len(body)) for e in decoder.feed(body[i : i + 1]))
    assert raw == body
