"""A fault-injecting upstream: misbehaves on cue at the TCP, HTTP and SSE levels.

A raw asyncio server on 127.0.0.1, on its own event loop in a daemon thread (no HTTP
framework: it must be able to reset a connection, close it before any header, send a chunk-size
line that is not hex, or go silent). It speaks the two wire formats the bridge's fault matrix
uses for the GOOD parts of every answer (the events before a fault strikes, and every success):

    POST .../v1/messages          Anthropic Messages (message_start, content_block_start, ping,
                                  content_block_delta, content_block_stop, message_delta,
                                  message_stop; errors {"type":"error","error":{...}})
    POST .../chat/completions     OpenAI Chat (chat.completion.chunk lines, a usage chunk when
                                  stream_options.include_usage, `data: [DONE]`; errors
                                  {"error":{"message","type","param","code"}})

The event shapes are those of tests/simulator/anthropic.py and openai_chat.py.

The fault is picked per request by the model name: `fault-<kind>` or `fault-<kind>.<tag>` (the tag
is free text, so a test can count its own arrivals: `server.count("fault-reset-mid-stream.t7")`).
Any other model gets the `ok` answer. Every arrival is counted per model name (with its tag) and
recorded with its monotonic time, so a test can check how many attempts the bridge made.

"refused" is not served here: it is a provider whose base_url is a closed port (`closed_port()`).

What a correct bridge must do with each kind is in `FAULTS` (one `Fault` per kind: `when` it
strikes, whether the README's retry policy retries it, and the expectation in words). In short:
a fault before the first byte reached the client is answered in the client protocol's own error
envelope (JSON, never mitmproxy's HTML page); a fault after it ends the client's stream cleanly
(the HTTP body properly terminated) with the client protocol's error event (OpenAI: a
`data: {"error": ...}` chunk; Anthropic: `event: error`); the success kinds (odd but valid
streams) arrive whole and intact; and all of it within the configured timeouts plus a margin.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import struct
import threading
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Literal, Self

import orjson

MODEL_PREFIX = "fault-"
STALL_S = 60.0  # a stalled answer is held this long at most (or until the server stops)
SETTLE_S = 0.2  # pause between the good events and a connection-level fault, so they reach the client first

# --- the content every answer carries ----------------------------------------------------------

GOOD_DELTAS = ("Hello", " from", " the", " fault", " upstream.")
GOOD_TEXT = "".join(GOOD_DELTAS)
PREFIX_DELTAS = 2  # mid-stream faults strike after this many text deltas ...
PREFIX_TEXT = "".join(GOOD_DELTAS[:PREFIX_DELTAS])  # ... so the client has this text before the fault
BIG_TEXT = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_" * (5 * 1024 * 1024 // 64))  # 5 MiB
TINY_COUNT = 10_000
TINY_DELTAS = tuple(c for c, _ in zip(itertools.cycle("abcdefghijklmnopqrstuvwxyz0123456789"), range(TINY_COUNT)))
TINY_TEXT = "".join(TINY_DELTAS)
HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n"
             b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request."
             b"</p><hr><address>nginx/1.25.3</address></body></html>\n")
RETRY_AFTER_S = 1  # the 429's Retry-After (below the bridge's default cap of 20 s: it is waited for)
USAGE = {"input_tokens": 12, "output_tokens": 7}

When = Literal["connect", "before-first-byte", "after-first-byte", "success"]


@dataclass(frozen=True)
class Fault:
    name: str
    when: When  # connect / before the first byte reached the client / after it / a valid answer
    retried: bool  # the README's "Retries": connection errors, timeouts, 429 and 5xx, before the first byte
    expect: str  # what a correct bridge does, in words (the text each success delivers: expected_text())


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("refused", "connect", True,
          "Nothing listens on the provider's port. Retried (connection error); then the client's own "
          "error envelope (503, Anthropic clients 529, when the retries are exhausted; a 5xx with retries "
          "off), never an HTML page."),
    Fault("accept-and-close", "before-first-byte", True,
          "The request is read, then the connection is closed (FIN) without a byte of answer. Retried "
          "(connection error); then the client's envelope, never an HTML page."),
    Fault("no-headers", "before-first-byte", True,
          "The request is read and nothing is ever sent (held for 60 s). Each attempt ends after "
          "read_timeout_seconds; retried; then the client's envelope (a timeout), within "
          "attempts x (connect + read timeout) + backoff + a margin."),
    Fault("stall-mid-stream", "after-first-byte", False,
          "Headers and the first events (two text deltas) are sent, then nothing more (held for 60 s). "
          "After idle_timeout_seconds of silence the client's stream ends cleanly with its error event; "
          "the text before it arrived. Not retried (bytes reached the client). Whole answer: headers "
          "with the full Content-Length and half the JSON body, then silence: the client's envelope "
          "after the idle bound (no byte reached the client, so a retry is allowed, not required)."),
    Fault("reset-mid-stream", "after-first-byte", False,
          "Headers and the first events, then a TCP reset (SO_LINGER 0). The client's stream ends "
          "cleanly with its error event. Whole answer: half the body then a reset: the client's envelope."),
    Fault("fin-mid-stream", "after-first-byte", False,
          "Headers and the first events, then a clean FIN without the terminating chunk. The client's "
          "stream ends cleanly with its error event (the reference the other breaks must match). Whole "
          "answer: half the body then a FIN: the client's envelope."),
    Fault("bogus-chunk-size", "after-first-byte", False,
          "Headers and the first events as proper chunks, then a chunk-size line that is not hex "
          "(`zz-not-hex`), one more event, and silence (held for 60 s). The body framing is broken: "
          "the client's stream ends cleanly with its error event (at once, or after the idle bound at "
          "the latest). Whole answer: a chunked JSON body cut by the same line: the client's envelope."),
    Fault("sse-line-without-colon", "success", False,
          "A valid stream with lines that have no colon: a line `keep-alive` alone between events, a "
          "line `x-trace` inside an event (before its data), and a bare `data` line alone mid-stream. Per "
          "WHATWG each is a field with an empty value: `keep-alive` and `x-trace` are unknown names, "
          "ignored, no event; the bare `data` line dispatches an event whose data is empty, which carries "
          "nothing (no JSON, no text) and must be skipped like a keep-alive. The stream completes "
          "normally, all text intact. Whole answer: as ok."),
    Fault("sse-garbage-framing", "success", False,
          "A valid stream with junk between its events that the SSE grammar ignores: binary and invalid "
          "UTF-8 lines without a colon, unknown fields (`foo: bar`), `id:` and `retry:` fields, comments, "
          "an `event:` line with no data, a block ended with CR CR. No event comes of any of it: the stream "
          "completes normally, all text intact. Whole answer: as ok."),
    Fault("invalid-json-event", "after-first-byte", False,
          "The first events, a pause, then one event whose data is cut-off JSON, then the rest of a valid "
          "stream. The client's stream ends cleanly with its error event after the text sent before it "
          "(nothing after the bad event is passed on as if the stream were whole). Whole answer: a 200 "
          "application/json body that is not JSON (cut in half): the client's envelope."),
    Fault("invalid-json-same-chunk", "after-first-byte", False,
          "As invalid-json-event, but the first events and the bad one arrive in ONE chunk (one write). "
          "The client's output must not depend on how the upstream's bytes were cut: the text of the good "
          "events before the bad one still reaches the client, then its error event and a clean end. "
          "Whole answer: as invalid-json-event."),
    Fault("non-sse-200", "success", False,
          "A stream request answered 200 application/json with the whole (non-streamed) answer. The "
          "client still gets a stream in its protocol with all the text (README, Streaming mechanics)."),
    Fault("html-200", "before-first-byte", False,
          "200 text/html (a captive portal or proxy page). Not retried (not a 5xx/429). The client gets "
          "its envelope (or, for a stream, a clean end with its error event), never the HTML."),
    Fault("html-500", "before-first-byte", True,
          "500 text/html. Retried (5xx); then the client's envelope (503 / Anthropic's 529 when exhausted), "
          "never the HTML."),
    Fault("json-502", "before-first-byte", True,
          "502 with the upstream protocol's JSON error. Retried; then the client's envelope."),
    Fault("json-503", "before-first-byte", True,
          "503 with the upstream protocol's JSON error. Retried; then the client's envelope."),
    Fault("rate-limited-429", "before-first-byte", True,
          f"429 with `retry-after: {RETRY_AFTER_S}` and the protocol's rate-limit error. Retried after the "
          "Retry-After (below the cap); when every attempt was a 429 the client gets 429 with retry-after "
          "in its envelope (not 503), with retries off at once."),
    Fault("gzip-stream", "success", False,
          "A valid stream sent gzip-encoded (`content-encoding: gzip`, each event sync-flushed) although "
          "the bridge asks for identity. Inflated and translated: all text intact. Whole answer: a "
          "gzip-encoded JSON body, translated."),
    Fault("one-5mb-event", "success", False,
          "A valid stream whose single text delta is 5 MiB. It arrives whole. Whole answer: a 5 MiB text."),
    Fault("10000-tiny-events", "success", False,
          "A valid stream of 10,000 one-character text deltas. Every character arrives, in order. "
          "Whole answer: as ok."),
    Fault("ok", "success", False, "A plain valid answer."),
)}


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kind_of(model: str) -> str:
    if not model.startswith(MODEL_PREFIX):
        return "ok"
    kind = model[len(MODEL_PREFIX):].partition(".")[0]
    return kind if kind in FAULTS else "ok"


def expected_text(kind: str, stream: bool = True) -> str:
    if kind == "one-5mb-event":
        return BIG_TEXT
    if kind == "10000-tiny-events" and stream:
        return TINY_TEXT
    return GOOD_TEXT


# --- wire formats --------------------------------------------------------------------------------


def _dumps(value) -> bytes:
    return orjson.dumps(value)


def _anthropic_sse(event: dict) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + _dumps(event) + b"\n\n"


def _openai_sse(payload) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else _dumps(payload)) + b"\n\n"


@dataclass
class Stream:
    """A valid stream cut in three: opening events, one event per text delta, closing events."""

    opening: list[bytes]
    deltas: list[bytes]
    closing: list[bytes]

    @property
    def events(self) -> list[bytes]:
        return [*self.opening, *self.deltas, *self.closing]


def stream_for(protocol: str, model: str, deltas, number: int, include_usage: bool) -> Stream:
    if protocol == "anthropic":
        message_id = f"msg_fault_{number:06d}"
        opening_message = {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
                           "stop_reason": None, "stop_sequence": None,
                           "usage": {"input_tokens": USAGE["input_tokens"], "cache_creation_input_tokens": 0,
                                     "cache_read_input_tokens": 0, "output_tokens": 1, "service_tier": "standard"}}
        return Stream(
            [_anthropic_sse({"type": "message_start", "message": opening_message}),
             _anthropic_sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
             _anthropic_sse({"type": "ping"})],
            [_anthropic_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}})
             for d in deltas],
            [_anthropic_sse({"type": "content_block_stop", "index": 0}),
             _anthropic_sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"input_tokens": USAGE["input_tokens"], "cache_creation_input_tokens": 0,
                                       "cache_read_input_tokens": 0, "output_tokens": USAGE["output_tokens"]}}),
             _anthropic_sse({"type": "message_stop"})],
        )
    header = {"id": f"chatcmpl-fault{number:06d}", "object": "chat.completion.chunk", "created": int(time.time()),
              "model": model, "service_tier": "default", "system_fingerprint": "fp_fault"}

    def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
        payload = {**header, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        if include_usage:
            payload["usage"] = None
        return _openai_sse(payload)

    closing = [chunk({}, "stop")]
    if include_usage:
        prompt, completion = USAGE["input_tokens"], USAGE["output_tokens"]
        closing.append(_openai_sse({**header, "choices": [], "usage": {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}}))
    closing.append(b"data: [DONE]\n\n")
    return Stream([chunk({"role": "assistant", "content": "", "refusal": None})],
                  [chunk({"content": d}) for d in deltas], closing)


def whole_body(protocol: str, model: str, text: str, number: int) -> bytes:
    if protocol == "anthropic":
        return _dumps({"id": f"msg_fault_{number:06d}", "type": "message", "role": "assistant", "model": model,
                       "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                       "usage": {"input_tokens": USAGE["input_tokens"], "cache_creation_input_tokens": 0,
                                 "cache_read_input_tokens": 0, "output_tokens": USAGE["output_tokens"]}})
    prompt, completion = USAGE["input_tokens"], USAGE["output_tokens"]
    return _dumps({"id": f"chatcmpl-fault{number:06d}", "object": "chat.completion", "created": int(time.time()),
                   "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                                         "refusal": None, "annotations": []},
                                                "logprobs": None, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}})


def error_body(protocol: str, status: int) -> bytes:
    message = f"fault upstream: scripted {status}"
    if protocol == "anthropic":
        kind = {429: "rate_limit_error", 529: "overloaded_error", 503: "overloaded_error"}.get(status, "api_error")
        return _dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fault"})
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    return _dumps({"error": {"message": message, "type": "requests" if status == 429 else kind, "param": None,
                             "code": kind if status == 429 else None}})


def _invalid_json_event(protocol: str) -> bytes:
    if protocol == "anthropic":
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n'
    return b'data: {"id":"chatcmpl-fault","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"conte\n\n'


GARBAGE_LINES = (
    b"\x00\x01\x02\x7f binary junk without a colon\n"
    b"\xff\xfe\xfd invalid utf-8 \xc3\x28 still no colon\n"
    b"foo: bar\n"
    b"id: 42\n"
    b"retry: 10000\n"
    b": a comment line\n"
    b"\n"
    b"event: ping\n"
    b"\n"
    b"unknown-field-only\r\r"
)


# --- the server ----------------------------------------------------------------------------------


class HttpRequest:
    __slots__ = ("body", "headers", "json", "method", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body
        try:
            self.json = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            self.json = None


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}\r\n"] + [f"{k}: {v}\r\n" for k, v in headers]
    return ("".join(lines) + "\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}


class FaultServer:
    """The fault-injecting upstream. `start_in_thread()`, then point providers at `base_url`
    (Anthropic: `base_url`; OpenAI Chat: `base_url + "/v1"`); `stop()` ends every held connection."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.counts: Counter[str] = Counter()  # arrivals per model name (tag included)
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.seen_headers: dict[str, dict[str, str]] = {}  # the last request's headers per model
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def count(self, model: str) -> int:
        with self._lock:
            return self.counts[model]

    # --- lifecycle ---

    def start_in_thread(self) -> FaultServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fault-upstream", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, self.host, 0, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    async def _aclose(self) -> None:
        self._stopping.set()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- connections ---

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                if not await self._answer(request, writer):
                    return  # the fault ended the connection
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _hold(self, seconds: float = STALL_S) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _answer(self, request: HttpRequest, writer: asyncio.StreamWriter) -> bool:
        """One answer; False when the connection is not to be used again."""
        body = request.json if isinstance(request.json, dict) else {}
        model = body.get("model") if isinstance(body.get("model"), str) else ""
        with self._lock:
            self.counts[model] += 1
            self.arrivals[model].append(time.monotonic())
            self.seen_headers[model] = request.headers
        number = next(self._numbers)
        protocol = "anthropic" if request.path.rstrip("/").endswith("/messages") else "openai"
        kind = kind_of(model)
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if kind in ("one-5mb-event",):
            deltas = (BIG_TEXT,)
        elif kind == "10000-tiny-events" and stream:
            deltas = TINY_DELTAS
        else:
            deltas = GOOD_DELTAS
        events = stream_for(protocol, model, deltas, number, include_usage)
        sse_head = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"),
                    ("transfer-encoding", "chunked")]
        text = "".join(deltas)

        async def send(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        async def whole(status: int, content_type: str, payload: bytes, extra=()) -> bool:
            await send(_head(status, REASONS.get(status, "Status"),
                             [("content-type", content_type), ("content-length", str(len(payload))), *extra]) + payload)
            return True

        async def stream_events(items) -> None:
            for item in items:
                await send(_chunk(item))

        async def end_stream() -> bool:
            await send(b"0\r\n\r\n")
            return True

        def reset() -> None:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        json_type = "application/json"

        # --- before any byte of an answer ---
        if kind == "accept-and-close":
            writer.close()
            return False
        if kind == "no-headers":
            await self._hold()
            writer.close()
            return False
        if kind == "html-200":
            return await whole(200, "text/html; charset=utf-8", HTML_PAGE)
        if kind == "html-500":
            return await whole(500, "text/html; charset=utf-8", HTML_PAGE)
        if kind in ("json-502", "json-503"):
            status = int(kind[-3:])
            return await whole(status, json_type, error_body(protocol, status))
        if kind == "rate-limited-429":
            return await whole(429, json_type, error_body(protocol, 429), [("retry-after", str(RETRY_AFTER_S))])

        # --- whole (non-streamed) answers ---
        if not stream:
            payload = whole_body(protocol, model, text, number)
            if kind in ("stall-mid-stream", "reset-mid-stream", "fin-mid-stream"):
                await send(_head(200, "OK", [("content-type", json_type), ("content-length", str(len(payload)))])
                           + payload[: len(payload) // 2])
                await asyncio.sleep(SETTLE_S)
                if kind == "stall-mid-stream":
                    await self._hold()
                    writer.close()
                elif kind == "reset-mid-stream":
                    reset()
                else:
                    writer.close()
                return False
            if kind == "bogus-chunk-size":
                await send(_head(200, "OK", [("content-type", json_type), ("transfer-encoding", "chunked")])
                           + _chunk(payload[: len(payload) // 2]) + b"zz-not-hex\r\n" + payload[len(payload) // 2:] + b"\r\n")
                await self._hold()
                writer.close()
                return False
            if kind in ("invalid-json-event", "invalid-json-same-chunk"):
                return await whole(200, json_type, payload[: len(payload) // 2])
            if kind == "gzip-stream":
                return await whole(200, json_type, gzip.compress(payload), [("content-encoding", "gzip")])
            return await whole(200, json_type, payload)

        # --- streams ---
        if kind == "non-sse-200":
            return await whole(200, json_type, whole_body(protocol, model, text, number))
        if kind == "gzip-stream":
            await send(_head(200, "OK", [*sse_head, ("content-encoding", "gzip")]))
            deflate = zlib.compressobj(wbits=31)
            for event in events.events:
                await send(_chunk(deflate.compress(event) + deflate.flush(zlib.Z_SYNC_FLUSH)))
            await send(_chunk(deflate.flush()))
            return await end_stream()
        await send(_head(200, "OK", sse_head))
        prefix = [*events.opening, *events.deltas[:PREFIX_DELTAS]]
        rest = [*events.deltas[PREFIX_DELTAS:], *events.closing]
        if kind in ("stall-mid-stream", "reset-mid-stream", "fin-mid-stream", "bogus-chunk-size"):
            await stream_events(prefix)
            await asyncio.sleep(SETTLE_S)
            if kind == "stall-mid-stream":
                await self._hold()
                writer.close()
            elif kind == "reset-mid-stream":
                reset()
            elif kind == "fin-mid-stream":
                writer.close()
            else:
                await send(b"zz-not-hex\r\n" + rest[0] + b"\r\n")
                await self._hold()
                writer.close()
            return False
        if kind == "invalid-json-event":
            await stream_events(prefix)
            await asyncio.sleep(SETTLE_S)
            await stream_events([_invalid_json_event(protocol), *rest])
            return await end_stream()
        if kind == "invalid-json-same-chunk":
            await send(_chunk(b"".join([*prefix, _invalid_json_event(protocol), *rest])))
            return await end_stream()
        if kind == "sse-line-without-colon":
            items = [*events.opening, b"keep-alive\n\n"]
            for number_, delta in enumerate(events.deltas):
                items.append(b"x-trace\n" + delta if number_ % 2 else delta)
                if number_ == 1:
                    items.append(b"keep-alive\n\n")
                    items.append(b"data\n\n")  # WHATWG: an event with empty data
            await stream_events([*items, *events.closing])
            return await end_stream()
        if kind == "sse-garbage-framing":
            await stream_events([*prefix, GARBAGE_LINES, *rest])
            return await end_stream()
        if kind == "10000-tiny-events":
            await stream_events(events.opening)
            for start in range(0, len(events.deltas), 50):  # 50 events per chunk: the bridge sees them however cut
                await send(_chunk(b"".join(events.deltas[start:start + 50])))
            await stream_events(events.closing)
            return await end_stream()
        await stream_events(events.events)  # ok, one-5mb-event
        return await end_stream()


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rpartition(" ")[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return HttpRequest(method, target.partition("?")[0], headers, body)
