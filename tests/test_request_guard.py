"""The request guard's parts, in isolation: bounded inflation, measured bodies, the origin rule,
header values the bridge writes, and the depth and HTML-page messages. (Through a real mitmdump:
tests/test_hostile_input.py and tests/test_cross_site.py.)"""

from __future__ import annotations

import gzip
import zlib

import brotli
import orjson
import pytest
import zstandard

from addons.guards.cross_site import is_json_media_type, is_own_origin, normalize_origin, preflight_headers
from addons.guards.header_values import header_fields, header_value
from addons.guards.request_body import BoundedBody, check_encoding, inflate
from transforms.codecs import CLIENT_CODECS
from transforms.errors import BridgeError, body_summary
from transforms.json_body import MAX_DEPTH, nesting, parse_json_object, too_deep

COMPRESS = {"gzip": gzip.compress, "x-gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
            "zstd": zstandard.ZstdCompressor().compress}
LIMIT = 1024 * 1024


@pytest.mark.parametrize("coding", sorted(COMPRESS))
def test_honest_bodies_inflate_whole(coding):
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 700_000}]})
    assert inflate(COMPRESS[coding](body), [coding], LIMIT) == body


@pytest.mark.parametrize("coding", sorted(COMPRESS))
def test_a_bomb_is_refused_at_the_limit(coding):
    bomb = COMPRESS[coding](b" " * (20 * LIMIT))
    with pytest.raises(BridgeError) as refused:
        inflate(bomb, [coding], LIMIT)
    assert refused.value.status == 413 and f"inflates ({coding}) to more than {LIMIT} bytes" in refused.value.message


def test_a_body_exactly_at_the_limit_passes():
    body = b"x" * LIMIT
    assert inflate(gzip.compress(body), ["gzip"], LIMIT) == body
    with pytest.raises(BridgeError):
        inflate(gzip.compress(body + b"x"), ["gzip"], LIMIT)


@pytest.mark.parametrize("coding", sorted(COMPRESS))
@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_corrupt_or_cut_data_is_the_clients_400(coding, damage):
    data = b"certainly not compressed" if damage == "garbage" else COMPRESS[coding](b"{}" * 5000)[:-6]
    with pytest.raises(BridgeError) as refused:
        inflate(data, [coding], LIMIT)
    assert refused.value.status == 400 and f"not valid {coding} data" in refused.value.message


def test_stacked_encodings_are_undone_last_first():
    body = b'{"a": 1}'
    assert inflate(brotli.compress(gzip.compress(body)), ["gzip", "br"], LIMIT) == body
    assert check_encoding("gzip, br") == ["gzip", "br"]
    assert check_encoding("") == []


@pytest.mark.parametrize("value", ["compress", "gzip, snappy", "x\x00y", "a" * 300])
def test_unknown_encodings_are_415_naming_them(value):
    with pytest.raises(BridgeError) as refused:
        check_encoding(value)
    message = refused.value.message
    assert refused.value.status == 415 and "\x00" not in message and len(message) < 200


def test_a_measured_body_keeps_nothing_past_the_limit():
    body = BoundedBody(10)
    assert body.feed(b"12345") == [] and body.feed(b"6789") == []
    assert not body.overflowed and body.body() == b"123456789"
    assert body.feed(b"ab") == [] and body.overflowed and body.body() == b"" and body.size == 11


@pytest.mark.parametrize("value, expected", [
    ("http://127.0.0.1:5173", "http://127.0.0.1:5173"), ("HTTP://LocalHost:80", "http://localhost"),
    ("https://x.example:443", "https://x.example"), ("http://[::1]:8080", "http://[::1]:8080"),
    ("null", None), ("*", None), ("file://", None), ("http://x/", None), ("http://u@x", None), ("http://x:99999", None),
])
def test_origins_normalized(value, expected):
    assert normalize_origin(value) == expected


@pytest.mark.parametrize("origin, host, tokens, own", [
    ("http://127.0.0.1:8080", "127.0.0.1:8080", False, True),
    ("http://localhost:8080", "localhost:8080", False, True),
    ("http://[::1]:8080", "[::1]:8080", False, True),
    ("http://localhost:8081", "localhost:8080", False, False),  # another local page
    ("http://evil.example:8080", "evil.example:8080", False, False),  # DNS rebinding
    ("http://evil.example:8080", "evil.example:8080", True, True),  # ...harmless when a token is needed
    ("https://127.0.0.1:8080", "127.0.0.1:8080", False, False),  # another scheme is another origin
    ("null", "127.0.0.1:8080", False, False),
])
def test_own_origin(origin, host, tokens, own):
    assert is_own_origin(origin, host, "http", tokens_configured=tokens) is own


def test_preflight_echoes_the_requested_headers_for_a_listed_origin():
    headers = preflight_headers("http://127.0.0.1:5173", "authorization, content-type, x-stainless-os")
    assert headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    assert headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    assert "POST" in headers["access-control-allow-methods"] and headers["vary"] == "Origin"


@pytest.mark.parametrize("value, ok", [("application/json", True), ("application/json; charset=utf-8", True),
                                       ("Application/JSON", True), ("text/plain", False), ("application/jsonx", False),
                                       ("multipart/form-data; boundary=x", False), ("", False)])
def test_json_media_type(value, ok):
    assert is_json_media_type(value) is ok


def test_header_values_never_carry_a_line_break():
    assert header_value("claude-sonnet-4-5") == "claude-sonnet-4-5"
    forged = header_value("x\r\nx-injected: yes\r\n\r\nbody")
    assert "\r" not in forged and "\n" not in forged and forged.startswith("x%0D%0A")
    assert header_value("Ünï") == "%C3%9Cn%C3%AF"
    assert all(b"\n" not in v for _, v in header_fields({"a": "1\n2", "b": "\x00"}))


def test_html_error_pages_are_one_line():
    page = b"<!DOCTYPE html><html><head><title>502 Bad\n Gateway</title></head><body>" + b"<p>x</p>" * 500 + b"</body></html>"
    assert body_summary(page) == "an HTML page titled '502 Bad Gateway'"
    assert body_summary(b"<html><body><h1>Oops</h1></body></html>") == "an HTML page: Oops"
    assert body_summary(b"plain\r\ntext   error") == "plain text error"
    assert len(body_summary(b"y" * 5000)) <= 203


def test_depth_named_with_its_path():
    deep: dict = {"type": "object"}
    for _ in range(300):
        deep = {"type": "object", "properties": {"p": deep}}
    body = {"model": "m", "tools": [{"name": "t", "input_schema": deep}]}
    depth, path = nesting(body)
    assert depth == 604 and path.startswith("tools[0].input_schema.properties.p")
    error = too_deep(body)
    assert error.status == 400 and "604 levels deep" in error.message and str(MAX_DEPTH) in error.message


def test_json_past_the_parsers_depth_is_a_400_naming_it():
    with pytest.raises(BridgeError) as refused:
        parse_json_object(b"[" * 2000 + b"]" * 2000)
    assert refused.value.status == 400 and "levels" in refused.value.message and "JSONDecodeError" not in refused.value.message


@pytest.mark.parametrize("protocol", ["anthropic", "openai-chat", "openai-responses"])
def test_stream_must_be_a_boolean(protocol):
    with pytest.raises(BridgeError) as refused:
        CLIENT_CODECS[protocol].check_request({"model": "m", "stream": "yes", "max_tokens": 5})
    assert refused.value.param == "stream"
