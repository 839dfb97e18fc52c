"""The proxy-URL service: `POST /api/generate-url`, `GET /api/catalog`,
`GET /api/errors`, the console at `/` and `/console`, and the opening of
`/proxy/{token}/...` tokens for the bridge.

The token is lifted out of the request path at `requestheaders`, before
mitmweb shows the flow or anything logs or records it: from then on the flow's
path reads `/proxy/<token>/...`, and the token itself lives in memory only
until the flow ends.
"""

from __future__ import annotations

import logging
import os
import uuid

import orjson
from mitmproxy import ctx, exceptions, http

from addons import console
from addons.guards.client_auth import is_authorized
from addons.presets.catalog import public_catalog
from addons.proxy_url.config import ConfigProblem, open_config, parse_generate_body, seal_form
from addons.proxy_url.errors import ERRORS_PATH, ProxyFailure, envelope, reference
from addons.proxy_url.snippets import snippets
from addons.proxy_url.opened import OpenedProxyUrl, OpenedUrls, opened_url
from addons.proxy_url.token import InvalidToken, TokenSealer, parse_secrets
from addons.recording.redact import MARKER
from addons.upstream.relay import CALL_HEADER, LocalAnswer, UpstreamRelay

log = logging.getLogger(__name__)

PROXY_PREFIX = "/proxy/"
TOKEN_MARKER = "<token>"
SECRET_ENV = "BRIDGE_URL_SECRET"
REQUEST_ID_HEADER = "x-request-id"


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


