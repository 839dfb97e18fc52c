"""Serving one `/proxy/{token}/{path}` call through the bridge's public call interface
(`ModelCalls.chat` and `.native`): chat goes through the usual translation or
passthrough; models, count_tokens and embeddings are answered locally or
forwarded natively, as the endpoint group's decision says. Errors carry the
proxy envelope (`answer_proxy_error`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson
from mitmproxy import http

from addons.proxy_url.endpoint_groups import Endpoint
from addons.proxy_url.errors import code_for, envelope, merged
from addons.model_list import format_models
from addons.proxy_url.opened import OpenedProxyUrl
from addons.model_router import destination_for
from addons.answers import put_error
from addons.proxy_url.api import REQUEST_ID_HEADER
from transforms.anthropic.passthrough import FORWARDED_CLIENT_HEADERS as ANTHROPIC_FORWARDED
from transforms.codecs import CLIENT_CODECS, UPSTREAM_CODECS, ClientCodec, openai_embeddings_url, openai_models_url
from transforms.client_strings import path_segment
from transforms.errors import BridgeError, error_message, invalid
from transforms.translation import client_body as client_body_for
from transforms.translation import parse_request_body
from transforms.token_estimate import estimate_input_tokens

log = logging.getLogger(__name__)

@dataclass(slots=True)
class ProxyContext:
    """What a proxied flow's answer needs: its id, whose envelope, and what to name in errors."""

    request_id: str
    client: ClientCodec
    docs_url: str
    provider: str | None = None
    provider_docs: str | None = None
    group: str | None = None


async def serve(calls, flow: http.HTTPFlow, target: OpenedProxyUrl, endpoint: Endpoint, how: str, path: str):
    """`calls`: the bridge's ModelCalls. Returns the chat call in flight (None for the other groups)."""
    group = endpoint.group
    if group == "chat":
        return await calls.chat(flow, path, endpoint.client_protocol, resolve=target.destination, key_pool=target.key_pool)
    if group == "models":
        await _models(calls, flow, target, endpoint, how)
    elif group == "count_tokens":
        await _count_tokens(calls, flow, target, endpoint, how)
    else:
        await _embeddings(calls, flow, target, endpoint)
    return None


async def _models(calls, flow, target: OpenedProxyUrl, endpoint: Endpoint, how: str) -> None:
    if how == "translate":
        family = endpoint.client_protocol if endpoint.client_protocol in ("anthropic", "gemini") else "openai"
        body = format_models([(name, target.provider.name) for name in target.mapping.client_names()], family,
                             flow.request.query)
        flow.response = http.Response.make(200, orjson.dumps(body), {"content-type": "application/json"})
        return
    models_url = UPSTREAM_CODECS[target.protocol].models_url or openai_models_url
    await _forward(calls, flow, target, "", models_url(target.provider.base_url), b"", method="GET")


async def _count_tokens(calls, flow, target: OpenedProxyUrl, endpoint: Endpoint, how: str) -> None:
    body = parse_request_body(flow.request.content or b"")
    if endpoint.client_protocol == "gemini":
        client = CLIENT_CODECS["gemini"]
        request_body = body.get("generateContentRequest") or body
        if not isinstance(request_body, dict):
            raise invalid("generateContentRequest must be an object.", "generateContentRequest")
        client.check_request(client_body_for(client, flow.request.path.split("?", 1)[0].replace(":countTokens", ":generateContent"),
                                             request_body))
        model = target.mapping.resolve(endpoint.gemini_model or "")
        if how == "passthrough":
            url = f"{target.provider.base_url}/v1beta/models/{path_segment(model)}:countTokens"
            await _forward(calls, flow, target, model, url, orjson.dumps(body))
            return
        request = client.decode_request(client_body_for(client, f"/v1beta/models/{model}:generateContent", request_body))
        answer = {"totalTokens": estimate_input_tokens(request)}
    else:
        CLIENT_CODECS["anthropic"].check_request(dict(body, max_tokens=body.get("max_tokens") or 1))
        model = target.mapping.resolve(str(body.get("model", "")))
        if how == "passthrough":
            payload = orjson.dumps({**body, "model": model})
            url = UPSTREAM_CODECS["anthropic"].counts_tokens(target.provider.base_url)
            await _forward(calls, flow, target, model, url, payload, forwarded=ANTHROPIC_FORWARDED)
            return
        request = CLIENT_CODECS["anthropic"].decode_request(dict(body, max_tokens=body.get("max_tokens") or 1))
        answer = {"input_tokens": estimate_input_tokens(request)}
    flow.response = http.Response.make(200, orjson.dumps(answer), {"content-type": "application/json",
                                                                   "x-llm-bridge-token-count": "estimate"})


