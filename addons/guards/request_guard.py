"""The request guard: every request passes here before the bridge routes it.

At `requestheaders`, before the body is read: a cross-site caller (an `Origin`
that is neither the bridge's own nor listed in `[server] cors_origins`) is
refused with 403, a body that is not `application/json` with 415, an unknown
`Content-Encoding` with 415 and a declared `Content-Length` above
`[server] max_request_bytes` with 413. Listed origins get their CORS preflight
answered. A refusal made before the body arrives must not cost the body: the
request is streamed to a discarding callable and answered by the relay, so
mitmproxy never buffers it.

A body that declares no length (chunked) is measured as it streams in and kept
only up to the limit; once complete, it is refused (413) or sent through the
bridge again with its length (the relay re-sends it to the bridge's own
listener, so mitmweb shows that second flow too).

At `request`, once mitmproxy has read a body, a compressed one is inflated with
a bound (a gzip bomb stops one byte past the limit), so the bridge reads plain JSON.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

from mitmproxy import ctx, http

from addons.guards.cross_site import (
    answer_headers, is_json_media_type, is_own_origin, normalize_origin, preflight_headers,
)
from addons.guards.refusal import loggable_path, refusal
from addons.guards.request_body import BoundedBody, check_encoding, declared_length, inflate, too_large
from addons.upstream.relay import CALL_HEADER, HeldRequest, LocalAnswer, Reentry, UpstreamRelay
from transforms.errors import BridgeError

log = logging.getLogger(__name__)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestGuard:
    def __init__(self, settings, relay: UpstreamRelay) -> None:
        self.settings = settings
        self.relay = relay  # answers refusals whose body is still coming
        self.cors_origin: weakref.WeakKeyDictionary[http.HTTPFlow, str] = weakref.WeakKeyDictionary()
        # flows answered by the relay, with the target they had: refused (body discarded) or held (body measured)
        self._diverted: weakref.WeakKeyDictionary[http.HTTPFlow, tuple] = weakref.WeakKeyDictionary()
        self._held: weakref.WeakKeyDictionary[http.HTTPFlow, _Held] = weakref.WeakKeyDictionary()

    @property
    def _server(self):
        return self.settings.config.server

    def configure(self, updated: set[str]) -> None:
        # the same-origin rule needs the Host the client sent (reverse mode would replace it with the
        # placeholder target's); the bridge sets every upstream request's Host itself
        if "keep_host_header" in updated and not ctx.options.keep_host_header:
            ctx.options.update(keep_host_header=True)

    # --- before the body ---

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return
        request = flow.request
        origin = request.headers.get("origin")
        if origin is not None:
            listed = self._listed(origin)
            if listed is None and not is_own_origin(origin, request.host_header or "", _scheme(flow),
                                                   tokens_configured=bool(self._server.auth_tokens)):
                return self._refuse_early(flow, BridgeError(
                    "permission",
                    f"Requests from web pages at {_shown(origin)} are refused: this bridge spends its providers' keys "
                    f"on every call. To let a page you trust call it, add its origin to [server] cors_origins.",
                    code="FORBIDDEN_ORIGIN"))
            if listed is not None:
                self.cors_origin[flow] = listed
                if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
                    headers = preflight_headers(listed, request.headers.get("access-control-request-headers", ""))
                    flow.response = http.Response.make(204, b"", headers)
                    return
        if not _has_body(request):
            return
        content_type = request.headers.get("content-type", "")
        if not is_json_media_type(content_type):
            shown = f"'{_shown(content_type)}'" if content_type else "no Content-Type"
            return self._refuse_early(flow, BridgeError(
                "invalid_request",
                f"The request body must be JSON sent as 'Content-Type: application/json'; this one has {shown}.",
                status=415, code="UNSUPPORTED_MEDIA_TYPE"))
        try:
            check_encoding(request.headers.get("content-encoding", ""))
        except BridgeError as error:
            return self._refuse_early(flow, error)
        length = declared_length(request.headers)
        limit = self._server.max_request_bytes
        if length is not None and length > limit:
            return self._refuse_early(flow, too_large(f"The request body is {length} bytes", limit))
        if length is None and self.relay.port:
            self._hold(flow)

    def _listed(self, origin: str) -> str | None:
        normalized = normalize_origin(origin)
        return normalized if normalized is not None and normalized in self._server.cors_origins else None

    def _refuse_early(self, flow: http.HTTPFlow, error: BridgeError) -> None:
        """Refuse before the body is read: mitmproxy would otherwise buffer all of it first."""
        answer = refusal(flow, error)
        log.info(f"llm-bridge: refused {flow.request.method} {loggable_path(flow.request.path)}: "
                 f"{answer.status_code} {error.message}")
        if not _has_body(flow.request) or self.relay.port == 0:
            flow.response = answer
            return
        call_id = self.relay.register_answer(_local_answer(answer))
        self._divert(flow, call_id, _discard)

    def _hold(self, flow: http.HTTPFlow) -> None:
        """A body with no declared length (chunked) is measured as it streams in, never buffered past the
        limit; once complete it goes through the bridge again, with its length (see HeldRequest)."""
        request = flow.request
        call_id, held = self.relay.register_held()
        body = BoundedBody(self._server.max_request_bytes)
        # as the client sent it (its path still holds a proxy URL's token; its headers the bridge token):
        # kept in memory until the flow ends
        headers = [(k, v) for k, v in request.headers.items(multi=True)
                   if k.lower() not in ("transfer-encoding", "content-length")]
        host, port = flow.client_conn.sockname[:2]
        listener = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._held[flow] = _Held(held, body, listener + request.path, headers)
        self._divert(flow, call_id, body.feed)

    def _divert(self, flow: http.HTTPFlow, call_id: str, stream) -> None:
        """Send the request to the relay, which answers it; its body goes to `stream`, none of it on."""
        request = flow.request
        self._diverted[flow] = (call_id, request.data.scheme, request.data.host, request.data.port)
        request.stream = stream
        request.headers.pop("transfer-encoding", None)
        request.headers["content-length"] = "0"
        request.headers[CALL_HEADER] = call_id
        request.data.scheme, request.data.host, request.data.port = b"http", "127.0.0.1", self.relay.port

    # --- once the body is read ---

    def request(self, flow: http.HTTPFlow) -> None:
        held = self._held.get(flow)
        if held is not None:
            return self._release(flow, held)
        if flow.response is not None or flow.request.stream or not flow.request.raw_content:
            return
        request = flow.request
        limit = self._server.max_request_bytes
        raw = request.raw_content
        try:
            if len(raw) > limit:
                raise too_large(f"The request body is {len(raw)} bytes", limit)
            codings = check_encoding(request.headers.get("content-encoding", ""))
            if any(c != "identity" for c in codings):
                body = inflate(raw, codings, limit)
                request.headers.pop("content-encoding")
                request.content = body  # from here on the flow shows, and the bridge reads, plain JSON
        except BridgeError as error:
            log.info(f"llm-bridge: refused {request.method} {loggable_path(request.path)}: {error.message}")
            flow.response = refusal(flow, error)

    def _release(self, flow: http.HTTPFlow, held: "_Held") -> None:
        """A held body is complete: refused when too large, else sent through the bridge with its length."""
        if held.body.overflowed:
            error = too_large(f"The request body is {held.body.size} bytes", held.body.limit)
            log.info(f"llm-bridge: refused {flow.request.method} {loggable_path(flow.request.path)}: {error.message}")
            held.request.outcome.set_result(_local_answer(refusal(flow, error)))
            return
        body = held.body.body()
        headers = held.headers + [("content-length", str(len(body)))]
        held.request.outcome.set_result(Reentry(held.url, headers, body))

    # --- a diverted request's answer ---

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow in self._held and flow.response is not None:
            flow.response.stream = True  # the bridge's answer to the re-sent request, as it comes

    def response(self, flow: http.HTTPFlow) -> None:
        self._restore(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._restore(flow)

    def _restore(self, flow: http.HTTPFlow) -> None:
        """A diverted request is shown as the client sent it, not as sent to the relay."""
        held = self._held.pop(flow, None)
        if held is not None and not held.request.outcome.done():
            held.request.outcome.set_result(None)  # the flow ended first: the relay stops waiting
        diverted = self._diverted.pop(flow, None)
        if diverted is None:
            return
        call_id, scheme, host, port = diverted
        self.relay.forget(call_id)
        request = flow.request
        request.headers.pop(CALL_HEADER, None)
        request.data.scheme, request.data.host, request.data.port = scheme, host, port


class CorsAnswers:
    """Adds the CORS headers to answers for a listed origin. It runs after the bridge, whose
    translation replaces an answer's headers."""

    def __init__(self, guard: RequestGuard) -> None:
        self.guard = guard

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._add(flow)  # a streamed answer's headers are sent after this hook

    def response(self, flow: http.HTTPFlow) -> None:
        self._add(flow)

    def _add(self, flow: http.HTTPFlow) -> None:
        origin = self.guard.cors_origin.get(flow)
        if origin is None or flow.response is None:
            return
        flow.response.headers.update(answer_headers(origin))


@dataclass(slots=True)
class _Held:
    request: HeldRequest
    body: BoundedBody
    url: str  # the bridge's own listener and the path as the client sent it
    headers: list[tuple[str, str]]


def _local_answer(answer: http.Response) -> LocalAnswer:
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}  # the relay frames it
    return LocalAnswer(answer.status_code, headers, answer.content)


def _discard(_chunk: bytes) -> list[bytes]:
    return []  # (never b"": mid-stream that would end an HTTP/1 chunked body)


def _has_body(request: http.Request) -> bool:
    """Whether a body follows the headers (HTTP/2 and 3 may send one with no length declared)."""
    length = declared_length(request.headers)
    if length is not None:
        return length > 0
    return "transfer-encoding" in request.headers or (not request.http_version.startswith("HTTP/1")
                                                      and request.method in BODY_METHODS)


def _scheme(flow: http.HTTPFlow) -> str:
    return "https" if flow.client_conn.tls_established else "http"


def _shown(value: str) -> str:
    """A client's header value, safe and short enough to quote in a message."""
    value = value if value.isprintable() else value.encode("unicode_escape").decode("ascii")
    return value if len(value) <= 100 else value[:100] + "..."
