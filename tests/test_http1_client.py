"""The relay's HTTP/1.1 client (addons/upstream/http1_client.py) against real local servers.

Every upstream here is a raw asyncio server on 127.0.0.1 written in the test, so it can send
exactly the bytes a case needs: a body split at any byte, a chunk-size line that is not hex, a
reset with SO_LINGER 0, silence. Each failure must come as the client's own exception, with a
human reason, within its timeout plus a margin, never as a hang.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from addons.upstream.http1_client import (
    ConnectFailed,
    Disconnected,
    Http1Pool,
    IdleTimeout,
    NoAnswer,
    ProtocolError,
    UpstreamFailure,
    _ChunkedDecoder,
)

MARGIN_S = 1.0  # a timer's own lateness on a busy 2-core machine
JSON = b'{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}]}'
HEADERS = [(b"content-type", b"application/json"), (b"x-api-key", b"sk-test")]


# --- the upstreams ------------------------------------------------------------------------------------

Handler = Callable[["Upstream", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A raw server on 127.0.0.1: `handler(upstream, reader, writer)` runs each connection."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[bytes] = []  # each request's head, as received
        self.bodies: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()  # handlers that hold a connection open (a stall) end with the test
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._tasks.append(asyncio.current_task())
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request (head and Content-Length body); None when the client closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append(head)
        self.bodies.append(body)
        return head


def answering(*answers: bytes, then_close: bool = False) -> Handler:
    """Answer each request on a connection with the next of `answers` (the last one repeats)."""
    async def handler(upstream: Upstream, reader, writer) -> None:
        index = 0
        while await upstream.read_request(reader) is not None:
            writer.write(answers[min(index, len(answers) - 1)])
            await writer.drain()
            index += 1
            if then_close:
                return
    return handler


def length_answer(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n%scontent-length: %d\r\n\r\n%s" % (
        status, extra, len(body), body)


def chunked_answer(*chunks: bytes, trailer: bytes = b"") -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" + framed + \
        b"0\r\n" + trailer + b"\r\n"


def sse_events(count: int) -> list[bytes]:
    return [b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"text":"t%d"}}\n\n' % i
            for i in range(count)]


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, not a FIN."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.fixture
async def pool():
    pool = Http1Pool()
    yield pool
    pool.close()


async def fetch(pool: Http1Pool, url: str, *, idle_timeout: float | None = 5.0, **kwargs) -> tuple[int, bytes]:
    response = await pool.request("POST", url, HEADERS, b'{"q":1}', connect_timeout=kwargs.pop("connect_timeout", 5.0),
                                  first_byte_timeout=kwargs.pop("first_byte_timeout", 5.0), **kwargs)
    body = await response.read(idle_timeout)
    assert response.complete
    response.release()
    return response.status, body


# --- bodies ----------------------------------------------------------------------------------------------

async def test_content_length_body(pool):
    async with Upstream(answering(length_answer(JSON, extra=b"X-Request-Id: r-1\r\nX-Dup: a\r\nx-dup: b\r\n"))) as up:
        response = await pool.request("POST", up.url + "/v1/messages", HEADERS, b"{}", connect_timeout=5,
                                      first_byte_timeout=5)
        assert (response.status, response.reason) == (200, b"OK")
        assert response.headers == [(b"content-type", b"application/json"), (b"X-Request-Id", b"r-1"),
                                    (b"X-Dup", b"a"), (b"x-dup", b"b"), (b"content-length", b"%d" % len(JSON))]
        assert response.header("x-request-id") == "r-1" and response.header(b"X-DUP") == "a"
        assert response.header("retry-after") is None
        assert b"".join([c async for c in response.chunks(5)]) == JSON
        assert response.complete
        response.release()
        assert pool.idle_connections == 1


async def test_chunked_body_split_at_every_byte_boundary(pool):
    events = sse_events(3)
    answer = chunked_answer(*events)
    split_at = 0

    async def handler(upstream, reader, writer):
        nonlocal split_at
        while await upstream.read_request(reader) is not None:
            writer.write(answer[:split_at])
            await writer.drain()
            await asyncio.sleep(0.002)  # the client reads the first part alone
            writer.write(answer[split_at:])
            await writer.drain()

    async with Upstream(handler) as up:
        for split_at in range(1, len(answer)):
            assert await fetch(pool, up.url + "/stream") == (200, b"".join(events)), split_at
        assert up.connections == 1  # every answer read to its end: the connection was reused throughout


@pytest.mark.parametrize("piece", [1, 2, 3, 7])
def test_chunked_decoder_fed_in_small_pieces(piece):
    """The decoder alone, deterministic: every piece size, with extensions and trailers."""
    events = sse_events(4)
    body = b"".join(b"%x;name=value;q=\"a b\"\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\nX-Checksum: 1\r\n\r\n"
    decoder, buffer, out = _ChunkedDecoder(), bytearray(), []
    for i in range(0, len(body), piece):
        buffer += body[i:i + piece]
        out.append(decoder.decode(buffer))
    assert decoder.done and not buffer
    assert b"".join(out) == b"".join(events)
    assert decoder.trailers == [(b"X-Checksum", b"1")]


async def test_body_read_until_close(pool):
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n" + b"x" * 100_000
    async with Upstream(answering(answer, then_close=True)) as up:
        response = await pool.request("GET", up.url + "/", [], connect_timeout=5, first_byte_timeout=5)
        assert await response.read(5) == b"x" * 100_000
        assert response.complete
        response.release()  # no framing: the connection cannot carry another answer
        assert pool.idle_connections == 0 and pool.open_connections == 0


async def test_chunk_extensions(pool):
    answer = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
              b"5;foo=bar\r\nhello\r\n6 ; q=\"x;y\"\r\n world\r\n0;last\r\n\r\n")
    async with Upstream(answering(answer)) as up:
        assert await fetch(pool, up.url) == (200, b"hello world")


async def test_trailers(pool):
    answer = chunked_answer(b"data: 1\n\n", trailer=b"X-Usage: 42\r\nX-Digest: sha-256=abc\r\n")
    async with Upstream(answering(answer)) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        assert await response.read(5) == b"data: 1\n\n"
        assert response.trailers == [(b"X-Usage", b"42"), (b"X-Digest", b"sha-256=abc")]
        response.release()
        assert pool.idle_connections == 1  # trailers read: the connection is clean for the next answer


async def test_five_megabyte_bodies(pool):
    big = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    pieces = [big[i:i + 300_000] for i in range(0, len(big), 300_000)]
    async with Upstream(answering(length_answer(big), chunked_answer(*pieces))) as up:
        assert await fetch(pool, up.url) == (200, big)
        assert await fetch(pool, up.url) == (200, big)
        assert up.connections == 1


async def test_no_body_for_head_204_and_304(pool):
    async with Upstream(answering(
        b"HTTP/1.1 200 OK\r\ncontent-length: 12345\r\n\r\n",  # HEAD: the length of the body a GET would get
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n",
        length_answer(b"after"),
    )) as up:
        for method in ("HEAD", "DELETE", "GET"):
            response = await pool.request(method, up.url, [], connect_timeout=5, first_byte_timeout=5)
            assert response.complete and await response.read(5) == b""
            response.release()
        assert await fetch(pool, up.url) == (200, b"after")
        assert up.connections == 1


async def test_informational_answers_are_skipped(pool):
    answer = b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + length_answer(b"ok")
    async with Upstream(answering(answer)) as up:
        assert await fetch(pool, up.url) == (200, b"ok")


# --- the request as sent ------------------------------------------------------------------------------------

async def test_request_sent_byte_exact(pool):
    async with Upstream(answering(length_answer(b"{}"))) as up:
        path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream?a=%2F&b=c%3Ad"
        await fetch(pool, up.url + path)
        assert up.requests[0] == (
            b"POST " + path.encode() + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1:%d\r\ncontent-type: application/json\r\nx-api-key: sk-test\r\n"
            b"Content-Length: 7\r\n\r\n" % up.port)
        assert up.bodies[0] == b'{"q":1}'


async def test_given_host_and_content_length_are_kept(pool):
    async with Upstream(answering(length_answer(b"{}"))) as up:
        headers = [(b"Content-Length", b"2"), (b"host", b"api.example.test"), (b"X-A", b"1")]
        response = await pool.request("PUT", up.url + "/a%3Ab", headers, b"{}", connect_timeout=5, first_byte_timeout=5)
        await response.read(5)
        response.release()
        assert up.requests[0] == b"PUT /a%3Ab HTTP/1.1\r\nContent-Length: 2\r\nhost: api.example.test\r\nX-A: 1\r\n\r\n"
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        await response.read(5)
        response.release()
        assert up.requests[1] == b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % up.port  # no body, no length


async def test_a_line_break_in_a_header_is_refused(pool):
    with pytest.raises(ValueError):
        await pool.request("GET", "http://127.0.0.1:1/", [(b"x-a", b"1\r\nx-injected: 1")], connect_timeout=1)


# --- keep-alive -------------------------------------------------------------------------------------------------

async def test_one_connection_for_sequential_requests(pool):
    async with Upstream(answering(length_answer(JSON), chunked_answer(*sse_events(5)))) as up:
        for _ in range(20):
            status, _ = await fetch(pool, up.url + "/v1/messages")
            assert status == 200
        assert up.connections == 1
        assert len(up.requests) == 20


async def test_connection_close_answers_are_not_reused(pool):
    async with Upstream(answering(length_answer(b"1", extra=b"connection: close\r\n"))) as up:
        for _ in range(3):
            assert await fetch(pool, up.url) == (200, b"1")
        assert up.connections == 3


async def test_chunked_with_a_content_length_too_is_read_chunked_and_not_reused(pool):
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    async with Upstream(answering(answer)) as up:
        assert await fetch(pool, up.url) == (200, b"hello")
        assert pool.open_connections == 0


async def test_http_1_0_answers(pool):
    async def handler(upstream, reader, writer):  # the first answer of all without keep-alive, then with
        while await upstream.read_request(reader) is not None:
            keep_alive = b"connection: keep-alive\r\n" if len(upstream.requests) > 1 else b""
            writer.write(b"HTTP/1.0 200 OK\r\n%scontent-length: 2\r\n\r\nok" % keep_alive)

    async with Upstream(handler) as up:
        assert await fetch(pool, up.url) == (200, b"ok")
        assert pool.open_connections == 0  # 1.0 without keep-alive: closed
        assert await fetch(pool, up.url) == (200, b"ok")
        assert await fetch(pool, up.url) == (200, b"ok")
        assert up.connections == 2 and pool.idle_connections == 1


async def test_server_closes_an_idle_pooled_connection(pool):
    """The server closes after answering (its keep-alive timeout): the pool drops the connection as
    the close arrives, and the next request goes on a new one."""
    async with Upstream(answering(length_answer(b"1"), then_close=True)) as up:
        assert await fetch(pool, up.url) == (200, b"1")
        await asyncio.sleep(0.05)
        assert pool.idle_connections == 0
        assert await fetch(pool, up.url) == (200, b"1")
        assert up.connections == 2


async def test_close_racing_the_next_request_is_retried_once_on_a_new_connection(pool):
    """The close arrives only after the next request was sent on the reused connection (the classic
    keep-alive race): nothing of the answer came, so the request goes once more on a new connection."""
    async def handler(upstream, reader, writer):
        if await upstream.read_request(reader) is None:
            return
        writer.write(length_answer(b"first on its connection"))
        await writer.drain()
        await upstream.read_request(reader)  # the second request on this connection: closed unanswered

    async with Upstream(handler) as up:
        for _ in range(3):
            assert await fetch(pool, up.url) == (200, b"first on its connection")
        assert up.connections == 3
        assert len(up.requests) == 5  # 1 + (1 unanswered + 1 answered) * 2


async def test_retry_is_once_and_only_for_reused_connections(pool):
    async def handler(upstream, reader, writer):  # answers the first request of the first connection only
        if await upstream.read_request(reader) is not None and upstream.connections == 1:
            writer.write(length_answer(b"1"))
            await writer.drain()
            await upstream.read_request(reader)

    async with Upstream(handler) as up:
        assert await fetch(pool, up.url) == (200, b"1")
        with pytest.raises(Disconnected) as failure:
            await fetch(pool, up.url)
        assert failure.value.reason == "the server closed the connection before answering"
        assert up.connections == 2  # the reused one, then one fresh: no third attempt


async def test_bytes_on_an_idle_connection_take_it_out_of_the_pool(pool):
    """A server that writes on a kept-alive connection nobody asked anything of (a 408 before it closes,
    or junk): the connection's framing is lost, so it is dropped at once."""
    async def handler(upstream, reader, writer):
        while await upstream.read_request(reader) is not None:
            writer.write(length_answer(b"1"))
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")

    async with Upstream(handler) as up:
        assert await fetch(pool, up.url) == (200, b"1")
        await asyncio.sleep(0.1)
        assert pool.idle_connections == 0 and pool.open_connections == 0
        assert await fetch(pool, up.url) == (200, b"1")
        assert up.connections == 2