async def _embeddings(calls, flow, target: OpenedProxyUrl, endpoint: Endpoint) -> None:
    body = parse_request_body(flow.request.content or b"")
    base = target.provider.base_url
    if endpoint.client_protocol == "gemini":
        model = target.mapping.resolve(endpoint.gemini_model or "")
        action = flow.request.path.split("?", 1)[0].rpartition(":")[2]
        if isinstance(body.get("requests"), list):  # batchEmbedContents names the model in each request
            body["requests"] = [dict(r, model=f"models/{model}") if isinstance(r, dict) else r for r in body["requests"]]
        url = f"{base}/v1beta/models/{path_segment(model)}:{action}"
    else:
        model = target.mapping.resolve(str(body.get("model", "")))
        body["model"] = model
        embeddings_url = UPSTREAM_CODECS[target.protocol].embeddings_url or openai_embeddings_url
        url = embeddings_url(base, model, target.provider.api_version)
    await _forward(calls, flow, target, model, url, orjson.dumps(body))


async def _forward(calls, flow, target: OpenedProxyUrl, model: str, url: str, body: bytes, *, method: str = "POST",
                   forwarded: tuple[str, ...] = ()) -> None:
    """A native passthrough: the client's wire format is the upstream's; only the model and credential change."""
    await calls.native(flow, destination_for(target.provider, model), url, body, method=method, forwarded=forwarded,
                       key_pool=target.key_pool)


# --- errors ---


def answer_proxy_error(flow: http.HTTPFlow, context: ProxyContext, error: BridgeError,
                       code: str | None = None, status: int | None = None) -> None:
    """The client protocol's envelope with the proxy envelope's fields, and the request id."""
    if code is None:
        code, status = code_for(error)
    put_error(flow, status, error_answer(context, error, code, status), error, {REQUEST_ID_HEADER: context.request_id})
    log.info(f"llm-bridge: proxy {status} {code} ({context.provider or '-'}, {context.group or '-'}): {error.message}")

REQUEST_CODES = {"invalid_request": "INVALID_JSON", "request_too_large": "INVALID_JSON", "rate_limit": "RATE_LIMITED",
                 "timeout": "UPSTREAM_TIMEOUT"}


def request_error_code(error: BridgeError) -> tuple[str, int]:
    """An error raised while reading the client's request or reaching the upstream (not an upstream answer)."""
    if error.code:
        return code_for(error)
    code = REQUEST_CODES.get(error.kind)
    if code is not None:
        return code, error.status
    if error.status >= 500:
        return "INTERNAL_ERROR" if error.kind == "api_error" else "UPSTREAM_ERROR", error.status
    return "INVALID_JSON", error.status


def error_answer(context: ProxyContext, error: BridgeError, code: str, status: int) -> bytes:
    """The client protocol's envelope with the proxy envelope's fields beside it."""
    shown = BridgeError(error.kind, error.message, status=status, param=error.param, retry_after=error.retry_after)
    _status, client_body = context.client.encode_error(shown)
    docs = context.provider_docs if code in ("UPSTREAM_ERROR", "RATE_LIMITED") and context.provider_docs else context.docs_url + code
    fields = envelope(code, error.message, request_id=context.request_id, provider=context.provider,
                      endpoint_group=context.group, docs_url=docs, retry_after=error.retry_after)
    return merged(client_body, fields)


def merge_native_error(context: ProxyContext, status: int, body: bytes, retry_after: str | None) -> bytes:
    """A natively passed-through error (same wire format as the client's): the envelope's fields added."""
    code = "RATE_LIMITED" if status == 429 else "UPSTREAM_ERROR"
    message = error_message(body) or f"HTTP {status} from provider '{context.provider}'"
    fields = envelope(code, message, request_id=context.request_id, provider=context.provider,
                      endpoint_group=context.group, docs_url=context.provider_docs or context.docs_url + code,
                      retry_after=retry_after)
    return merged(body, fields)
