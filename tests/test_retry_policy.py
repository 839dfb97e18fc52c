"""When an upstream call is retried (addons/upstream/retry_policy.py), and how upstream and
bridge failures are reported behind a proxy URL (addons/proxy_url/errors.py)."""

from __future__ import annotations

import email.utils
import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.http import Headers

from addons.proxy_url.errors import CODES, ERRORS_PATH, ProxyFailure, code_for, envelope, merged, reference
from addons.upstream.retry_policy import NO_RETRIES, RetryPolicy, retry_after_seconds, retryable_status
from transforms.errors import BridgeError

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z

# --- retryable_status ---


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 520, 529, 599])
def test_retryable(status):
    assert retryable_status(status) is True


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 413, 422, 428, 430, 499, 501, 505])
def test_not_retryable(status):
    assert retryable_status(status) is False


# --- retry_after_seconds ---


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "0"}, 0.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after": " 3 "}, 3.0),
    ({"retry-after": "-4"}, 0.0),  # never negative
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "250.5"}, 0.2505),
    ({"retry-after-ms": "-10"}, 0.0),
    ({"retry-after-ms": "2000", "retry-after": "9"}, 2.0),  # the finer one wins
    ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # an unreadable ms header falls back
    ({"retry-after-ms": "", "retry-after": "9"}, 9.0),
])
def test_retry_after_numbers(headers, seconds):
    assert retry_after_seconds(headers, now=NOW) == pytest.approx(seconds)


def test_retry_after_http_dates():
    future = email.utils.formatdate(NOW + 30, usegmt=True)
    assert future.endswith("GMT")
    assert retry_after_seconds({"retry-after": future}, now=NOW) == pytest.approx(30.0)
    past = email.utils.formatdate(NOW - 30, usegmt=True)
    assert retry_after_seconds({"retry-after": past}, now=NOW) == 0.0
    offset = email.utils.formatdate(NOW + 90, localtime=False)  # "+0000" spelling
    assert retry_after_seconds({"retry-after": offset}, now=NOW) == pytest.approx(90.0)
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2023 22:14:00 GMT"}, now=NOW) == pytest.approx(40.0)


def test_retry_after_date_uses_the_clock_by_default():
    import time

    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds({"retry-after": in_a_minute}) <= 60


@pytest.mark.parametrize("headers", [
    {},
    {"retry-after": ""},
    {"retry-after": "soon"},
    {"retry-after": "later, please"},
    {"retry-after": "Mon, 32 Jan 2024 00:00:00 GMT"},
    {"retry-after": "Tue, 14 Nov 99999 22:14:00 GMT"},
    {"retry-after-ms": "abc"},
    {"x-ratelimit-reset": "5"},
])
def test_retry_after_garbage_is_none(headers):
    assert retry_after_seconds(headers, now=NOW) is None


def test_retry_after_reads_case_insensitive_headers():
    assert retry_after_seconds(Headers([(b"Retry-After", b"12")]), now=NOW) == 12.0
    assert retry_after_seconds(Headers([(b"Retry-After-Ms", b"300")]), now=NOW) == pytest.approx(0.3)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_retry_after_never_raises_and_is_never_negative(seconds, ms):
    for headers in ({"retry-after": seconds}, {"retry-after-ms": ms}, {"retry-after": seconds, "retry-after-ms": ms}):
        value = retry_after_seconds(headers, now=NOW)
        assert value is None or not value < 0


# --- RetryPolicy ---


def test_defaults():
    policy = RetryPolicy()
    assert (policy.attempts, policy.max_retry_after, policy.backoff_initial, policy.backoff_max) == (3, 20.0, 0.5, 8.0)
    assert policy.enabled
    assert not NO_RETRIES.enabled and NO_RETRIES.pause(1, None) is None


def test_pause_stops_when_attempts_are_used_up():
    policy = RetryPolicy(attempts=3)
    assert policy.pause(1, None) is not None
    assert policy.pause(2, None) is not None
    assert policy.pause(3, None) is None
    assert policy.pause(4, 0.0) is None


def test_pause_honours_retry_after_up_to_the_cap():
    policy = RetryPolicy(attempts=5, max_retry_after=20.0)
    assert policy.pause(1, 0.0) == 0.0
    assert policy.pause(1, 3.5) == 3.5
    assert policy.pause(2, 20.0) == 20.0
    assert policy.pause(1, 20.01) is None  # longer than the cap: not waited for, told to the client
    assert policy.pause(1, float("inf")) is None


