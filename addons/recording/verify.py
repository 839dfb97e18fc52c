"""Re-checking recorded traffic against the current code: `python -m addons.verify PATH...` (addons/verify.py).

A bridged flow (`flow.metadata["llm_bridge"]`, see flows/README.md) holds both ends of each translation, so
each recording is checked both ways with the functions that serve traffic:

- request: the recorded client request, translated now, must give the recorded upstream request (as JSON)
  and its endpoint;
- answer: the recorded upstream answer (its chunks as they arrived, then again re-split every 5 bytes, or
  its whole body), translated now, must give what the client was sent, byte for byte (and chunk for chunk
  where the flow keeps the client's chunks: `client_chunks`).

The recorded `created` timestamp is reused, and every id a client sees is derived from the upstream's, so
a recording compares exactly: nothing is normalised. The first difference is reported with its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import orjson
from mitmproxy import exceptions, http, io

from addons.answers import METADATA_KEY
from addons.streaming import stream_callable
from transforms.call_plan import plan_chat_call
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS
from transforms.errors import BridgeError, describe_failure
from transforms.ir import StreamFailed
from transforms.translation import Translation, client_body, parse_request_body
from transforms.upstream_options import UpstreamOptions

if TYPE_CHECKING:
    from addons.model_router import ModelRouter

DIRECTIONS = ("request", "answer")
RESPLIT = 5  # a stream is translated again from its bytes re-split this finely: chunking must not matter
SHORT = 80  # the longest value or excerpt a difference shows
# the parts of a recording that follow the answer: a recording cut there can still have its request checked
ANSWER_PARTS = frozenset({"upstream_chunks", "client_chunks", "upstream_body", "client_body", "response"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """One exchange checked. `ok`: both asked directions were checked and match; `skipped`: why (part of)
    it could not be checked; `difference`: the first difference, with its direction and place."""

    ok: bool
    skipped: str | None = None
    difference: str | None = None
    label: str = ""


class RecordingError(Exception):
    """A path that is not a readable recording (a missing file, an empty folder, not a flow file)."""


# --- reading ----------------------------------------------------------------


def iter_flow_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Each path as given if it is a file, else every `*.flow` below it (sorted). Raises RecordingError
    for a path that does not exist or a folder without any `.flow` file."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.flow") if p.is_file())
            if not files:
                raise RecordingError(f"{path}: no .flow files in this folder")
            yield from files
        elif path.is_file():
            yield path
        elif path.exists():
            raise RecordingError(f"{path}: not a file or folder")
        else:
            raise RecordingError(f"{path}: no such file or folder")


def read_flows(path: str | Path) -> list:
    """Every flow in a flow file (a recording holds one; `mitmdump -w` files and mitmweb's "Save" many),
    of any kind: `check_flow` skips those that are not bridged HTTP flows. Raises RecordingError when the
    file cannot be read whole."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return list(io.FlowReader(fh).stream())
    except OSError as exc:
        raise RecordingError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except exceptions.FlowReadException as exc:
        raise RecordingError(f"{path}: not a mitmproxy flow file ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail anywhere in mitmproxy's migration
        raise RecordingError(f"{path}: not a readable mitmproxy flow file ({type(exc).__name__})") from None


# --- checking ---------------------------------------------------------------


def check_flow(flow, *, router: ModelRouter | None = None, directions: Iterable[str] = DIRECTIONS,
               resplit: int | None = RESPLIT) -> Verdict:
    """Check one recorded exchange with the current code. `router` (from a bridge.toml): when it resolves
    the recorded client model, the request is translated with that destination's upstream model and
    options instead of the recorded ones. `directions`: "request", "answer" or both. `resplit`: also
    translate a stream from its bytes re-split this finely (None: not)."""
    directions = tuple(directions)
    if not isinstance(flow, http.HTTPFlow):
        return Verdict(False, skipped=f"not an HTTP flow ({getattr(flow, 'type', type(flow).__name__)})")
    meta = flow.metadata.get(METADATA_KEY)
    if not isinstance(meta, dict):
        where = f"{flow.request.method} {flow.request.pretty_url}"
        return Verdict(False, skipped=f"not a bridged flow (no {METADATA_KEY} metadata): {_cut(where)}")
    check = None
    try:
        check = _Check(flow, meta, router)
        return check.run(directions, resplit)
    except _Skip as skip:
        return Verdict(False, skipped=skip.reason, label=skip.label)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # translations fail safe: not these
        shape = f"{type(exc).__name__}: {_cut(str(exc))}"
        return Verdict(False, skipped=f"the {METADATA_KEY} metadata does not have the expected shape ({shape})",
                       label=check.label if check is not None else "")


class _Skip(Exception):
    def __init__(self, reason: str, label: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.label = label


class _Check:
    """One flow's check: what the current code makes of its recorded ends."""

    def __init__(self, flow: http.HTTPFlow, meta: dict, router: ModelRouter | None) -> None:
        self.flow = flow
        self.meta = meta
        missing = [k for k in ("client_protocol", "client_request", "provider", "upstream_protocol", "upstream_model")
                   if k not in meta]
        if missing:
            raise _Skip(f"incomplete {METADATA_KEY} metadata: no {', '.join(missing)}")
        self.provider = str(meta["provider"])  # the answer came from it: its name is in translated errors
        self.route_provider = self.provider  # the provider named in the label: the configured one, with --config
        self.upstream_model = str(meta["upstream_model"])
        self.protocol = str(meta["upstream_protocol"])
        self.options = recorded_options(meta)
        self.configured = False
        self.label = self._label()
        self.client = CLIENT_CODECS.get(meta["client_protocol"])
        if self.client is None:
            raise _Skip(f"client protocol '{meta['client_protocol']}' has no codec in this version", self.label)
        if self.protocol not in UPSTREAM_CODECS:
            raise _Skip(f"upstream protocol '{self.protocol}' has no codec in this version", self.label)
        self.router = router
        self.created = int(meta.get("created") or 0)

    def _label(self) -> str:
        request = self.meta["client_request"]
        path = request.get("path", "?") if isinstance(request, dict) else "?"
        how = "streamed" if "upstream_chunks" in self.meta else "whole"
        configured = ", as configured" if self.configured else ""
        return (f"{self.meta['client_protocol']} {path} -> {self.route_provider} "
                f"({self.protocol}, {self.upstream_model}{configured}), {how}")

    def run(self, directions: tuple[str, ...], resplit: int | None) -> Verdict:
        truncated = self.meta.get("truncated")
        parts = ([truncated] if isinstance(truncated, str) else list(truncated)) if truncated else []
        if parts and not {str(p) for p in parts} <= ANSWER_PARTS:
            raise _Skip(f"the recording was cut at the memory cap ({', '.join(map(str, parts))})", self.label)
        translation, difference = self._request()
        self.label = self._label()  # the configured destination, if one was used
        if difference is not None and "request" in directions:
            return Verdict(False, difference=difference, label=self.label)
        if "answer" not in directions:
            return Verdict(True, label=self.label)
        checked = " (the request matches)" if "request" in directions else ""
        if parts:
            return Verdict(False, skipped=f"the upstream answer was cut at the memory cap "
                                          f"({', '.join(map(str, parts))}){checked}", label=self.label)
        if translation is None:  # the request cannot be translated now: the answer cannot be either
            return Verdict(False, difference=difference, label=self.label)
        skipped = self._unanswered()
        if skipped is not None:
            return Verdict(False, skipped=skipped + checked, label=self.label)
        difference = self._answer(translation, resplit)
        return Verdict(difference is None, difference=difference, label=self.label)

    # --- direction 1: the client's request -> the upstream request -------------

    def _request(self) -> tuple[Translation | None, str | None]:
        client = self.client
        recorded = self.meta["client_request"]
        raw = recorded.get("body") or b""
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        try:
            body = client_body(client, recorded.get("path", ""), parse_request_body(raw))
            client.check_request(body)
            request = client.decode_request(body)
        except BridgeError as error:
            return None, f"request: the current code refuses the recorded client request ({error.status}): {error.message}"
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            return None, (f"request: the current code cannot read the recorded client request "
                          f"(it would answer 400): {describe_failure(exc)}")
        difference = self._configured(request.model)
        if difference is not None:
            return None, difference
        try:
            plan = plan_chat_call(client, UPSTREAM_CODECS[self.protocol], request, body, base_url="",
                                  upstream_model=self.upstream_model, options=self.options,
                                  provider=self.provider, created=self.created)
        except BridgeError as error:
            return None, f"request: the current code refuses to translate it ({error.status}): {error.message}"
        except Exception as exc:  # noqa: BLE001 - a bug in a translation is a finding, not a crash
            return None, f"request: the current code fails to translate it: {type(exc).__name__}: {_cut(str(exc))}"
        sent = self.flow.request.content or b""
        try:
            recorded_body = orjson.loads(sent)
        except orjson.JSONDecodeError:
            difference = None if plan.body == sent else "request body: " + byte_difference(sent, plan.body)
        else:
            difference = json_difference(recorded_body, orjson.loads(plan.body), "request")
        if difference is None and not self.flow.request.path.endswith(plan.url):
            difference = f"request path: recorded {_cut(self.flow.request.path)}, now it ends with {_cut(plan.url)}"
        return plan.translation, difference

    def _configured(self, model: str) -> str | None:
        """Take the destination the configuration gives the client's model, if it names one."""
        if self.router is None:
            return None
        destination = self.router.resolve(model)
        if destination is None:
            return None
        if destination.protocol != self.protocol:
            return (f"request: the configuration sends model '{model}' to provider '{destination.provider.name}' "
                    f"({destination.protocol}); the recording went to '{self.provider}' ({self.protocol})")
        self.route_provider = destination.provider.name
        self.upstream_model = destination.upstream_model
        self.options = destination.options
        self.configured = True
        return None

    # --- direction 2: the upstream's answer -> the client's --------------------

    def _unanswered(self) -> str | None:
        meta = self.meta
        if self.flow.response is None:
            error = f": {_cut(self.flow.error.msg)}" if self.flow.error is not None else ""
            return f"no answer recorded{error}"
        if "upstream_chunks" in meta or "upstream_body" in meta:
            return None
        if "upstream_status" not in meta:
            return "no upstream answer recorded: the bridge answered itself (the upstream was not reached)"
        return ("no upstream answer recorded: the answer was streamed while the bridge was not recording "
                "(--set bridge_record=DIR keeps its chunks)")

    def _answer(self, translation: Translation, resplit: int | None) -> str | None:
        meta = self.meta
        response = self.flow.response
        headers = {str(k).lower(): str(v) for k, v in meta.get("upstream_headers") or ()}
        if "upstream_chunks" not in meta:
            return self._whole(translation, headers, response.content or b"")
        # what the client was sent: chunk by chunk as the bridge sent them, or (older recordings) the bytes
        # in the response, or kept aside in the metadata (flows saved live by older versions)
        sent_chunks = [bytes(chunk) for _, chunk in meta["client_chunks"]] if "client_chunks" in meta else None
        if sent_chunks is not None:
            sent = b"".join(sent_chunks)
        else:
            sent = bytes(meta["client_body"]) if "client_body" in meta else (response.content or b"")
        framing = translation.streams(headers.get("content-type", ""))
        if framing is None:
            return (f"answer: the current code would not translate this answer as a stream "
                    f"(upstream content-type {_cut(headers.get('content-type', '(none)'))})")
        content_type = translation.client.stream_content_type(translation.request)
        if _media_type(response.headers.get("content-type", "")) != content_type:
            return f"answer content-type: recorded {_cut(response.headers.get('content-type', '(none)'))}, now {content_type}"
        chunks = [bytes(chunk) for _, chunk in meta["upstream_chunks"]]
        encoding = headers.get("content-encoding", "")
        pieces = _stream(translation, framing, chunks, encoding)
        sse = content_type == "text/event-stream"
        difference = stream_difference(sent, b"".join(pieces), sse)
        if difference is None and sent_chunks is not None:
            difference = piece_difference([c for c in sent_chunks if c], pieces)
        if difference is None and resplit:
            whole = b"".join(chunks)
            again = _stream(translation, framing, [whole[i:i + resplit] for i in range(0, len(whole), resplit)], encoding)
            found = stream_difference(sent, b"".join(again), sse)
            if found is not None:
                difference = found.replace("answer", f"answer (re-split every {resplit} bytes)", 1)
        return difference

    def _whole(self, translation: Translation, headers: dict[str, str], sent: bytes) -> str | None:
        """As the bridge's `response` hook does: translated, or its error in the client's envelope."""
        meta = self.meta
        upstream_status = int(meta.get("upstream_status", 200))
        body = bytes(meta.get("upstream_body") or b"")
        try:
            status, content_type, out = translation.answer(upstream_status, body, headers.get("retry-after"))
        except BridgeError as error:
            status, out = translation.client.encode_error(error)
            content_type = "application/json"
        except Exception as exc:  # noqa: BLE001 - as the bridge answers it
            error = BridgeError("api_error", f"llm-bridge could not translate the upstream response: {describe_failure(exc)}.")
            status, out = translation.client.encode_error(error)
            content_type = "application/json"
        response = self.flow.response
        if status != response.status_code:
            return f"answer status: recorded {response.status_code}, now {status}"
        recorded_type = response.headers.get("content-type", "(none)")
        if content_type != recorded_type:
            return f"answer content-type: recorded {_cut(recorded_type)}, now {_cut(content_type)}"
        return body_difference(sent, out, "answer")


def recorded_options(meta: dict) -> UpstreamOptions:
    """The upstream options the recording was made with (older recordings kept only the route's max_tokens)."""
    recorded = meta.get("upstream_options") or {"max_tokens": meta.get("route_max_tokens")}
    return UpstreamOptions(recorded.get("max_tokens"), recorded.get("max_output_tokens"),
                           frozenset(recorded.get("quirks") or ()), api_version=recorded.get("api_version"),
                           prompt_cache=recorded.get("prompt_cache", "auto"), cache_ttl_s=recorded.get("cache_ttl_s"))


def _stream(translation: Translation, framing: str, chunks: list[bytes], content_encoding: str) -> list[bytes]:
    """The client's chunks (none empty), through the same callable the bridge hands mitmproxy (inflating,
    failing safe): one per upstream chunk that gave any, and the stream's end."""
    translator = translation.stream(json_array=framing == "json-array")
    encoder = translation.client.stream_encoder(translation.request, created=translation.created)

    def on_error(exc: Exception) -> bytes:  # as addons.answers.stream_error_bytes, without its log line
        error = BridgeError("api_error", f"llm-bridge failed while streaming: {describe_failure(exc)}.")
        return encoder.encode(StreamFailed(error)) + encoder.close()

    feed = stream_callable(translator, content_encoding=content_encoding, on_error=on_error)
    out = [feed(chunk) for chunk in chunks if chunk] + [feed(b"")]
    return [part for part in out if isinstance(part, bytes) and part]


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


# --- differences --------------------------------------------------------------


def json_difference(recorded: object, now: object, where: str, path: str = "") -> str | None:
    """The first place two JSON values differ (types are strict: 1, 1.0 and true differ), as
    `<where> <path>: recorded <value>, now <value>`."""
    if type(recorded) is not type(now):
        return _place(where, path, recorded, now)
    if isinstance(recorded, dict):
        for key in [*recorded, *(k for k in now if k not in recorded)]:
            inner = _key_path(path, key)
            if key not in now:
                return _place(where, inner, recorded[key], _MISSING)
            if key not in recorded:
                return _place(where, inner, _MISSING, now[key])
            found = json_difference(recorded[key], now[key], where, inner)
            if found is not None:
                return found
        return None
    if isinstance(recorded, list):
        for i in range(max(len(recorded), len(now))):
            inner = f"{path}[{i}]"
            if i >= len(now):
                return _place(where, inner, recorded[i], _MISSING)
            if i >= len(recorded):
                return _place(where, inner, _MISSING, now[i])
            found = json_difference(recorded[i], now[i], where, inner)
            if found is not None:
                return found
        return None
    return None if recorded == now else _place(where, path, recorded, now)


def _key_path(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{orjson.dumps(key).decode()}]"


def body_difference(recorded: bytes, now: bytes, where: str) -> str | None:
    """Bytes that must be equal: the JSON place when both are JSON and differ as JSON, else the byte offset."""
    if recorded == now:
        return None
    try:
        found = json_difference(orjson.loads(recorded), orjson.loads(now), where)
    except orjson.JSONDecodeError:
        found = None
    return found if found is not None else f"{where} " + byte_difference(recorded, now)


def stream_difference(recorded: bytes, now: bytes, sse: bool) -> str | None:
    """The first SSE event that differs (numbered from 1, with the JSON place in its data), else the byte offset."""
    if recorded == now:
        return None
    if not sse:
        return "answer " + byte_difference(recorded, now)
    old, new = _events(recorded), _events(now)
    for number, (a, b) in enumerate(zip(old, new), start=1):
        if a != b:
            break
    else:
        number = min(len(old), len(new)) + 1
        if len(old) > len(new):
            return f"answer SSE event {number}: recorded {_excerpt(old[number - 1])}, now the stream ends after {len(new)} events"
        if len(new) > len(old):
            return f"answer SSE event {number}: recorded stream ends after {len(old)} events, now {_excerpt(new[number - 1])}"
        return "answer " + byte_difference(recorded, now)  # the same events, framed differently
    name = _event_name(a)
    same_name = name == _event_name(b)
    where = f"answer SSE event {number}" + (f" ({name})" if name and same_name else "")
    data_a, data_b = _event_data(a), _event_data(b)
    if data_a is not None and data_b is not None and same_name:
        try:
            found = json_difference(orjson.loads(data_a), orjson.loads(data_b), where)
        except orjson.JSONDecodeError:
            found = None
        if found is not None:
            return found
    return f"{where}: recorded {_excerpt(a)}, now {_excerpt(b)}"


def piece_difference(recorded: list[bytes], now: list[bytes]) -> str | None:
    """The same bytes, sent in other pieces: where the chunks the client was sent start to differ
    (a translation that holds output back until the end shows here)."""
    if recorded == now:
        return None
    number = next((i for i, (a, b) in enumerate(zip(recorded, now)) if a != b), min(len(recorded), len(now))) + 1

    def size(chunks: list[bytes]) -> str:
        return f"{len(chunks[number - 1])} bytes" if number <= len(chunks) else "none"

    return (f"answer chunk {number}: the same bytes in other pieces ({len(recorded)} chunks recorded, {len(now)} now): "
            f"recorded {size(recorded)}, now {size(now)}")


def byte_difference(recorded: bytes, now: bytes) -> str:
    """`at byte N: recorded '...', now '...'`: excerpts of both sides around the first differing byte."""
    at = next((i for i, (x, y) in enumerate(zip(recorded, now)) if x != y), min(len(recorded), len(now)))
    start = max(0, at - 20)

    def around(data: bytes) -> str:
        if at >= len(data):
            return f"(ends after {len(data)} bytes)"
        piece = data[start:start + SHORT - 20]
        text = repr(piece.decode("utf-8", "backslashreplace"))
        return ("..." if start else "") + text + ("..." if start + len(piece) < len(data) else "")

    return f"at byte {at}: recorded {around(recorded)}, now {around(now)}"


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_MISSING = object()


def _place(where: str, path: str, recorded: object, now: object) -> str:
    a, b = _shown(recorded), _shown(now)
    if len(a) > SHORT or len(b) > SHORT:  # show where they part, not two equal beginnings
        common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        start = max(0, common - 20)
        a, b = _window(a, start), _window(b, start)
    return f"{where} {path or 'body'}: recorded {a}, now {b}"


def _shown(value: object) -> str:
    if value is _MISSING:
        return "(missing)"
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _window(text: str, start: int) -> str:
    if start >= len(text) or text == "(missing)":
        return _cut(text)
    piece = text[start:start + SHORT - 3]
    return ("..." if start else "") + piece + ("..." if start + len(piece) < len(text) else "")


def _cut(text: str) -> str:
    return text if len(text) <= SHORT else text[:SHORT - 3] + "..."


def _events(stream: bytes) -> list[bytes]:
    return [event for event in re.split(rb"\r?\n\r?\n", stream) if event]


def _event_name(event: bytes) -> str | None:
    for line in event.splitlines():
        if line.startswith(b"event:"):
            return line[6:].strip().decode("utf-8", "replace")
    return None


def _event_data(event: bytes) -> bytes | None:
    lines = [line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _excerpt(event: bytes) -> str:
    return _cut(repr(event.decode("utf-8", "backslashreplace")))


__all__ = ["Verdict", "RecordingError", "check_flow", "iter_flow_files", "read_flows", "json_difference",
           "body_difference", "stream_difference", "piece_difference", "byte_difference", "recorded_options"]
