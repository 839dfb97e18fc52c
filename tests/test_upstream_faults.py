"""Upstream faults, end to end (issue 12, "One upstream path"): raw HTTP clients -> a real
`mitmdump -s addons/bridge.py` -> an upstream that misbehaves on cue (tests/simulator/faults.py).

The matrix: every fault kind x {OpenAI client -> Anthropic upstream, Anthropic client ->
OpenAI-compatible upstream} x {retries at defaults ("retries"), `attempts = 1` ("once")}, streamed,
and a set of kinds not streamed. Every call goes the same way (the relay) whatever the setting, so the
two must behave alike but for the number of attempts. Both
bridges run with short timeouts (`connect_timeout_seconds = 1`, `read_timeout_seconds = 2` for an
answer's head, `idle_timeout_seconds = 2` between two of its chunks); the backoff and the Retry-After
cap are the defaults. Each client has a hard deadline: the configured
timeouts (per attempt) plus the retries' pauses plus a margin, so a hang costs the deadline, no more.

For every case: no HTML page and no hang past the deadline; a fault before the first byte reached the
client is answered in the client protocol's own envelope (the README's statuses: 503, Anthropic
clients 529, when the retries are exhausted; 429 with retry-after when every attempt was a 429); a fault after it ends
the stream cleanly (the chunked body terminated) with the protocol's error event (OpenAI: a
`data: {"error": ...}` chunk; Anthropic: `event: error`) after the text that had arrived; the valid
but odd answers (lines without a colon, ignorable junk, gzip, one 5 MiB event, 10,000 one-character
events, a JSON body to a stream request) arrive whole; with retries at defaults the upstream saw as
many attempts as the README's "Retries" says; and the next good request on the same bridge succeeds.

Before the one upstream path (measured at commit 85e555e), 30 of these combinations failed: with
`attempts = 1` mitmproxy called the provider itself, and a refused connection or one closed before the
head was its HTML 502 page, a silent upstream held the client for minutes, and a reset, a FIN or a bad
chunk line mid-stream cut the client's connection without an error event; and on both settings a bad
event in the same chunk as good ones lost the good ones' text.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field

import pytest

from tests.bridge_process import BridgeProcess
from tests.envelope_checks import parse_envelope
from tests.raw_http import RawResponse, build_request
from tests.simulator.faults import FAULTS, PREFIX_TEXT, RETRY_AFTER_S, SETTLE_S, FaultServer, closed_port, expected_text

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0  # the wait for an answer's head
IDLE_TIMEOUT = 2.0  # the longest silence between two chunks of an answer
DEFAULT_ATTEMPTS = 3
BACKOFF_PAUSES = 0.5 + 1.0  # the default backoff's two pause ceilings (0.5 s * 2**(n-1)); each at least half that
MARGIN = 2.0
SUCCESS_DEADLINE = 30.0  # the 5 MiB event and 10,000 events on a slow 2-core machine
GOOD_DEADLINE = 10.0


@dataclass(frozen=True)
class Pair:
    name: str
    client: str  # the client protocol's envelope name (tests/envelope_checks.py)
    path: str
    provider: str  # the configured provider the request goes to

    def body(self, model: str, stream: bool) -> bytes:
        messages = [{"role": "user", "content": "hi"}]
        if self.client == "anthropic":
            body = {"model": model, "max_tokens": 256, "messages": messages, "stream": stream}
        else:
            body = {"model": model, "messages": messages, "stream": stream}
            if stream:
                body["stream_options"] = {"include_usage": True}
        return json.dumps(body).encode()

    def headers(self) -> list[tuple[str, str]]:
        headers = [("Host", "127.0.0.1"), ("Content-Type", "application/json")]
        if self.client == "anthropic":
            headers.append(("anthropic-version", "2023-06-01"))
        return headers


PAIRS = {
    "openai-to-anthropic": Pair("openai-to-anthropic", "openai-chat", "/v1/chat/completions", "anth"),
    "anthropic-to-openai": Pair("anthropic-to-openai", "anthropic", "/v1/messages", "oai"),
}
ROADS = {"retries": DEFAULT_ATTEMPTS, "once": 1}  # the [retries] setting -> attempts


# --- the upstream and the two bridges -------------------------------------------------------------


@pytest.fixture(scope="module")
def faults():
    server = FaultServer().start_in_thread()
    yield server
    server.stop()


def _config(base: str, attempts: int | None) -> str:
    refused = closed_port()
    attempts_line = f"attempts = {attempts}\n" if attempts is not None else ""  # None: the default (3)
    return f"""