class ProxyUrls:
    def __init__(self, settings, relay: UpstreamRelay) -> None:
        self.settings = settings  # for the bridge's access tokens
        self.relay = relay  # serves generated URLs without them being kept in the flow
        self._private: dict[str, str] = {}  # flow id -> relay call id: answers to stream (never store)
        self._minters: set[str] = set()  # generate-url flows that presented a valid bridge token
        self.sealer: TokenSealer | None = None
        self._tokens: dict[str, str] = {}  # flow id -> the token taken out of its path
        self._targets = OpenedUrls()

    def load(self, loader) -> None:
        loader.add_option(
            "bridge_url_secret", str, "",
            f"Secret(s) that seal proxy URLs, comma-separated, newest first (default: ${SECRET_ENV}). "
            "New URLs use the first; a URL opens while its secret is listed.",
        )

    def configure(self, updated: set[str]) -> None:
        if "bridge_url_secret" not in updated:
            return
        value = ctx.options.bridge_url_secret or os.environ.get(SECRET_ENV, "")
        secrets = parse_secrets(value)
        try:
            self.sealer = TokenSealer(secrets) if secrets else None
        except ValueError as exc:
            raise exceptions.OptionsError(f"llm-bridge: bridge_url_secret: {exc}") from None
        self._targets.clear()

    # --- the token leaves the path before anyone sees it ---

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        path = flow.request.path
        if path.startswith("/api/generate-url"):
            # decided now: when flows are visible, the bridge replaces credentials with markers next
            if is_authorized(flow.request.headers, self.settings.config.server.auth_tokens):
                self._minters.add(flow.id)
            return
        if not path.startswith(PROXY_PREFIX):
            return
        token, slash, rest = path[len(PROXY_PREFIX):].partition("/")
        token, query_sep, query = token.partition("?")
        self._tokens[flow.id] = token
        flow.request.path = PROXY_PREFIX + TOKEN_MARKER + (slash + rest if slash else "") + (query_sep + query)

    def answered(self, flow: http.HTTPFlow) -> bool:
        """True for a flow this addon already answered through the relay (other addons leave it alone)."""
        return flow.id in self._private

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.id in self._private and flow.response is not None:
            flow.response.stream = True  # to the client as it comes; mitmproxy keeps no copy in the flow

    def response(self, flow: http.HTTPFlow) -> None:
        self._end(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._end(flow)

    def _end(self, flow: http.HTTPFlow) -> None:
        self._tokens.pop(flow.id, None)
        self._minters.discard(flow.id)
        call_id = self._private.pop(flow.id, None)
        if call_id is not None:
            self.relay.forget(call_id)

    def open(self, flow: http.HTTPFlow) -> OpenedProxyUrl:
        """The target of a `/proxy/` flow, or ProxyFailure (MISSING_TOKEN, INVALID_TOKEN, SECRET_NOT_SET)."""
        token = self._tokens.pop(flow.id, "")
        if not token:
            raise ProxyFailure("MISSING_TOKEN", "The URL has no token: use the proxyUrl from /api/generate-url, as "
                                                "<proxyUrl>/v1/... (OpenAI) or <proxyUrl>/v1/messages (Anthropic).")
        if self.sealer is None:
            raise ProxyFailure("SECRET_NOT_SET", f"This bridge has no proxy-URL secret, so no proxy URL can be opened: set "
                                                 f"{SECRET_ENV} or --set bridge_url_secret=..., then restart.")
        target = self._targets.get(token)
        if target is not None:
            return target
        try:
            config = open_config(self.sealer.open(token))
        except InvalidToken as exc:
            raise ProxyFailure("INVALID_TOKEN", f"Invalid proxy token: {exc}. Generate a new URL.") from None
        except ValueError:  # sealed by this bridge, but no longer a valid config (an older release's)
            raise ProxyFailure("INVALID_TOKEN", "Invalid proxy token: its configuration is not understood by this "
                                                "bridge version. Generate a new URL.") from None
        target = opened_url(config, self.settings.state)
        self._targets.put(token, target)
        return target

    # --- /api/* and the console ---

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.request.stream:  # answered, or refused with its body discarded
            return
        path = flow.request.path.split("?", 1)[0]
        method = flow.request.method
        if method == "GET" and path in ("/", "/console", "/console/"):
            flow.response = http.Response.make(200, console.page(), {"content-type": "text/html; charset=utf-8",
                                                                     "cache-control": "no-cache"})
        elif not path.startswith("/api/"):
            return
        elif method == "GET" and path == "/api/catalog":
            _json(flow, 200, public_catalog())
        elif method == "GET" and path == ERRORS_PATH:
            _json(flow, 200, reference())
        elif method == "POST" and path == "/api/generate-url":
            self._generate(flow)
        else:
            _fail(flow, ProxyFailure("UNSUPPORTED_ENDPOINT", f"There is nothing at {method} {path}. The API serves "
                                     "POST /api/generate-url, GET /api/catalog and GET /api/errors.", status=404))

    def _generate(self, flow: http.HTTPFlow) -> None:
        raw = flow.request.content or b""
        try:
            body = orjson.loads(raw)
            problem = None
        except orjson.JSONDecodeError as exc:
            body, problem = None, f"The body is not valid JSON: {exc}"
        # first of all, the keys leave the flow (whatever the answer): the parsed body keeps them
        flow.request.content = MARKER.encode() if body is None else orjson.dumps(redacted_body(body))
        if flow.id not in self._minters:
            return _fail(flow, ProxyFailure("UNAUTHORIZED", "Generating proxy URLs needs this bridge's access token: send "
                                                            "'Authorization: Bearer <token>' with one of [server] auth_tokens."))
        if self.sealer is None:
            return _fail(flow, ProxyFailure("SECRET_NOT_SET", f"This bridge has no proxy-URL secret: set {SECRET_ENV} "
                                                              "or --set bridge_url_secret=..., then restart."))
        if problem is not None:
            return _fail(flow, ProxyFailure("INVALID_JSON", problem))
        try:
            config = parse_generate_body(body)
        except ConfigProblem as problem:
            return _fail(flow, ProxyFailure("INVALID_JSON", str(problem)))
        proxy_url = f"{_origin(flow)}/proxy/{self.sealer.seal(seal_form(config))}"
        self._answer_privately(flow, 200, {"proxyUrl": proxy_url, "snippets": snippets(config, proxy_url)})
        log.info(f"llm-bridge: proxy URL generated for {config.provider_label} ({config.target.resolved_protocol})")


    def _answer_privately(self, flow: http.HTTPFlow, status: int, body: dict) -> None:
        """The URL is a credential: it goes to the client through the relay as a streamed body, so
        neither mitmweb, `-w`, a body dump nor a recording ever holds it."""
        headers = {"content-type": "application/json", REQUEST_ID_HEADER: new_request_id()}
        call_id = self.relay.register_answer(LocalAnswer(status, headers, orjson.dumps(body)))
        request = flow.request
        request.headers[CALL_HEADER] = call_id
        request.data.scheme, request.data.host, request.data.port = b"http", "127.0.0.1", self.relay.port
        self._private[flow.id] = call_id


def redacted_body(body):
    """A generate-url body with every credential value replaced by the marker."""
    if isinstance(body, dict):
        return {k: (MARKER if k in _SECRET_FIELDS and isinstance(v, (str, list)) else redacted_body(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [redacted_body(v) for v in body]
    return body


_SECRET_FIELDS = frozenset({"token", "key", "keys", "apiKey", "accessKeyId", "secretAccessKey", "sessionToken"})


def _origin(flow: http.HTTPFlow) -> str:
    """The bridge as the client reached it (a reverse proxy in front may say so). In reverse mode
    mitmproxy has already rewritten Host to its target, so the listening socket's address is used."""
    headers = flow.request.headers
    scheme = headers.get("x-forwarded-proto") or ("https" if flow.client_conn.tls_established else "http")
    host = headers.get("x-forwarded-host")
    if not host:
        address, port = flow.client_conn.sockname[:2]
        host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return f"{scheme}://{host}"


def _json(flow: http.HTTPFlow, status: int, body: dict, request_id: str | None = None) -> None:
    # no CORS headers: the console is same-origin, and another site's page must not read a minted URL
    headers = {"content-type": "application/json", REQUEST_ID_HEADER: request_id or new_request_id()}
    flow.response = http.Response.make(status, orjson.dumps(body), headers)


def _fail(flow: http.HTTPFlow, failure: ProxyFailure) -> None:
    request_id = new_request_id()
    body = envelope(failure.code, failure.message, request_id=request_id, provider=None,
                    endpoint_group=failure.endpoint_group, docs_url=docs_url(flow, failure.code),
                    retry_after=failure.retry_after)
    _json(flow, failure.status, body, request_id)


def docs_url(flow: http.HTTPFlow, code: str) -> str:
    return f"{_origin(flow)}{ERRORS_PATH}#{code}"