def test_backoff_grows_exponentially_up_to_backoff_max():
    policy = RetryPolicy(attempts=10, backoff_initial=0.5, backoff_max=8.0)
    top = [policy.backoff(n, rng=lambda: 1.0) for n in range(1, 9)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    bottom = [policy.backoff(n, rng=lambda: 0.0) for n in range(1, 9)]
    assert bottom == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_backoff_jitter_is_within_half_the_ceiling_and_the_ceiling():
    policy = RetryPolicy(attempts=10, backoff_initial=1.0, backoff_max=5.0)
    assert policy.backoff(1, rng=lambda: 0.5) == 0.75
    assert policy.backoff(3, rng=lambda: 0.5) == 3.0  # ceiling 4
    assert policy.backoff(4, rng=lambda: 0.25) == 2.5 + 0.25 * 2.5  # ceiling min(5, 8) = 5
    for attempt, r in itertools.product(range(1, 7), [0.0, 0.1, 0.5, 0.9, 0.999]):
        ceiling = min(5.0, 2 ** (attempt - 1))
        pause = policy.backoff(attempt, rng=lambda r=r: r)
        assert ceiling / 2 <= pause <= ceiling
        assert pause == pytest.approx(ceiling / 2 + r * ceiling / 2)


def test_pause_without_retry_after_is_a_jittered_backoff():
    policy = RetryPolicy(attempts=6, backoff_initial=0.5, backoff_max=3.0)
    for attempt in range(1, 6):
        ceiling = min(3.0, 0.5 * 2 ** (attempt - 1))
        pauses = {policy.pause(attempt, None) for _ in range(200)}
        assert all(ceiling / 2 <= p <= ceiling for p in pauses)
        assert len(pauses) > 1  # jittered, not one fixed value


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.floats(0.0, 10.0), st.floats(0.0, 60.0), st.floats(0.0, 1.0, exclude_max=True))
def test_backoff_is_bounded(attempt, initial, maximum, r):
    pause = RetryPolicy(attempts=50, backoff_initial=initial, backoff_max=maximum).backoff(attempt, rng=lambda: r)
    ceiling = min(maximum, initial * 2 ** (attempt - 1))
    assert ceiling / 2 <= pause <= ceiling + 1e-12
    assert pause <= maximum + 1e-12


# --- proxy-URL error codes ---

EXPECTED_STATUS = {
    "INVALID_JSON": 400, "MISSING_TOKEN": 400, "INVALID_TOKEN": 401, "UNAUTHORIZED": 401, "UNSUPPORTED_ENDPOINT": 400,
    "RATE_LIMITED": 429, "UPSTREAM_ERROR": 502, "UPSTREAM_TIMEOUT": 504, "RETRY_EXHAUSTED": 503,
    "SECRET_NOT_SET": 503, "INTERNAL_ERROR": 500,
    "FORBIDDEN_ORIGIN": 403, "UNSUPPORTED_MEDIA_TYPE": 415, "REQUEST_TOO_LARGE": 413,
}


def test_every_code_and_its_status():
    assert {code: status for code, (status, _kind, _meaning) in CODES.items()} == EXPECTED_STATUS
    assert reference() == {code: {"status": status, "meaning": CODES[code][2]} for code, status in EXPECTED_STATUS.items()}
    assert ERRORS_PATH == "/api/errors"


@pytest.mark.parametrize("code", sorted(EXPECTED_STATUS))
def test_proxy_failure_takes_its_codes_status_and_kind(code):
    failure = ProxyFailure(code, "something", endpoint_group="models", retry_after="3")
    assert failure.status == EXPECTED_STATUS[code]
    error = failure.as_bridge_error()
    assert (error.kind, error.status, error.code, error.retry_after, error.message) == \
        (CODES[code][1], EXPECTED_STATUS[code], code, "3", "something")
    assert code_for(error) == (code, EXPECTED_STATUS[code])


def test_proxy_failure_status_can_be_given():
    failure = ProxyFailure("UNSUPPORTED_ENDPOINT", "nothing here", status=404)
    assert failure.status == 404 and failure.as_bridge_error().status == 404