async def test_a_body_left_unread_is_not_reused(pool):
    async with Upstream(answering(length_answer(b"x" * 1000), chunked_answer(b"a", b"b"))) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        async for _ in response.chunks(5):
            break  # the consumer stops after the first piece (the answer may be whole in it: no matter)
        response.release()
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        assert response.status == 200
        response.release()  # nothing read
        assert pool.open_connections == 0
        with pytest.raises(RuntimeError):
            response.chunks(5)


async def test_a_finished_body_is_reused_even_when_its_iterator_is_closed_first(pool):
    async with Upstream(answering(chunked_answer(b"a", b"b"))) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        chunks = response.chunks(5)
        assert [c async for c in chunks] == [b"ab"]
        await chunks.aclose()
        response.release()
        assert pool.idle_connections == 1


async def test_tls_handshake_that_never_ends_is_bounded_by_the_connect_timeout(pool):
    async def handler(upstream, reader, writer):  # takes the ClientHello, answers nothing
        await asyncio.sleep(30)

    async with Upstream(handler) as up:
        started = time.monotonic()
        with pytest.raises(ConnectFailed) as failure:
            await pool.request("GET", f"https://127.0.0.1:{up.port}/", [], connect_timeout=0.3)
        assert time.monotonic() - started < 0.3 + MARGIN_S
        assert failure.value.reason == "no connection to 127.0.0.1 within 0.3 s"
        assert pool.open_connections == 0


