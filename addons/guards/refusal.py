"""A refusal in the envelope the caller expects, decided by the request path alone
(the guards refuse before anything is routed): a chat client's own protocol,
the proxy-URL envelope on `/proxy/` and `/api/`."""

from __future__ import annotations

import orjson
from mitmproxy import http

from addons.client_paths import chat_protocol, envelope_protocol
from addons.proxy_url.api import PROXY_PREFIX, REQUEST_ID_HEADER, TOKEN_MARKER, docs_url, new_request_id
from addons.proxy_url.errors import envelope
from addons.proxy_url.serve import ProxyContext, error_answer, request_error_code
from transforms.codecs import CLIENT_CODECS
from transforms.errors import BridgeError


def client_protocol_of(path: str) -> str:
    """The protocol whose envelope a path's caller reads (a proxy URL's inner path decides for it)."""
    bare = path.split("?", 1)[0]
    if bare.startswith(PROXY_PREFIX):
        bare = "/" + bare[len(PROXY_PREFIX):].partition("/")[2]
    return envelope_protocol(bare, chat_protocol(bare))


def loggable_path(path: str) -> str:
    """The path without its query, and without a proxy URL's token (a credential)."""
    bare = path.split("?", 1)[0]
    if bare.startswith(PROXY_PREFIX):
        return PROXY_PREFIX + TOKEN_MARKER + "/" + bare[len(PROXY_PREFIX):].partition("/")[2]
    return bare


def refusal(flow: http.HTTPFlow, error: BridgeError, headers: dict[str, str] | None = None) -> http.Response:
    """The answer that refuses `flow`'s request with `error`."""
    path = flow.request.path
    extra = dict(headers or {})
    if path.startswith("/api/"):
        request_id = new_request_id()
        code, status = request_error_code(error)
        body = orjson.dumps(envelope(code, error.message, request_id=request_id, provider=None, endpoint_group=None,
                                     docs_url=docs_url(flow, code)))
        extra[REQUEST_ID_HEADER] = request_id
    elif path.startswith(PROXY_PREFIX):
        context = ProxyContext(new_request_id(), CLIENT_CODECS[client_protocol_of(path)], docs_url(flow, ""))
        code, status = request_error_code(error)
        body = error_answer(context, error, code, status)
        extra[REQUEST_ID_HEADER] = context.request_id
    else:
        status, body = CLIENT_CODECS[client_protocol_of(path)].encode_error(error)
    return http.Response.make(status, body, {"content-type": "application/json", **extra})