@pytest.mark.parametrize(("error", "mapped"), [
    (BridgeError("rate_limit", "slow down", status=429), ("RATE_LIMITED", 429)),
    (BridgeError("invalid_request", "odd 429", status=429), ("RATE_LIMITED", 429)),
    (BridgeError("timeout", "no answer"), ("UPSTREAM_TIMEOUT", 504)),
    (BridgeError("timeout", "request timeout", status=408), ("UPSTREAM_TIMEOUT", 504)),
    (BridgeError("api_error", "boom", status=500), ("UPSTREAM_ERROR", 502)),
    (BridgeError("overloaded", "busy", status=503), ("UPSTREAM_ERROR", 502)),
    (BridgeError("overloaded", "anthropic overloaded", status=529), ("UPSTREAM_ERROR", 502)),
    (BridgeError("api_error", "bad gateway", status=502), ("UPSTREAM_ERROR", 502)),
    (BridgeError("invalid_request", "bad field", status=400), ("UPSTREAM_ERROR", 400)),
    (BridgeError("authentication", "bad key", status=401), ("UPSTREAM_ERROR", 401)),
    (BridgeError("permission", "forbidden", status=403), ("UPSTREAM_ERROR", 403)),
    (BridgeError("not_found", "no model", status=404), ("UPSTREAM_ERROR", 404)),
    (BridgeError("request_too_large", "too big", status=413), ("UPSTREAM_ERROR", 413)),
    (BridgeError("invalid_request", "unprocessable", status=422), ("UPSTREAM_ERROR", 422)),
    # explicit codes are kept, with the error's own status
    (BridgeError("overloaded", "all tries failed", status=503, code="RETRY_EXHAUSTED"), ("RETRY_EXHAUSTED", 503)),
    (BridgeError("rate_limit", "x", status=429, code="RETRY_EXHAUSTED"), ("RETRY_EXHAUSTED", 429)),
    (BridgeError("api_error", "x", status=500, code="INTERNAL_ERROR"), ("INTERNAL_ERROR", 500)),
    # a code the proxy does not know is mapped like any upstream error
    (BridgeError("api_error", "x", status=500, code="SOMETHING_ELSE"), ("UPSTREAM_ERROR", 502)),
])
def test_code_for(error, mapped):
    assert code_for(error) == mapped


def test_envelope_fields():
    body = envelope("RATE_LIMITED", "slow down", request_id="req_1", provider="groq", endpoint_group="chat",
                    docs_url="https://console.groq.com/docs", retry_after="12")
    assert body == {"error_code": "RATE_LIMITED", "message": "slow down", "provider": "groq", "endpoint_group": "chat",
                    "request_id": "req_1", "docs_url": "https://console.groq.com/docs", "retry_after": 12}
    assert type(body["retry_after"]) is int


@pytest.mark.parametrize(("given_value", "shown"), [("12", 12), ("0", 0), ("1.5", 1.5), ("2.0", 2), (" 3 ", 3)])
def test_envelope_retry_after_is_a_number(given_value, shown):
    body = envelope("RATE_LIMITED", "m", request_id="r", provider=None, endpoint_group=None, docs_url="d",
                    retry_after=given_value)
    assert body["retry_after"] == shown and type(body["retry_after"]) is type(shown)


def test_envelope_without_retry_after_has_no_such_field():
    body = envelope("INVALID_TOKEN", "bad", request_id="r", provider=None, endpoint_group=None, docs_url="d")
    assert "retry_after" not in body
    assert body["provider"] is None and body["endpoint_group"] is None


def test_merged_keeps_the_client_envelope():
    fields = envelope("UPSTREAM_ERROR", "boom", request_id="req_2", provider="openai", endpoint_group="chat",
                      docs_url="d")
    openai_body = orjson.dumps({"error": {"message": "boom", "type": "server_error", "code": None}})
    assert orjson.loads(merged(openai_body, fields)) == {"error": {"message": "boom", "type": "server_error",
                                                                   "code": None}, **fields}
    anthropic_body = orjson.dumps({"type": "error", "error": {"type": "api_error", "message": "boom"}})
    out = orjson.loads(merged(anthropic_body, fields))
    assert out["type"] == "error" and out["error"] == {"type": "api_error", "message": "boom"}
    assert out["error_code"] == "UPSTREAM_ERROR" and out["request_id"] == "req_2"


@pytest.mark.parametrize("client_body", [b"", b"not json", b"[1, 2]", b'"text"', b"null"])
def test_merged_with_an_unusable_client_body_is_the_envelope(client_body):
    fields = envelope("INTERNAL_ERROR", "m", request_id="r", provider=None, endpoint_group=None, docs_url="d")
    assert orjson.loads(merged(client_body, fields)) == fields


def test_unbounded_retry_after_values_are_capped_or_ignored():
    from addons.upstream.retry_policy import MAX_RETRY_AFTER_S

    assert retry_after_seconds({"retry-after": "inf"}) == MAX_RETRY_AFTER_S
    assert retry_after_seconds({"retry-after": "1e999"}) == MAX_RETRY_AFTER_S
    assert retry_after_seconds({"retry-after-ms": "-5"}) == 0.0
    assert retry_after_seconds({"retry-after": "nan"}) is None