async def test_closed_pool(pool):
    async with Upstream(answering(length_answer(b"1"))) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        pool.close()
        await response.read(5)
        response.release()  # the pool is closed: the connection closes instead of going back
        assert pool.open_connections == 0
        with pytest.raises(RuntimeError):
            await pool.request("GET", up.url, [], connect_timeout=5)


async def test_idle_connections_expire():
    pool = Http1Pool(keepalive_s=0.2)
    async with Upstream(answering(length_answer(b"1"))) as up:
        await fetch(pool, up.url)
        assert pool.idle_connections == 1
        await asyncio.sleep(0.5)
        assert pool.idle_connections == 0 and pool.open_connections == 0
    pool.close()


async def test_pool_bound_per_key():
    pool = Http1Pool(max_per_key=1)
    async with Upstream(answering(length_answer(b"1"))) as up:
        first = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        second = asyncio.create_task(fetch(pool, up.url))
        await asyncio.sleep(0.1)
        assert not second.done() and up.connections == 1  # waiting for the one slot
        await first.read(5)
        first.release()
        assert await second == (200, b"1")
        assert up.connections == 1
        held = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        started = time.monotonic()
        with pytest.raises(ConnectFailed) as failure:
            await pool.request("GET", up.url, [], connect_timeout=0.2, first_byte_timeout=5)
        assert time.monotonic() - started < 0.2 + MARGIN_S
        assert "busy" in failure.value.reason
        held.close()
    pool.close()


