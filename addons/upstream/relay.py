"""The one place an upstream call is sent (`UpstreamRelay._attempts`, behind `send` and `fetch`).

mitmproxy sends a request once and streams whatever comes back; it cannot
retry, and its own upstream connections keep no deadline the bridge owns. So
every upstream call, whatever the settings, goes the same way: the bridge plans
it (`transforms/call_plan.py`), `addons/upstream/calls.py` registers it here
under a random id and points the flow at this loopback server, and mitmproxy
passes the request on to it. The relay then adds the credential (so a secret
is never in the flow that mitmweb shows or `-w` saves), sends the request with
the bridge's own HTTP/1.1 client (addons/upstream/http1_client.py) within the
call's bounds (connect, first byte, idle), and before a byte reaches the client
it can still act: a 401 gets one refresh and one retry, a 429 or 5xx another
attempt when `[retries]` allows, and a Trae request that was only queued is sent
again after a pause. Then it hands status, headers and the body on as they
arrive; the flow's stream callable translates them as usual.

A failure of its own (connect error, timeout, refresh refused, attempts
exhausted) is answered with `x-llm-bridge-relay-error` and a neutral error
body, which the bridge turns into the client protocol's envelope.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Callable

from urllib.parse import urlsplit

import httpx
import orjson

from addons.credentials.credential import Credential
from addons.upstream.retry_policy import NO_RETRIES, RetryPolicy, retry_after_seconds, retryable_status
from addons.upstream.http1_client import ConnectFailed, Http1Pool, IdleTimeout, NoAnswer, Response, UpstreamFailure
from transforms.errors import BridgeError, body_summary, error_message
from transforms.trae.queue import Queued, QueueProbe, Ready

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines print every URL the relay calls

CALL_HEADER = "x-llm-bridge-call"
RELAY_ERROR_HEADER = "x-llm-bridge-relay-error"
ATTEMPTS_HEADER = "x-llm-bridge-attempts"  # on an answer after failed attempts: "3; 503, 429" (attempts; failures)
KEY_ID_HEADER = "x-llm-bridge-key-id"  # on every relayed answer: the id of the key it was sent with (never the key)
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host", b"te", b"trailer",
    b"upgrade", b"proxy-connection",
})
QUEUE_ATTEMPTS = 4  # a queued Trae request is sent at most this many times
QUEUE_BACKOFF_S = (1.0, 2.0, 4.0)
REFRESH_BOUND_S = 60.0  # a token refresh after a 401 (the token services' own timeouts are shorter)
WATCHDOG_MARGIN_S = 5.0  # beyond the call's own bounds, before the relay's watchdog stops it


class RelayObserver:
    """What the relay reports as it goes (the metrics, addons/usage/metrics.py): each failed attempt (`kind`:
    timeout, connect, broken, 4xx, 429, 5xx) and each answer that broke off after its head (broken, or timeout
    when it went silent), each retry; and each credential refresh (reported by the credentials, before expiry
    or after a 401, through the same object). No-op here."""

    def upstream_error(self, provider: str, kind: str) -> None:
        pass

    def retried(self, provider: str) -> None:
        pass

    def refreshed(self, provider: str) -> None:
        pass


@functools.lru_cache(maxsize=256)  # (a bridge has few keys and tokens; each exchange names one or two)
def key_id(key: str | None) -> str | None:
    """A stable, non-reversible id of a key or token: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12] if key else None


def status_kind(status: int) -> str:
    return "429" if status == 429 else f"{status // 100}xx"


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    """The bounds of one upstream call, each an asyncio timer of the bridge's own client, so that no
    upstream, however it misbehaves, can hang a client."""

    connect_s: float = 10.0
    first_byte_s: float = 600.0  # from the request sent to the answer's headers
    idle_s: float = 300.0  # between two chunks of the answer


