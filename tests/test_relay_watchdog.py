"""The relay's watchdog (issue 12, point 2): when the HTTP client fails to keep its own timers (simulated
here by the bridge's real client with its timers switched off, against a real stalling server), the call
still ends within the call's bounds plus a margin: an error envelope before the answer's head, a clean end
of the body after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from addons.credentials.credential import Credential
from addons.upstream.http1_client import Http1Pool
from addons.upstream.relay import CALL_HEADER, RELAY_ERROR_HEADER, RelayCall, UpstreamRelay, UpstreamTimeouts, answer_bound
from addons.upstream.retry_policy import NO_RETRIES, RetryPolicy

TIMEOUTS = UpstreamTimeouts(connect_s=0.3, first_byte_s=0.3, idle_s=0.3)
MARGIN = 0.3


class _TimerlessResponse:
    def __init__(self, response) -> None:
        self._response = response

    def __getattr__(self, name):
        return getattr(self._response, name)

    def chunks(self, idle_timeout=None):
        return self._response.chunks(None)  # the idle bound ignored


class TimerlessPool(Http1Pool):
    """The bridge's own HTTP/1.1 client with its timers off: an HTTP library that fails to time out."""

    async def request(self, method, url, headers, body=b"", **kwargs):
        kwargs.update(connect_timeout=None, first_byte_timeout=None)
        return _TimerlessResponse(await super().request(method, url, headers, body, **kwargs))


async def stalling_server(answer_head: bool):
    """Reads a request; then says nothing (or sends a streamed answer's head and first event) and stalls."""
    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        if answer_head:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"d\r\ndata: first\n\n\r\n")
        await asyncio.sleep(3600)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def call_through_relay(relay: UpstreamRelay, call: RelayCall) -> tuple[bytes, float]:
    call_id = relay.register(call)
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    started = time.monotonic()
    writer.write(f"POST /v1/messages HTTP/1.1\r\nhost: up\r\n{CALL_HEADER}: {call_id}\r\ncontent-length: 2\r\n\r\n{{}}".encode())
    await writer.drain()
    answer = b""
    while not (answer.endswith(b"0\r\n\r\n") or (b"content-length" in answer and answer.endswith(b"}"))):
        data = await asyncio.wait_for(reader.read(65536), 30)
        if not data:
            break
        answer += data
    writer.close()
    return answer, time.monotonic() - started


@pytest.fixture
async def relay():
    relay = UpstreamRelay()
    relay._pool = TimerlessPool()
    relay.watchdog_margin_s = MARGIN
    await relay.start()
    yield relay
    relay.close()


@pytest.mark.parametrize("retry", [NO_RETRIES, RetryPolicy(attempts=2, max_retry_after=0.1, backoff_max=0.1)],
                         ids=["once", "retries"])
async def test_no_answer_at_all_is_the_clients_504_within_the_bound(relay, retry):
    server, port = await stalling_server(answer_head=False)
    call = RelayCall(f"http://127.0.0.1:{port}/v1/messages", "stalling", Credential(lambda key: {}), retry=retry,
                     timeout=TIMEOUTS)
    bound = answer_bound(call, MARGIN)
    answer, took = await call_through_relay(relay, call)
    server.close()
    assert answer.startswith(b"HTTP/1.1 504") and RELAY_ERROR_HEADER.encode() in answer, answer
    assert b"watchdog" in answer and b"stalling" in answer
    assert bound - 0.05 <= took <= bound + 1.0, (took, bound)


async def test_a_body_that_stops_moving_is_ended_cleanly(relay):
    """Within the idle bound (plus the margin), not the whole call's, however long the first byte may take."""
    server, port = await stalling_server(answer_head=True)
    call = RelayCall(f"http://127.0.0.1:{port}/v1/messages", "stalling", Credential(lambda key: {}),
                     timeout=UpstreamTimeouts(connect_s=0.3, first_byte_s=4.0, idle_s=0.3))
    answer, took = await call_through_relay(relay, call)
    server.close()
    assert answer.startswith(b"HTTP/1.1 200") and b"data: first" in answer
    assert answer.endswith(b"0\r\n\r\n")  # a clean end: the flow's translator adds the client's error event
    assert TIMEOUTS.idle_s + MARGIN - 0.05 <= took <= TIMEOUTS.idle_s + MARGIN + 1.0, took


async def test_the_relay_keeps_serving_after_its_watchdog_fired(relay):
    server, port = await stalling_server(answer_head=False)
    call = RelayCall(f"http://127.0.0.1:{port}/v1/messages", "stalling", Credential(lambda key: {}), timeout=TIMEOUTS)
    first, _ = await call_through_relay(relay, call)
    second, _ = await call_through_relay(relay, call)
    server.close()
    assert first.startswith(b"HTTP/1.1 504") and second.startswith(b"HTTP/1.1 504")