# --- failures ----------------------------------------------------------------------------------------------------

def assert_human(failure: UpstreamFailure) -> None:
    reason = failure.reason
    assert reason and str(failure) == reason
    for word in ("Error", "Exception", "errno", "Errno", "[", "<"):
        assert word not in reason, reason


async def test_refused_connection(pool):
    with pytest.raises(ConnectFailed) as failure:
        await pool.request("GET", f"http://127.0.0.1:{closed_port()}/", [], connect_timeout=5)
    assert failure.value.reason == "connection refused"
    assert_human(failure.value)
    assert pool.open_connections == 0


async def test_dns_failure_names_the_name(pool):
    started = time.monotonic()
    with pytest.raises(ConnectFailed) as failure:
        await pool.request("GET", "https://api.no-such-provider.invalid/v1/models", [], connect_timeout=3)
    assert time.monotonic() - started < 3 + MARGIN_S
    reason = failure.value.reason
    # a resolver that cannot answer at all is bounded by the connect timeout
    assert reason.startswith("DNS: ") or reason.startswith("no connection to"), reason
    assert "api.no-such-provider.invalid" in reason
    assert_human(failure.value)


async def test_accept_and_close(pool):
    async def handler(upstream, reader, writer):
        await upstream.read_request(reader)

    async with Upstream(handler) as up:
        with pytest.raises(Disconnected) as failure:
            await fetch(pool, up.url)
        assert failure.value.reason == "the server closed the connection before answering"
        assert_human(failure.value)
        assert up.connections == 1  # a fresh connection: not retried