class Watchdog:
    """Stops the task it guards when it has made no progress for `bound` seconds: the backstop behind the
    HTTP client's own timers, so that no failure of a library (or of the bridge) can hang a client.
    Progress is one float store (`progress()`); one timer per call, re-armed only when it fires early."""

    __slots__ = ("_loop", "_task", "bound", "_last", "_handle", "fired", "_stopped")

    def __init__(self, bound: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self.bound = bound
        self._last = self._loop.time()
        self.fired = False
        self._stopped = False
        self._handle = self._loop.call_at(self._last + bound, self._check)

    def progress(self) -> None:
        self._last = self._loop.time()

    def rearm(self, bound: float) -> None:
        """A new phase with its own bound (the answer's body after its head): the timer is brought forward
        when the new bound ends sooner than the one it was set for."""
        self.bound = bound
        self.progress()
        due = self._last + bound
        if not self.fired and due < self._handle.when():
            self._handle.cancel()
            self._handle = self._loop.call_at(due, self._check)

    def _check(self) -> None:
        due = self._last + self.bound
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._check)
            return
        self.fired = True
        self._task.cancel()

    def stop(self) -> bool:
        """Disarmed (once; later calls change nothing). True when it had fired and nothing else asked to
        cancel the task: the cancellation it caused is then withdrawn, and the call may answer."""
        if self._stopped:
            return False
        self._stopped = True
        self._handle.cancel()
        return self.fired and self._task.uncancel() == 0


def answer_bound(call: "RelayCall", margin: float = WATCHDOG_MARGIN_S) -> float:
    """The longest the relay may take to have an answer's head, everything that may happen inside at its
    own bound: each attempt (connect, first byte, and reading an error or a queued answer), the pauses
    between attempts, a refresh after a 401, a queued request sent again."""
    timeout, retry = call.timeout, call.retry
    sends, pauses = max(1, retry.attempts), (max(1, retry.attempts) - 1) * max(retry.max_retry_after, retry.backoff_max)
    if call.credential.refreshes:
        sends, pauses = sends + 1, pauses + REFRESH_BOUND_S
    if call.queue_probe is not None:
        sends, pauses = sends + QUEUE_ATTEMPTS, pauses + sum(QUEUE_BACKOFF_S) + QUEUE_BACKOFF_S[-1] * QUEUE_ATTEMPTS
    return sends * (timeout.connect_s + timeout.first_byte_s + timeout.idle_s) + pauses + margin


@dataclass(slots=True)
class RelayCall:
    """One upstream call as the relay makes it: where, with which credential, within which bounds."""

    url: str
    provider: str
    credential: Credential  # adds the authentication per attempt; never in the flow
    key: str | None = None  # the credential's first key, taken when the call was planned
    queue_probe: Callable[[], QueueProbe] | None = None  # Trae: tells a queued answer from a real one
    retry: RetryPolicy = NO_RETRIES
    timeout: UpstreamTimeouts = UpstreamTimeouts()
    connect_address: str | None = None  # dynamic routes: connect to this checked IP; Host and TLS keep the name
    failures: list[str] | None = None  # once sent: how the failed attempts failed (the key: `key` once answered)