[retries]
{attempts_line}connect_timeout_seconds = {CONNECT_TIMEOUT}
read_timeout_seconds = {READ_TIMEOUT}
idle_timeout_seconds = {IDLE_TIMEOUT}

[[providers]]
name = "anth"
protocol = "anthropic"
base_url = "{base}"
api_key = "sk-ant-fault-key"
list_models = false  # the fault server counts every arrival: no model-list call of its own

[[providers]]
name = "oai"
protocol = "openai-chat"
base_url = "{base}/v1"
api_key = "sk-fault-key"
list_models = false  # the fault server counts every arrival: no model-list call of its own

[[providers]]
name = "anth-refused"
protocol = "anthropic"
base_url = "http://127.0.0.1:{refused}"
api_key = "sk-ant-fault-key"
list_models = false  # the fault server counts every arrival: no model-list call of its own

[[providers]]
name = "oai-refused"
protocol = "openai-chat"
base_url = "http://127.0.0.1:{refused}/v1"
api_key = "sk-fault-key"
list_models = false  # the fault server counts every arrival: no model-list call of its own
"""


def _start(folder, faults: FaultServer, road: str) -> BridgeProcess:
    config = folder / f"{road}.toml"
    config.write_text(_config(faults.base_url, None if road == "retries" else 1))
    return BridgeProcess(f"--set=bridge_config={config}", log_path=folder / f"{road}.log",
                         env=dict(os.environ)).wait_ready()


@pytest.fixture(scope="module")
def retries_bridge(faults, tmp_path_factory):
    proc = _start(tmp_path_factory.mktemp("faults-retries"), faults, "retries")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def once_bridge(faults, tmp_path_factory):
    proc = _start(tmp_path_factory.mktemp("faults-once"), faults, "once")
    yield proc
    proc.stop()


# --- a raw client with a hard deadline -------------------------------------------------------------


@dataclass
class Outcome:
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""  # de-chunked, as far as it came
    framing: str = "none"  # complete | eof | reset | timeout | bad-chunk (how the body ended)
    elapsed: float = 0.0
    first_byte: float | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").lower()


def exchange(port: int, path: str, headers: list[tuple[str, str]], body: bytes, deadline: float) -> Outcome:
    """One request on a fresh connection; reads the answer until its framing ends or `deadline` passes."""
    out = Outcome()
    started = time.monotonic()
    end = started + deadline
    buf = bytearray()
    sock = socket.create_connection(("127.0.0.1", port), timeout=deadline)

    def fill() -> str | None:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return "timeout"
        sock.settimeout(remaining)
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            return "timeout"
        except ConnectionResetError:
            return "reset"
        if not data:
            return "eof"
        if out.first_byte is None:
            out.first_byte = time.monotonic() - started
        buf.extend(data)
        return None

    try:
        sock.sendall(build_request("POST", path, headers, body))
        while b"\r\n\r\n" not in buf:
            if (stop := fill()) is not None:
                out.framing = stop
                return out
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        buf[:] = rest
        lines = head.split(b"\r\n")
        out.status = int(lines[0].split(b" ")[1])
        out.headers = [(k.strip().lower(), v.strip()) for k, _, v in
                       (line.decode("latin-1").partition(":") for line in lines[1:])]
        if "chunked" in (out.header("transfer-encoding") or "").lower():
            parts, pos = [], 0
            while True:
                while (eol := buf.find(b"\r\n", pos)) < 0:
                    if (stop := fill()) is not None:
                        out.framing = stop
                        out.body = b"".join(parts)
                        return out
                try:
                    size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
                except ValueError:
                    out.framing, out.body = "bad-chunk", b"".join(parts)
                    return out
                pos = eol + 2
                if size == 0:
                    while buf.find(b"\r\n", pos) < 0:
                        if (stop := fill()) is not None:
                            out.framing = stop
                            break
                    else:
                        out.framing = "complete"
                    out.body = b"".join(parts)
                    return out
                while len(buf) < pos + size + 2:
                    if (stop := fill()) is not None:
                        out.framing = stop
                        out.body = b"".join(parts) + bytes(buf[pos:pos + size])
                        return out
                parts.append(bytes(buf[pos:pos + size]))
                pos += size + 2
                if pos > 1 << 20:  # keep the buffer small on long streams
                    del buf[:pos]
                    pos = 0
        length = out.header("content-length")
        if length is not None:
            while len(buf) < int(length):
                if (stop := fill()) is not None:
                    out.framing, out.body = stop, bytes(buf)
                    return out
            out.framing, out.body = "complete", bytes(buf[:int(length)])
            return out
        while (stop := fill()) is None:
            pass
        out.framing, out.body = ("complete" if stop == "eof" else stop), bytes(buf)  # close-delimited
        return out
    finally:
        out.elapsed = time.monotonic() - started
        sock.close()


# --- what the client got ------------------------------------------------------------------------


@dataclass
class Seen:
    """The client's answer read in its own protocol."""

    text: str = ""
    error_event: str | None = None  # the message of the protocol's error event/chunk
    error_last: bool = False  # the error event is the last thing in the stream
    done: bool = False  # OpenAI [DONE] / Anthropic message_stop
    unreadable: list[str] = field(default_factory=list)