async def test_no_headers_in_time(pool):
    async def handler(upstream, reader, writer):
        await upstream.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")  # a status line, then nothing: the head never completes
        await asyncio.sleep(30)

    async with Upstream(handler) as up:
        started = time.monotonic()
        with pytest.raises(NoAnswer) as failure:
            await fetch(pool, up.url, first_byte_timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 0.3 + MARGIN_S
        assert failure.value.reason == "no answer within 0.3 s"
        assert pool.open_connections == 0


async def test_stall_mid_body(pool):
    async def handler(upstream, reader, writer):
        await upstream.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
        await asyncio.sleep(30)

    async with Upstream(handler) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        received = []
        started = time.monotonic()
        with pytest.raises(IdleTimeout) as failure:
            async for chunk in response.chunks(idle_timeout=0.3):
                received.append(chunk)
        assert 0.3 <= time.monotonic() - started < 0.3 + MARGIN_S
        assert b"".join(received) == b"hel" and not response.complete
        assert failure.value.reason == "no data for 0.3 s"
        assert pool.open_connections == 0


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_reset_mid_body(pool, framing):
    async def handler(upstream, reader, writer):
        await upstream.read_request(reader)
        if framing == "length":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 100)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n64\r\n" + b"x" * 100 + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        reset(writer)

    async with Upstream(handler) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        with pytest.raises(Disconnected) as failure:
            await response.read(idle_timeout=5)
        assert not response.complete
        assert_human(failure.value)


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_close_mid_body_is_not_a_complete_body(pool, framing):
    answer = (b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 100 if framing == "length"
              else b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n64\r\n" + b"x" * 100 + b"\r\n")
    async with Upstream(answering(answer, then_close=True)) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        received = []
        with pytest.raises(Disconnected) as failure:
            async for chunk in response.chunks(5):
                received.append(chunk)
        assert b"".join(received) == b"x" * 100 and not response.complete
        expected = ("the connection closed 900 bytes before the body's end" if framing == "length"
                    else "the connection closed before the chunked body's end")
        assert failure.value.reason == expected


@pytest.mark.parametrize("bogus", [
    b"zz\r\n",  # not hex
    b"zz",  # not hex, and the line not even ended
    b"0x5\r\nhello\r\n",  # int() would take it; HTTP does not
    b"-5\r\n",
    b" 5\r\n",
    b"5\nhello\r\n",  # LF alone
    b"1" * 17 + b"\r\n",  # too many digits
    b"5;" + b"e" * 5000,  # an extension line without end
    b"5\r\nhelloX\r\n",  # the data longer than its size
])
async def test_bogus_chunk_size_fails_at_once(pool, bogus):
    async def handler(upstream, reader, writer):
        await upstream.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + bogus)
        await asyncio.sleep(30)  # the connection stays open: only the parser can end this

    async with Upstream(handler) as up:
        response = await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=5)
        started = time.monotonic()
        with pytest.raises(ProtocolError) as failure:
            await response.read(idle_timeout=10)
        assert time.monotonic() - started < 2.0  # at once: far from the 10 s the timeouts would take
        assert_human(failure.value)
        assert pool.open_connections == 0


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",  # LF alone: no wait for a CRLF that never comes
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",  # a transfer coding not decoded here
])
async def test_malformed_heads(pool, head):
    async def handler(upstream, reader, writer):
        await upstream.read_request(reader)
        writer.write(head)
        await asyncio.sleep(30)

    async with Upstream(handler) as up:
        started = time.monotonic()
        with pytest.raises(ProtocolError) as failure:
            await pool.request("GET", up.url, [], connect_timeout=5, first_byte_timeout=10)
        assert time.monotonic() - started < 2.0  # at once: far from the 10 s the timeouts would take
        assert_human(failure.value)