@dataclass(slots=True)
class LocalAnswer:
    """An answer the bridge made itself but must not keep in the flow (a proxy URL: it carries keys).
    Served through the relay, it reaches the client as a streamed body, which mitmproxy does not store."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Reentry:
    """A request to send to the bridge itself, with a declared length (a held request's body, complete)."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class HeldRequest:
    """A request whose body came with no declared length (chunked): mitmproxy streams the body to the
    request guard, which measures it, and the relay answers once the guard has decided: a `LocalAnswer`
    (the body was too large), a `Reentry` (the body, now whole, goes through the bridge as usual), or
    None (the flow ended first)."""

    outcome: asyncio.Future
    deadline_s: float = 600.0  # a client may upload slowly, but not forever


class UpstreamRelay:
    def __init__(self, client_factory: Callable[[], httpx.AsyncClient] | None = None,
                 queue_backoff: tuple[float, ...] = QUEUE_BACKOFF_S) -> None:
        self._calls: dict[str, RelayCall] = {}
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None  # token refreshes and model lists: rare calls
        self._client_factory = client_factory or _default_client
        self._pool: Http1Pool | None = None  # the relayed upstream calls: the hot path
        self.queue_backoff = queue_backoff
        self.watchdog_margin_s = WATCHDOG_MARGIN_S
        self.observer = RelayObserver()  # the metrics, when the bridge has them
        self.port = 0

    # --- lifecycle (sync: see the mitmproxy notes on hot reload) ---

    @property
    def pool(self) -> Http1Pool:
        if self._pool is None:
            self._pool = Http1Pool()
        return self._pool

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
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
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

    def register_answer(self, answer: LocalAnswer) -> str:
        call_id = secrets.token_urlsafe(18)
        self._calls[call_id] = answer
        return call_id

    def register_held(self, deadline_s: float = 600.0) -> tuple[str, HeldRequest]:
        call_id = secrets.token_urlsafe(18)
        held = HeldRequest(asyncio.get_running_loop().create_future(), deadline_s)
        self._calls[call_id] = held
        return call_id, held

    def registered(self, call_id: str) -> RelayCall | LocalAnswer | HeldRequest | None:
        """The call registered under an id, not yet used (for tests and diagnostics)."""
        return self._calls.get(call_id)

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
                if isinstance(call, HeldRequest):
                    try:
                        call = await asyncio.wait_for(call.outcome, call.deadline_s)
                    except asyncio.TimeoutError:
                        call = None
                    if isinstance(call, Reentry):
                        if not await self._reenter(call, writer):
                            break
                        continue
                    if call is None:
                        break  # the flow is gone: nobody is waiting for an answer
                if isinstance(call, LocalAnswer):
                    await _write_local_answer(writer, call)
                    continue
                if not await self.send(call, method, headers, body, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # mitmproxy hung up, or the bridge is shutting down
        except Exception:  # noqa: BLE001 - never leave mitmproxy waiting on a dead relay connection
            log.exception("llm-bridge relay: failed")
        finally:
            writer.close()

    async def _reenter(self, reentry: Reentry, writer: asyncio.StreamWriter) -> bool:
        """Send a held request, its body now whole, to the bridge's own listener; hand its answer back as it comes."""
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reentry.headers]
        try:
            response = await self.pool.request("POST", reentry.url, headers, reentry.body)
        except UpstreamFailure as failure:
            await _write_error(writer, BridgeError("api_error", f"llm-bridge could not pass the request on: "
                                                                f"{failure.reason}.", status=502))
            return True
        return await _relay_response(response, b"", response.chunks(), writer, keep_bridge_headers=True)

    async def send(self, call: RelayCall, method: str, headers: list[tuple[bytes, bytes]], body: bytes,
                   writer: asyncio.StreamWriter) -> bool:
        """One call for mitmproxy's flow, its answer handed on as it comes; False when the connection to
        mitmproxy must close."""
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and not k.lower().startswith(b"x-llm-bridge-")]
        bound = answer_bound(call, self.watchdog_margin_s)
        watchdog = Watchdog(bound)
        try:
            outcome = await self._attempts(call, method, sent, body, gone=lambda: writer.is_closing() or reader_gone(writer))
        except asyncio.CancelledError:
            if not watchdog.stop():
                raise  # the bridge is shutting down
            log.error(f"llm-bridge: {call.provider}: no answer within {bound:g} s; the relay's watchdog stopped the call")
            self.observer.upstream_error(call.provider, "timeout")
            await _write_error(writer, BridgeError(
                "timeout", f"Provider '{call.provider}' did not answer within {bound:g} s, the bridge's bound for this "
                           "call (its watchdog stopped it).", status=504, code="UPSTREAM_TIMEOUT"))
            return True
        if outcome is None:
            watchdog.stop()
            return False  # the client went away while we waited: no more upstream calls on its behalf
        if isinstance(outcome, BridgeError):
            watchdog.stop()
            failures = call.failures or []  # (one failed attempt: the error says it all)
            await _write_error(writer, outcome, _attempts_header(failures, answered=False) if len(failures) > 1 else [])
            return True
        response, first, chunks, failures = outcome
        watchdog.rearm(call.timeout.idle_s + self.watchdog_margin_s)
        extra = _attempts_header(failures)
        if call.key:
            extra.append((KEY_ID_HEADER.encode(), key_id(call.key).encode()))
        return await _relay_response(response, first, chunks, writer, provider=call.provider, watchdog=watchdog,
                                     extra=extra, observer=self.observer)

    async def fetch(self, call: RelayCall, method: str = "GET", body: bytes = b"", *,
                    headers: list[tuple[bytes, bytes]] = (), limit: int = 8 << 20) -> tuple[int, bytes]:
        """One call made by the bridge for itself (a provider's model list): the same attempts, bounds and
        credential as a client's call, the answer read whole (at most `limit` bytes). Raises BridgeError."""
        bound = answer_bound(call, self.watchdog_margin_s) + call.timeout.idle_s
        try:
            async with asyncio.timeout(bound):  # the watchdog: the answer, head and body, within its bound
                return await self._fetch(call, method, list(headers), body, limit)
        except TimeoutError:
            raise BridgeError("timeout", f"Provider '{call.provider}' did not answer within {bound:g} s.", status=504,
                              code="UPSTREAM_TIMEOUT") from None

    async def _fetch(self, call: RelayCall, method: str, headers: list[tuple[bytes, bytes]], body: bytes,
                     limit: int) -> tuple[int, bytes]:
        outcome = await self._attempts(call, method, headers, body, gone=lambda: False)
        if isinstance(outcome, BridgeError):
            raise outcome
        response, first, chunks, _failures = outcome
        data = bytearray(first)
        try:
            async for chunk in chunks:
                data += chunk
                if len(data) > limit:
                    raise BridgeError("api_error", f"Provider '{call.provider}' answered with more than {limit} bytes.",
                                      status=502, code="UPSTREAM_ERROR")
        except UpstreamFailure as failure:
            self.observer.upstream_error(call.provider, _failure_kind(failure))
            raise BridgeError("api_error", f"Provider '{call.provider}': the answer broke off ({failure.reason}).",
                              status=502, code="UPSTREAM_ERROR") from None
        finally:
            if response.complete:
                response.release()
            else:
                response.close()
        return response.status, bytes(data)

    async def _attempts(self, call: RelayCall, method: str, sent: list[tuple[bytes, bytes]], body: bytes, *,
                        gone: Callable[[], bool]):
        """The one place an upstream call is sent: each attempt with the credential's headers (and
        signature), within the call's bounds, retried as `call.retry` says before a byte is handed on.
        Returns (response, bytes already read, the rest of the body, the failed attempts' failures), the
        client's BridgeError, or None when the client left before another attempt."""
        credential = call.credential
        key, refreshed, queued, attempt = call.key, False, 0, 0
        retry = call.retry
        failures: list[str] = []  # what went wrong on each attempt, for the message if all fail
        call.failures = failures
        observer = self.observer
        while True:
            attempt += 1
            if attempt > 1 and gone():
                return None
            presented = _pairs(credential.headers(key))  # replacing the flow's copies (anthropic-version ...)
            names = {name.lower() for name, _ in presented}
            pairs = [pair for pair in sent if pair[0].lower() not in names] + presented
            pairs += _pairs(credential.sign(method, call.url, pairs, body))  # SigV4: over exactly what is sent
            try:
                response = await self.pool.request(
                    method, call.url, pairs, body, connect_timeout=call.timeout.connect_s,
                    first_byte_timeout=call.timeout.first_byte_s, connect_address=call.connect_address)
            except UpstreamFailure as exc:
                failure = _describe_failure(exc)
                failures.append(failure)
                observer.upstream_error(call.provider, _failure_kind(exc))
                pause = retry.pause(attempt, None)
                if pause is not None:
                    observer.retried(call.provider)
                    log.info(f"llm-bridge: {call.provider}: {failure}; attempt {attempt + 1} in {pause:.2f} s")
                    await asyncio.sleep(pause)
                    continue
                return _call_failed(call, exc, failures, retry)
            if response.status == 401 and credential.refreshes and not refreshed:
                response.close()
                refreshed, attempt = True, attempt - 1  # a refresh is not a failed attempt
                observer.upstream_error(call.provider, "4xx")
                try:
                    key = await credential.after_rejection(key)
                except BridgeError as error:
                    return error
                if key is None:
                    return BridgeError("authentication", f"Provider '{call.provider}' rejected its credential (401).")
                continue
            if retryable_status(response.status):
                wait = retry_after_seconds(_HeaderView(response))
                pause = retry.pause(attempt, wait)
                if pause is not None:
                    failures.append(str(response.status))
                    observer.upstream_error(call.provider, status_kind(response.status))
                    observer.retried(call.provider)
                    response.close()
                    credential.report(key, response.status)
                    key = credential.next_key(key)  # a 429's key rests: the retry goes with the next
                    log.info(f"llm-bridge: {call.provider}: upstream {response.status}; attempt {attempt + 1} in {pause:.2f} s")
                    await asyncio.sleep(pause)
                    continue
                if retry.enabled and attempt >= retry.attempts:
                    credential.report(key, response.status)
                    failures.append(str(response.status))
                    observer.upstream_error(call.provider, status_kind(response.status))
                    detail = await _error_excerpt(response, call.timeout.idle_s)
                    return _exhausted(call, failures, detail, wait)
                # not retried (retries off, or a Retry-After beyond the cap): the upstream's answer goes on
            credential.report(key, response.status)  # a pool rests a key answered 401/403/429
            if response.status >= 400:
                observer.upstream_error(call.provider, status_kind(response.status))
            chunks = response.chunks(call.timeout.idle_s)
            first = b""  # what the queue probe read before it could tell
            if call.queue_probe is not None and response.status == 200:
                probe = call.queue_probe()
                verdict = await _probe(probe, chunks)
                first = probe.buffered
                if isinstance(verdict, Queued):
                    response.close()
                    queued += 1
                    attempt -= 1  # a queued answer is not a failure
                    if queued >= QUEUE_ATTEMPTS:
                        where = f" at position {verdict.position}" if getattr(verdict, "position", None) is not None else ""
                        return BridgeError(
                            "overloaded", f"Provider '{call.provider}' kept the request in its queue{where} after {queued} attempts; retry later.", status=503)
                    await asyncio.sleep(self.queue_backoff[min(queued - 1, len(self.queue_backoff) - 1)])
                    continue
            call.key = key  # the key that was answered (the ledger's key id)
            return response, first, chunks, failures