def read_stream(client: str, body: bytes) -> Seen:
    seen = Seen()
    blocks = body.replace(b"\r\n", b"\n").split(b"\n\n")
    blocks = [b for b in blocks[:-1] if b.strip()]  # only complete events
    for number, block in enumerate(blocks):
        event, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        payload = b"\n".join(data)
        if not payload:
            continue
        last = number == len(blocks) - 1
        if payload == b"[DONE]":
            seen.done = True
            continue
        try:
            obj = json.loads(payload)
        except ValueError:
            seen.unreadable.append(payload[:100].decode("utf-8", "replace"))
            continue
        if client == "anthropic":
            if event == "error" or obj.get("type") == "error":
                seen.error_event = str((obj.get("error") or {}).get("message"))
                seen.error_last = last
            elif obj.get("type") == "content_block_delta" and obj["delta"].get("type") == "text_delta":
                seen.text += obj["delta"]["text"]
            elif obj.get("type") == "message_stop":
                seen.done = True
        else:
            if "error" in obj:
                seen.error_event = str((obj.get("error") or {}).get("message"))
                seen.error_last = last
            for choice in obj.get("choices") or []:
                seen.text += (choice.get("delta") or {}).get("content") or ""
    return seen


def whole_text(client: str, body: bytes) -> str | None:
    try:
        obj = json.loads(body)
        if client == "anthropic":
            return "".join(block.get("text", "") for block in obj["content"] if block.get("type") == "text")
        return obj["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def is_html(out: Outcome) -> bool:
    return "html" in out.content_type or out.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def describe(out: Outcome, pair: Pair) -> str:
    """What the client got, in one line (for assertion messages and the report)."""
    if out.status is None:
        return f"no answer ({out.framing}) after {out.elapsed:.2f} s"
    what = f"{out.status} {out.content_type.split(';')[0] or '-'}"
    if is_html(out):
        what += " HTML page"
    if out.content_type.startswith("text/event-stream"):
        seen = read_stream(pair.client, out.body)
        text = seen.text if len(seen.text) < 40 else f"{seen.text[:20]}...({len(seen.text)} chars)"
        what += f" stream text={text!r}"
        if seen.error_event is not None:
            what += f" error event{'' if seen.error_last else ' (not last)'}: {seen.error_event[:120]!r}"
        if seen.done:
            what += " done"
        if seen.unreadable:
            what += f" unreadable events {seen.unreadable[:2]}"
    elif out.content_type.startswith("application/json"):
        text = whole_text(pair.client, out.body)
        if text is not None:
            what += f" text={text if len(text) < 40 else text[:20] + f'...({len(text)} chars)'!r}"
        else:
            what += f" {out.body[:240].decode('utf-8', 'replace')!r}"
        if out.header("retry-after"):
            what += f" retry-after={out.header('retry-after')}"
    else:
        what += f" {out.body[:120]!r}"
    framing = {"complete": "ended cleanly", "timeout": "STILL OPEN at the deadline"}.get(out.framing, f"body cut ({out.framing})")
    return f"{what}; {framing}; {out.elapsed:.2f} s"


# --- the expectations ------------------------------------------------------------------------------


def deadline_for(kind: str, road: str, stream: bool) -> float:
    fault = FAULTS[kind]
    attempts = ROADS[road]
    if fault.when == "success":
        return SUCCESS_DEADLINE
    if fault.when == "after-first-byte" and stream:
        return SETTLE_S + IDLE_TIMEOUT + MARGIN
    pauses = 0.0 if attempts == 1 else (attempts - 1) * RETRY_AFTER_S if kind == "rate-limited-429" else BACKOFF_PAUSES
    # per attempt: connect, then the head (or, for a whole answer cut mid-body, the settle pause + idle bound)
    per_attempt = CONNECT_TIMEOUT + max(READ_TIMEOUT, SETTLE_S + IDLE_TIMEOUT)
    return attempts * per_attempt + pauses + MARGIN


def problems_with(kind: str, pair: Pair, road: str, stream: bool, out: Outcome) -> list[str]:
    fault = FAULTS[kind]
    problems = []
    if out.framing == "timeout":
        problems.append("a hang: the answer was not over at the client's deadline")
    if is_html(out):
        problems.append("an HTML page reached the client")
    if out.status is None:
        problems.append(f"no answer at all ({out.framing})")
        return problems
    if out.framing not in ("complete", "timeout"):
        problems.append(f"the answer's body was cut ({out.framing}), not ended cleanly")
    is_stream = out.content_type.startswith("text/event-stream")
    if fault.when == "success":
        want = expected_text(kind, stream)
        if out.status != 200:
            problems.append(f"status {out.status}, not 200")
        elif stream:
            seen = read_stream(pair.client, out.body)
            if not is_stream:
                problems.append(f"not a stream: {out.content_type!r}")
            if seen.text != want:
                problems.append(f"the text is not intact: {len(seen.text)} of {len(want)} chars")
            if seen.error_event is not None:
                problems.append(f"an error event: {seen.error_event[:200]!r}")
            if not seen.done:
                problems.append("the stream did not end with its end marker")
        elif whole_text(pair.client, out.body) != want:
            problems.append("the answer's text is not intact")
        return problems
    if stream and is_stream and out.status == 200:
        seen = read_stream(pair.client, out.body)
        if fault.when != "after-first-byte" and kind != "html-200":
            problems.append("a stream began although nothing had reached the client: the envelope was due")
        if seen.error_event is None:
            problems.append("the stream has no error event")
        elif not seen.error_last:
            problems.append("the error event is not the stream's last")
        if seen.done:
            problems.append("the stream claims a normal end")
        if fault.when == "after-first-byte" and not seen.text.startswith(PREFIX_TEXT):
            problems.append(f"the text sent before the fault did not arrive: {seen.text!r}")
        return problems
    if stream and fault.when == "after-first-byte":
        problems.append(f"expected the stream (headers were due before the fault), got status {out.status}")
    if out.status < 400:
        problems.append(f"status {out.status} for a failed call")
    envelope = parse_envelope(RawResponse(out.status, "", out.headers, out.body), pair.client)
    problems += [f"envelope: {p}" for p in envelope.problems]
    if kind == "rate-limited-429":
        if out.status != 429:
            problems.append(f"status {out.status}, not 429 (every attempt was a 429)")
        if out.header("retry-after") is None:
            problems.append("no retry-after header")
    elif fault.retried and road == "retries" and fault.when != "after-first-byte":
        allowed = (503, 529) if pair.client == "anthropic" else (503,)  # Anthropic's own overloaded status
        if out.status not in allowed:
            problems.append(f"status {out.status}, not {'/'.join(map(str, allowed))} (retries exhausted)")
    elif out.status < 500:
        problems.append(f"status {out.status} for an upstream failure")
    return problems


def expected_attempts(kind: str, road: str, stream: bool) -> int | None:
    """The README's "Retries": before the first byte, connection errors, timeouts, 429 and 5xx are
    tried `attempts` times. None: not counted (refused has no server; a whole answer cut mid-body
    reached no client byte, so retrying it would be allowed but is not required)."""
    fault = FAULTS[kind]
    if kind == "refused" or (not stream and fault.when == "after-first-byte"):
        return None
    return ROADS[road] if fault.retried else 1


# --- the matrix -------------------------------------------------------------------------------------

STREAM_KINDS = [k for k in FAULTS if k != "ok"]
WHOLE_KINDS = ["refused", "accept-and-close", "no-headers", "stall-mid-stream", "reset-mid-stream", "bogus-chunk-size",
               "invalid-json-event", "html-200", "html-500", "json-503", "rate-limited-429", "gzip-stream",
               "one-5mb-event"]

def _cases():
    for stream, kinds in ((True, STREAM_KINDS), (False, WHOLE_KINDS)):
        for kind in kinds:
            for pair in PAIRS:
                for road in ROADS:
                    yield pytest.param(kind, pair, road, stream,
                                       id=f"{kind}-{pair}-{road}-{'stream' if stream else 'whole'}")


def _model(pair: Pair, kind: str, tag: str) -> str:
    provider = f"{pair.provider}-refused" if kind == "refused" else pair.provider
    return f"{provider}/fault-{kind}.{tag}"


@pytest.mark.parametrize("kind, pair_name, road, stream", list(_cases()))
def test_fault(kind, pair_name, road, stream, faults, request):
    pair = PAIRS[pair_name]
    bridge: BridgeProcess = request.getfixturevalue(f"{road}_bridge")
    tag = f"{pair_name}.{road}.{'s' if stream else 'w'}"
    model = _model(pair, kind, tag)
    deadline = deadline_for(kind, road, stream)
    out = exchange(bridge.port, pair.path, pair.headers(), pair.body(model, stream), deadline)
    seen = describe(out, pair)
    problems = problems_with(kind, pair, road, stream, out)
    attempts = expected_attempts(kind, road, stream)
    upstream_model = model.partition("/")[2]
    # a connection closed before any answer may be a pooled keep-alive connection the server had dropped:
    # the bridge's client sends the request once more on a new connection (as browsers do), once per call
    allowed = {attempts, attempts + 1} if kind == "accept-and-close" and attempts is not None else {attempts}
    if attempts is not None and faults.count(upstream_model) not in allowed:
        problems.append(f"the upstream saw {faults.count(upstream_model)} attempts, not {attempts}")
    if kind == "refused" and road == "retries" and out.elapsed < BACKOFF_PAUSES / 2:
        problems.append(f"answered after {out.elapsed:.2f} s: too soon for two backoff pauses (3 attempts)")

    # the next good request on the same bridge
    good_model = f"{pair.provider}/fault-ok.{tag}.after-{kind}"
    good = exchange(bridge.port, pair.path, pair.headers(), pair.body(good_model, True), GOOD_DEADLINE)
    good_seen = read_stream(pair.client, good.body)
    if not (good.status == 200 and good.framing == "complete" and good_seen.text == expected_text("ok") and good_seen.done):
        problems.append(f"the next good request failed: {describe(good, pair)}")
    assert not problems, f"{kind} / {pair_name} / {road} / {'stream' if stream else 'whole'}: got {seen}\n  " + "\n  ".join(problems)
