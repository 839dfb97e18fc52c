"""A minimal asyncio HTTP/1.1 server.

Written by hand (no framework) so the simulator controls exactly what goes on the wire:
each streamed write is one HTTP chunk, flushed with `drain()` before the next one.
Supports keep-alive and Content-Length request bodies; chunked request bodies get 411.
"""

from __future__ import annotations

import asyncio
import email.utils
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

MAX_LINE_BYTES = 1 << 20  # request line and each header line
EXTRA_REASONS = {529: "Site Overloaded"}  # not in HTTPStatus; Anthropic's "overloaded"

# A streamed event: ready bytes, or a callable producing them at send time (timestamps).
StreamEvent = bytes | Callable[[], bytes]


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    version: str = "HTTP/1.1"
    json: Any = field(init=False)  # parsed body, or None when it is not JSON

    def __post_init__(self) -> None:
        try:
            self.json = orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            self.json = None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class StreamingResponse:
    """A `Transfer-Encoding: chunked` response written event by event."""

    status: int
    headers: dict[str, str]
    events: Iterable[StreamEvent]
    delay_s: float = 0.0  # pause between consecutive events
    split: int | None = None  # re-cut the body into chunks of this many bytes
    disconnect: bool = False  # end by closing the socket, without the terminating chunk


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]


class HttpError(Exception):
    """A request the server cannot even parse; answered and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve_connection, host, port, limit=MAX_LINE_BYTES)
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        return bound_host, bound_port

    async def aclose(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await _read_request(reader, writer)
                except HttpError as error:
                    await _write_response(writer, _plain_error(error.status, str(error)), keep_alive=False)
                    return
                if request is None:
                    return
                response = await self._respond(request)
                keep_alive = _wants_keep_alive(request)
                if not await _write_response(writer, response, keep_alive):
                    return
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            pass  # server shutdown
        finally:
            self._connections.discard(task)
            writer.close()

    async def _respond(self, request: Request) -> Response | StreamingResponse:
        try:
            return await self._handler(request)
        except Exception:  # noqa: BLE001 - a simulator bug must show up loudly, not as a hung client
            traceback.print_exc(file=sys.stderr)
            return _plain_error(500, "simulator internal error (see its stderr)")


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        line = await reader.readline()
    if not line:
        return None
    try:
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    except ValueError:
        raise HttpError(400, "malformed request line") from None

    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise HttpError(400, "malformed header line")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value

    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    body = await reader.readexactly(length) if length else b""

    path, _, query = target.partition("?")
    return Request(method=method.upper(), path=path, query=query, headers=headers, body=body, version=version)


def _wants_keep_alive(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = EXTRA_REASONS.get(status, "Unknown")
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


def _head(status: int, headers: dict[str, str], keep_alive: bool) -> bytes:
    lines = [_status_line(status)]
    base = {"date": email.utils.formatdate(usegmt=True), "server": "llm-simulator"}
    for name, value in {**base, **headers}.items():
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"connection: keep-alive\r\n" if keep_alive else b"connection: close\r\n")
    return b"".join(lines) + b"\r\n"


async def _write_response(
    writer: asyncio.StreamWriter, response: Response | StreamingResponse, keep_alive: bool
) -> bool:
    """Write one response; False when the connection has been closed on purpose."""
    if isinstance(response, Response):
        headers = {**response.headers, "content-length": str(len(response.body))}
        writer.write(_head(response.status, headers, keep_alive) + response.body)
        await writer.drain()
        return True

    headers = {**response.headers, "transfer-encoding": "chunked"}
    writer.write(_head(response.status, headers, keep_alive))
    await writer.drain()

    async def write_chunk(data: bytes) -> None:
        if data:  # an empty chunk would terminate the body
            writer.write(b"%x\r\n%b\r\n" % (len(data), data))
            await writer.drain()

    pending = b""  # with split=N, bytes carried over to be cut at N-byte boundaries
    for number, event in enumerate(response.events):
        if number and response.delay_s:
            await asyncio.sleep(response.delay_s)
        data = event() if callable(event) else event
        if response.split is None:
            await write_chunk(data)
            continue
        pending += data
        while len(pending) >= response.split:
            await write_chunk(pending[: response.split])
            pending = pending[response.split :]
    await write_chunk(pending)

    if response.disconnect:
        writer.close()
        return False
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


def _plain_error(status: int, message: str) -> Response:
    body = orjson.dumps({"error": {"message": message}})
    return Response(status, {"content-type": "application/json"}, body)