class _HeaderView:
    """`get(name)` over a response's raw headers, as retry_after_seconds reads them."""

    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    def get(self, name: str) -> str | None:
        return self._response.header(name)


def reader_gone(writer: asyncio.StreamWriter) -> bool:
    """mitmproxy closed its side of the relay connection (its client hung up)."""
    protocol = writer.transport.get_protocol()
    reader = getattr(protocol, "_stream_reader", None)
    return reader is not None and reader.at_eof()


def _attempts_header(failures: list[str], answered: bool = True) -> list[tuple[bytes, bytes]]:
    """`x-llm-bridge-attempts: 3; 503, 429` after failed attempts (and one answered, unless all failed)."""
    if not failures:
        return []
    return [(ATTEMPTS_HEADER.encode(), f"{len(failures) + answered}; {', '.join(failures)}".encode())]


def _failure_kind(exc: UpstreamFailure) -> str:
    if isinstance(exc, (NoAnswer, IdleTimeout)) or (isinstance(exc, ConnectFailed) and exc.reason.startswith("no connection")):
        return "timeout"
    return "connect" if isinstance(exc, ConnectFailed) else "broken"


def _describe_failure(exc: UpstreamFailure) -> str:
    """One attempt's failure, short: the message lists every attempt's."""
    if isinstance(exc, ConnectFailed):
        return f"connect error: {exc.reason}"
    return exc.reason