# --- TLS -----------------------------------------------------------------------------------------------------

def self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_upstream(tmp_path):
    """A server context for `api.example.test` (self-signed), a client context that trusts it, and
    what the server saw of each handshake (SNI, ALPN)."""
    cert_pem, key_pem = self_signed("api.example.test")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.set_alpn_protocols(["h2", "http/1.1"])
    seen: list[str | None] = []
    server.sni_callback = lambda sock, name, ctx: seen.append(name)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client, seen


async def test_tls_with_sni_while_connecting_to_a_pinned_address(tls_upstream):
    server_ctx, client_ctx, sni_seen = tls_upstream
    alpn_seen = []

    async def handler(upstream, reader, writer):
        alpn_seen.append(writer.get_extra_info("ssl_object").selected_alpn_protocol())
        await answering(length_answer(JSON))(upstream, reader, writer)

    pool = Http1Pool(ssl_context=client_ctx)
    async with Upstream(handler, ssl_context=server_ctx) as up:
        url = f"https://api.example.test:{up.port}/v1/messages"
        for _ in range(3):
            assert await fetch(pool, url, connect_address="127.0.0.1") == (200, JSON)
        assert sni_seen == ["api.example.test"]  # one handshake: the connection was reused
        assert alpn_seen == ["http/1.1"]
        assert up.requests[0].startswith(b"POST /v1/messages HTTP/1.1\r\nHost: api.example.test:%d\r\n" % up.port)
    pool.close()


async def test_tls_certificate_not_trusted(tls_upstream):
    server_ctx, _, _ = tls_upstream
    pool = Http1Pool()  # certifi's roots: a self-signed certificate is not among them
    async with Upstream(answering(length_answer(b"{}")), ssl_context=server_ctx) as up:
        with pytest.raises(ConnectFailed) as failure:
            await pool.request("GET", f"https://api.example.test:{up.port}/", [], connect_timeout=5,
                               connect_address="127.0.0.1")
        assert failure.value.reason.startswith("TLS: certificate verify failed"), failure.value.reason
        assert "self-signed" in failure.value.reason
        assert_human(failure.value)
    pool.close()


async def test_tls_name_mismatch(tls_upstream):
    server_ctx, client_ctx, _ = tls_upstream
    pool = Http1Pool(ssl_context=client_ctx)
    async with Upstream(answering(length_answer(b"{}")), ssl_context=server_ctx) as up:
        with pytest.raises(ConnectFailed) as failure:
            await pool.request("GET", f"https://other.example.test:{up.port}/", [], connect_timeout=5,
                               connect_address="127.0.0.1")
        assert failure.value.reason.startswith("TLS: certificate verify failed (hostname mismatch"), failure.value.reason
        # an explicit server name: the certificate's, while the URL (and Host) stay the other name
        response = await pool.request("GET", f"https://other.example.test:{up.port}/", [], connect_timeout=5,
                                      first_byte_timeout=5, connect_address="127.0.0.1",
                                      server_hostname="api.example.test")
        assert response.status == 200 and await response.read(5) == b"{}"
        response.release()
        assert up.requests[-1].startswith(b"GET / HTTP/1.1\r\nHost: other.example.test:%d\r\n" % up.port)
    pool.close()


async def test_tls_to_a_plain_http_server(pool):
    async def handler(upstream, reader, writer):  # a plain server's answer to a ClientHello
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()

    async with Upstream(handler) as up:
        with pytest.raises(ConnectFailed) as failure:
            await pool.request("GET", f"https://127.0.0.1:{up.port}/", [], connect_timeout=5)
        assert failure.value.reason.startswith("TLS: "), failure.value.reason
        assert_human(failure.value)
