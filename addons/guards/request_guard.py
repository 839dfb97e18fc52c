"""The request guard: every request passes here before the bridge routes it.

At `requestheaders`, before the body is read: a cross-site caller (an `Origin`
that is neither the bridge's own nor listed in `[server] cors_origins`) is
refused with 403, a body that is not `application/json` with 415, an unknown
`Content-Encoding` with 415 and a declared `Content-Length` above
`[server] max_request_bytes` with 413. Listed origins get their CORS preflight
answered. A refusal made before the body arrives must not cost the body: the
request is streamed to a discarding callable and answered by the relay, so
mitmproxy never buffers it.

At `request`, once mitmproxy has read a body (a chunked one has no declared
length): the size is checked again, and a compressed body is inflated with a
bound (a gzip bomb stops one byte past the limit), so the bridge reads plain JSON.
"""

from __future__ import annotations

import logging
import weakref

from mitmproxy import ctx, http

from addons.guards.cross_site import (
    answer_headers, is_json_media_type, is_own_origin, normalize_origin, preflight_headers,
)
from addons.guards.refusal import loggable_path, refusal
from addons.guards.request_body import check_encoding, declared_length, inflate, too_large
from addons.upstream_relay import CALL_HEADER, LocalAnswer, UpstreamRelay
from transforms.errors import BridgeError

log = logging.getLogger(__name__)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestGuard:
    def __init__(self, settings, relay: UpstreamRelay) -> None:
        self.settings = settings
        self.relay = relay  # answers refusals whose body is still coming
        self.cors_origin: weakref.WeakKeyDictionary[http.HTTPFlow, str] = weakref.WeakKeyDictionary()
        self._discarded: weakref.WeakKeyDictionary[http.HTTPFlow, tuple] = weakref.WeakKeyDictionary()
        self._backstop: str | None = None  # the body_size_limit this guard set (a user's own is kept)

    @property
    def _server(self):
        return self.settings.config.server

    def configure(self, updated: set[str]) -> None:
        changes = {}
        # the same-origin rule needs the Host the client sent (reverse mode would replace it with the
        # placeholder target's); the bridge sets every upstream request's Host itself
        if "keep_host_header" in updated and not ctx.options.keep_host_header:
            changes["keep_host_header"] = True
        # A body without Content-Length (chunked) can only be measured once mitmproxy has read it; past
        # twice the limit mitmproxy itself stops reading (its own 413), so memory stays bounded.
        if {"body_size_limit", "bridge_config"} & updated:
            backstop = str(2 * self._server.max_request_bytes)
            current = ctx.options.body_size_limit
            if current in (None, "", self._backstop) and current != backstop:
                changes["body_size_limit"] = self._backstop = backstop
        if changes:
            ctx.options.update(**changes)

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
            error.code = "UNSUPPORTED_MEDIA_TYPE"
            return self._refuse_early(flow, error)
        length = declared_length(request.headers)
        limit = self._server.max_request_bytes
        if length is not None and length > limit:
            error = too_large(f"The request body is {length} bytes", limit)
            error.code = "REQUEST_TOO_LARGE"
            return self._refuse_early(flow, error)

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
        request = flow.request
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}  # the relay frames it
        call_id = self.relay.register_answer(LocalAnswer(answer.status_code, headers, answer.content))
        self._discarded[flow] = (call_id, request.data.scheme, request.data.host, request.data.port)
        request.stream = _discard
        request.headers.pop("transfer-encoding", None)
        request.headers["content-length"] = "0"  # nothing of the body goes on
        request.headers[CALL_HEADER] = call_id
        request.data.scheme, request.data.host, request.data.port = b"http", "127.0.0.1", self.relay.port

    # --- once the body is read ---

    def request(self, flow: http.HTTPFlow) -> None:
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
            error.code = error.code or {413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}.get(error.status)
            log.info(f"llm-bridge: refused {request.method} {loggable_path(request.path)}: {error.message}")
            flow.response = refusal(flow, error)

    # --- the refusal's own answer ---

    def response(self, flow: http.HTTPFlow) -> None:
        self._restore(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._restore(flow)

    def _restore(self, flow: http.HTTPFlow) -> None:
        """A refused request is shown as the client sent it, not as sent to the relay."""
        discarded = self._discarded.pop(flow, None)
        if discarded is None:
            return
        call_id, scheme, host, port = discarded
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