def _call_failed(call: RelayCall, exc: Exception, failures: list[str], retry: RetryPolicy) -> BridgeError:
    """No answer at all (connect error, timeout), and no attempt left."""
    if retry.enabled and len(failures) >= retry.attempts:
        return _exhausted(call, failures, "", None)
    if isinstance(exc, NoAnswer) or (isinstance(exc, ConnectFailed) and exc.reason.startswith("no connection")):
        return BridgeError("timeout", f"Provider '{call.provider}' did not answer in time ({exc.reason}).", status=504,
                           code="UPSTREAM_TIMEOUT")
    host = urlsplit(call.url).hostname
    return BridgeError("api_error", f"Provider '{call.provider}' could not be reached at {host}: {failures[-1]}", status=502,
                       code="UPSTREAM_ERROR")


def _exhausted(call: RelayCall, failures: list[str], detail: str, retry_after: float | None) -> BridgeError:
    """Every attempt failed. When the last was a 429 the provider is rate limiting: the client gets its
    429 (the SDKs' RateLimitError) with the provider's Retry-After; otherwise 503 (Anthropic: 529)."""
    last = f" The last answer: {detail}" if detail else ""
    message = f"Provider '{call.provider}' failed all {len(failures)} attempts ({', '.join(failures)}).{last}"
    wait = str(max(1, round(retry_after))) if retry_after is not None else None
    if failures and failures[-1] == "429":
        return BridgeError("rate_limit", message + " Retry after the provider's wait.", status=429,
                           code="RATE_LIMITED", retry_after=wait)
    return BridgeError("overloaded", message + " Retry later.", status=503, code="RETRY_EXHAUSTED", retry_after=wait)


async def _error_excerpt(response: Response, idle_s: float, limit: int = 600) -> str:
    """The start of an error body, for the message (error bodies are small; never read more than needed)."""
    data = b""
    try:
        async for chunk in response.chunks(idle_s):
            data += chunk
            if len(data) >= limit:
                break
    except UpstreamFailure:
        pass
    finally:
        response.close()
    text = error_message(data) or body_summary(data)
    return f"{response.status} {text}" if text else str(response.status)


