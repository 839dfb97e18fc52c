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


# --- the WHATWG event-stream rules that upstreams exercise ----------------------------------------

WHATWG_BODY = (
    b"\xef\xbb\xbfdata: first\n\n"  # one leading BOM is dropped
    b"retry: 3000\nid: 7\ndata: second\n\n"  # retry and id carry nothing for the bridge
    b"data\n\n"  # a bare `data` line: a field with an empty value
    b"garbage line without a colon\ndata: third\n\n"  # any other name is ignored
    b":comment\rdata: fourth\r\r"  # CR-only line ends
    b"\xef\xbb\xbfdata: not-a-bom-here\n\n"  # only the stream's first BOM is dropped
)
WHATWG_EXPECTED = [(None, b"first"), (None, b"second"), (None, b""), (None, b"third"), (None, b"fourth")]


def test_whatwg_rules():
    assert events_of([WHATWG_BODY]) == WHATWG_EXPECTED


def test_whatwg_rules_at_every_split_point():
    for i in range(len(WHATWG_BODY) + 1):
        assert events_of([WHATWG_BODY[:i], WHATWG_BODY[i:]]) == WHATWG_EXPECTED, i
    assert events_of([WHATWG_BODY[i : i + 1] for i in range(len(WHATWG_BODY))]) == WHATWG_EXPECTED


def test_a_stream_of_only_part_of_a_bom_is_empty():
    assert events_of([b"\xef", b"\xbb"]) == []


def test_bare_data_lines_and_a_bom_do_not_break_a_translated_stream():
    """A bare `data` line is a valid (empty) event: the translation must go on, not fail on JSON."""
    from tests.anthropic_streams import TEXT
    from tests.test_anthropic_to_openai_stream import deltas, run

    noisy = b"\xef\xbb\xbf" + TEXT.replace(b"event: ping\n", b"data\n\nevent: ping\n").replace(
        b"event: message_stop", b"junk\nevent: message_stop")
    assert noisy != TEXT
    clean, with_noise = run(TEXT), run(noisy)
    assert b'"error"' not in with_noise
    assert deltas(with_noise) == deltas(clean)
