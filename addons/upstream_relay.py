"""The upstream relay: a loopback server through which mitmproxy sends the requests
that need more than one attempt, or whose credentials must not sit in the flow.

mitmproxy sends a request once and streams whatever comes back; it cannot retry.
For a provider with a refresh-token credential the bridge routes the flow to this
relay instead, with the real call registered under a random id: the relay adds
the credential (so the token is never in the flow that mitmweb shows or `-w`
saves), sends the request with httpx, and before a byte reaches the client it
can still act: a 401 gets one refresh and one retry, and a Trae request that was
only queued is sent again after a pause. Then it hands status, headers and the
body on as they arrive; the flow's stream callable translates them as usual.

A failure of its own (connect error, timeout, refresh refused) is answered with
`x-llm-bridge-relay-error` and a neutral error body, which the bridge turns into
the client protocol's envelope.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Callable

import httpx
import orjson

from transforms.errors import BridgeError
from transforms.trae.queue import Queued, QueueProbe, Ready

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines print every URL the relay calls

CALL_HEADER = "x-llm-bridge-call"
RELAY_ERROR_HEADER = "x-llm-bridge-relay-error"
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host", b"te", b"trailer",
    b"upgrade", b"proxy-connection",
})
QUEUE_ATTEMPTS = 4  # a queued Trae request is sent at most this many times
QUEUE_BACKOFF_S = (1.0, 2.0, 4.0)


@dataclass(slots=True)
class RelayCall:
    """What the relay needs to make one upstream call that mitmproxy's flow does not show."""

    url: str
    provider: str
    credential_headers: Callable[[str | None], dict[str, str]]  # token -> the headers that carry it
    credential: object | None = None  # has `after_rejection(token)`; None: a fixed key, nothing to refresh
    token: str | None = None
    queue_probe: Callable[[], QueueProbe] | None = None  # Trae: tells a queued answer from a real one


class UpstreamRelay:
    def __init__(self, client_factory: Callable[[], httpx.AsyncClient] | None = None,
                 queue_backoff: tuple[float, ...] = QUEUE_BACKOFF_S) -> None:
        self._calls: dict[str, RelayCall] = {}
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._client_factory = client_factory or _default_client
        self.queue_backoff = queue_backoff
        self.port = 0

    # --- lifecycle (sync: see the mitmproxy notes on hot reload) ---

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._client is not None:
            client, self._client = self._client, None
            try:
                asyncio.get_running_loop().create_task(client.aclose())
            except RuntimeError:
                pass

    # --- the bridge's side ---

    def register(self, call: RelayCall) -> str:
        call_id = secrets.token_urlsafe(18)
        self._calls[call_id] = call
        return call_id

    def forget(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    # --- the server ---

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, headers, body = request
                call = self._calls.pop(_header(headers, CALL_HEADER.encode()) or "", None)
                if call is None:
                    await _write_error(writer, BridgeError("api_error", "llm-bridge relay: unknown or already used call id", status=502))
                    continue
                if not await self._forward(call, method, headers, body, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # mitmproxy hung up, or the bridge is shutting down
        except Exception:  # noqa: BLE001 - never leave mitmproxy waiting on a dead relay connection
            log.exception("llm-bridge relay: failed")
        finally:
            writer.close()

    async def _forward(self, call: RelayCall, method: str, headers: list[tuple[bytes, bytes]], body: bytes,
                       writer: asyncio.StreamWriter) -> bool:
        """One call, with its retries; False when the connection to mitmproxy must close."""
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and not k.lower().startswith(b"x-llm-bridge-")]
        token, refreshed, queued = call.token, False, 0
        while True:
            request = self.client.build_request(method, call.url, headers=sent + _pairs(call.credential_headers(token)), content=body)
            try:
                response = await self.client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                await _write_error(writer, BridgeError("timeout", f"Provider '{call.provider}' did not answer in time ({type(exc).__name__}).", status=504))
                return True
            except httpx.HTTPError as exc:
                host = httpx.URL(call.url).host
                await _write_error(writer, BridgeError("api_error", f"Provider '{call.provider}' could not be reached at {host}: {type(exc).__name__}: {exc}", status=502))
                return True
            if response.status_code == 401 and call.credential is not None and not refreshed:
                await response.aclose()
                refreshed = True
                try:
                    token = await call.credential.after_rejection(token)
                except BridgeError as error:
                    await _write_error(writer, error)
                    return True
                if token is None:
                    await _write_error(writer, BridgeError("authentication", f"Provider '{call.provider}' rejected its credential (401)."))
                    return True
                continue
            chunks = response.aiter_raw()
            first = b""  # what the queue probe read before it could tell
            if call.queue_probe is not None and response.status_code == 200:
                probe = call.queue_probe()
                verdict = await _probe(probe, chunks)
                first = probe.buffered
                if isinstance(verdict, Queued):
                    await response.aclose()
                    queued += 1
                    if queued >= QUEUE_ATTEMPTS:
                        where = f" at position {verdict.position}" if getattr(verdict, "position", None) is not None else ""
                        await _write_error(writer, BridgeError(
                            "overloaded", f"Provider '{call.provider}' kept the request in its queue{where} after {queued} attempts; retry later.", status=503))
                        return True
                    await asyncio.sleep(self.queue_backoff[min(queued - 1, len(self.queue_backoff) - 1)])
                    continue
            return await _relay_response(response, first, chunks, writer)


async def _probe(probe: QueueProbe, chunks) -> Queued | Ready:
    """Read until the probe can tell; it keeps what it read (`probe.buffered`) to be forwarded."""
    async for chunk in chunks:
        verdict = probe.feed(chunk)
        if verdict is not None:
            return verdict
    return probe.close()


async def _relay_response(response: httpx.Response, first: bytes, chunks, writer: asyncio.StreamWriter) -> bool:
    head = [b"HTTP/1.1 %d %s\r\n" % (response.status_code, (response.reason_phrase or "").encode("latin-1", "replace"))]
    head += [k + b": " + v + b"\r\n" for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]
    head.append(b"transfer-encoding: chunked\r\n\r\n")
    try:
        writer.write(b"".join(head))
        if first:
            writer.write(b"%x\r\n%b\r\n" % (len(first), first))
        await writer.drain()
        try:
            async for chunk in chunks:
                if chunk:
                    writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    await writer.drain()
        except httpx.HTTPError:
            writer.transport.abort()  # the upstream broke off: so does the relay, as a direct connection would
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
    finally:
        await response.aclose()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, list[tuple[bytes, bytes]], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].split(b"\r\n")
    method = lines[0].split(b" ", 1)[0].decode()
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    length = int(_header(headers, b"content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return method, headers, body


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in headers.items()]


async def _write_error(writer: asyncio.StreamWriter, error: BridgeError) -> None:
    body = orjson.dumps({"kind": error.kind, "message": error.message, "status": error.status, "retry_after": error.retry_after})
    writer.write(
        b"HTTP/1.1 %d Relay Error\r\ncontent-type: application/json\r\n%s: 1\r\ncontent-length: %d\r\n\r\n%s"
        % (error.status, RELAY_ERROR_HEADER.encode(), len(body), body)
    )
    await writer.drain()


def relay_error(body: bytes) -> BridgeError:
    """The relay's own error answer -> the error the client is told."""
    data = orjson.loads(body)
    return BridgeError(data["kind"], data["message"], status=data["status"], retry_after=data.get("retry_after"))


def _default_client() -> httpx.AsyncClient:
    # trust_env=False: like mitmproxy's own upstream connections, ignore HTTP(S)_PROXY variables
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=30.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        follow_redirects=False, trust_env=False,
    )