async def _probe(probe: QueueProbe, chunks) -> Queued | Ready:
    """Read until the probe can tell; it keeps what it read (`probe.buffered`) to be forwarded."""
    async for chunk in chunks:
        verdict = probe.feed(chunk)
        if verdict is not None:
            return verdict
    return probe.close()


async def _relay_response(response: Response, first: bytes, chunks, writer: asyncio.StreamWriter,
                          *, provider: str = "", keep_bridge_headers: bool = False,
                          watchdog: Watchdog | None = None, extra: list[tuple[bytes, bytes]] = (),
                          observer: RelayObserver | None = None) -> bool:
    """Status, headers and body to mitmproxy as they come. When the answer breaks off after its head (a
    reset, the idle bound, malformed chunking) the body is ended cleanly all the same, exactly as when
    the upstream closed early: the flow's translator then ends the client's stream with its protocol's
    error event, whatever the way the upstream died."""
    head = [b"HTTP/1.1 %d %s\r\n" % (response.status, response.reason)]
    # an upstream may not speak for the bridge: its own x-llm-bridge-* headers are dropped (the bridge's own are kept)
    head += [k + b": " + v + b"\r\n" for k, v in response.headers
             if k.lower() not in _HOP_BY_HOP and (keep_bridge_headers or not k.lower().startswith(b"x-llm-bridge-"))]
    head += [k + b": " + v + b"\r\n" for k, v in extra]
    head.append(b"transfer-encoding: chunked\r\n\r\n")
    try:
        writer.write(b"".join(head))
        if first:
            writer.write(b"%x\r\n%b\r\n" % (len(first), first))
        await writer.drain()
        try:
            async for chunk in chunks:  # (the client's idle bound counts only the upstream's silence)
                if chunk:
                    writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    await writer.drain()
                if watchdog is not None:
                    watchdog.progress()
        except UpstreamFailure as failure:
            log.info(f"llm-bridge: {provider or 'upstream'}: the answer broke off ({failure.reason}); its stream is ended")
            if observer is not None:
                observer.upstream_error(provider, _failure_kind(failure))
        except asyncio.CancelledError:
            if watchdog is None or not watchdog.stop():
                raise
            log.error(f"llm-bridge: {provider or 'upstream'}: nothing moved for {watchdog.bound:g} s; the relay's "
                      "watchdog ended the answer")
            if observer is not None:
                observer.upstream_error(provider, "timeout")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
    finally:
        if watchdog is not None:
            watchdog.stop()  # (a client gone mid-stream too: no timer outlives the call)
        if response.complete:
            response.release()  # the connection goes back to the pool
        else:
            response.close()


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


async def _write_local_answer(writer: asyncio.StreamWriter, answer: LocalAnswer) -> None:
    head = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
    writer.write(b"HTTP/1.1 %d OK\r\n%scontent-length: %d\r\n\r\n%s"
                 % (answer.status, head.encode("latin-1"), len(answer.body), answer.body))
    await writer.drain()


async def _write_error(writer: asyncio.StreamWriter, error: BridgeError, extra: list[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps({"kind": error.kind, "message": error.message, "status": error.status,
                         "retry_after": error.retry_after, "code": error.code})
    head = b"".join(k + b": " + v + b"\r\n" for k, v in extra)
    writer.write(
        b"HTTP/1.1 %d Relay Error\r\ncontent-type: application/json\r\n%s: 1\r\n%scontent-length: %d\r\n\r\n%s"
        % (error.status, RELAY_ERROR_HEADER.encode(), head, len(body), body)
    )
    await writer.drain()


def relay_error(body: bytes) -> BridgeError:
    """The relay's own error answer -> the error the client is told."""
    try:
        data = orjson.loads(body)
        return BridgeError(data["kind"], data["message"], status=data["status"], retry_after=data.get("retry_after"),
                           code=data.get("code"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return BridgeError("api_error", "llm-bridge relay: an unreadable error answer", status=502, code="UPSTREAM_ERROR")


def _default_client() -> httpx.AsyncClient:
    # trust_env=False: like mitmproxy's own upstream connections, ignore HTTP(S)_PROXY variables
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=30.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        follow_redirects=False, trust_env=False,
    )
