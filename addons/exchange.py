"""The bridge itself: answers locally, or translates a client's request for its
provider and the provider's answer back, event by event.

Per flow: `request` routes and rewrites the request; `responseheaders`
chooses between streaming translation and a whole-body translation;
`response` translates whole bodies (answers and errors). Anything unexpected
fails closed: the client gets an error in its own protocol and nothing is
forwarded.
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import orjson
from mitmproxy import http

from addons.guards.client_auth import is_authorized, presented_token
from addons.client_paths import chat_protocol, envelope_protocol
from addons.recording.client_secrets import StashedHeaders, take_secrets
from addons.dynamic_routes import DynamicTarget, dynamic_route, parse_dynamic_path
from addons.guards.header_values import header_fields
from addons.host_policy import HostPolicy, HostRefused, check_destination
from addons.credentials.key_pool import KeyPool
from addons.model_list import model_list
from addons.recording.redact import SECRET_HEADERS, redacted_header_pairs
from addons.routing import Route
from addons.presets import preset_module
from addons.proxy_url import serve as proxied
from addons.proxy_url.api import PROXY_PREFIX, REQUEST_ID_HEADER, docs_url, new_request_id
from addons.proxy_url.endpoint_groups import Unsupported, classify, decide
from addons.proxy_url.errors import ProxyFailure, code_for
from addons.settings import BridgeSettings
from addons.streaming import StreamTap, prepare_stream_headers, stream_callable
from addons.credentials.key_headers import credential_headers, signer
from addons.upstream.relay import CALL_HEADER, RELAY_ERROR_HEADER, RelayCall, UpstreamRelay, relay_error
from transforms.codecs import CLIENT_CODECS, PASSTHROUGHS, UPSTREAM_CODECS, ClientCodec, UpstreamCodec
from transforms.errors import BridgeError, describe_failure, invalid
from transforms.exchange import client_body as client_body_for
from transforms.exchange import is_passthrough, parse_request_body, stream_translator, translate_answer, upstream_body
from transforms.ir import ChatRequest, StreamFailed
from transforms.json_body import MAX_DEPTH, too_deep
from transforms.stream import ByteStream
from transforms.token_estimate import estimate_input_tokens

log = logging.getLogger(__name__)

METADATA_KEY = "llm_bridge"
USER_AGENT = b"llm-bridge/0.1"

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MODELS_PATHS = frozenset({"/v1/models", "/models"})
INTERNAL_FAILURE = BridgeError("api_error", "llm-bridge failed to handle the request: an internal error (the bridge's log "
                                            "has the details). Nothing was sent upstream.")
SERVED = "POST /v1/chat/completions, POST /v1/responses, POST /v1/messages, POST /v1/messages/count_tokens and GET /v1/models"


@dataclass(slots=True)
class Exchange:
    """Live state of one routed flow (kept out of flow.metadata, which is saved to disk)."""

    client: ClientCodec
    upstream: UpstreamCodec
    route: Route
    request: ChatRequest
    client_body: dict
    created: int
    tap: StreamTap | None = None
    key: str | None = None  # the provider key this request went up with (live state only: never recorded)
    key_pool: KeyPool | None = None  # the pool it came from: a proxy URL's own, else the provider's

    def make_translator(self, json_array: bool = False) -> ByteStream:
        return stream_translator(
            self.client, self.upstream, self.request, self.client_body,
            created=self.created, provider=self.route.provider.name, json_array=json_array,
        )


@dataclass(slots=True)
class FlowState:
    """What the bridge holds for one flow while it is in flight (never in flow.metadata, which is saved)."""

    exchange: Exchange | None = None
    proxy: proxied.ProxyContext | None = None  # a /proxy/ call: whose envelope, what to name in errors
    relay_call: tuple[str, str] | None = None  # its relay call id and the provider's URL
    client_secrets: dict[str, str] | None = None  # taken out of a visible flow's request


class Bridge:
    def __init__(self, settings: BridgeSettings, *, relay: UpstreamRelay | None = None, record_streams=lambda: False,
                 resolve=None, flows_visible=lambda: False, proxy_urls=None) -> None:
        self.settings = settings
        self.proxy_urls = proxy_urls  # opens /proxy/{token}/... URLs (None: not served)
        # all the bridge holds for a flow in flight: it dies with the flow, whatever hooks were skipped
        self._flows: weakref.WeakKeyDictionary[http.HTTPFlow, FlowState] = weakref.WeakKeyDictionary()
        self.relay = relay or UpstreamRelay()
        self._record_streams = record_streams
        self._flows_visible = flows_visible  # mitmweb, -w or header-level dump: no secret may sit in a flow
        self._resolve = resolve  # a DNS resolver for dynamic routes (tests inject one)

    async def running(self) -> None:
        await self.relay.start()

    def done(self) -> None:
        self.relay.close()

    def _state(self, flow: http.HTTPFlow) -> "FlowState":
        state = self._flows.get(flow)
        if state is None:
            state = self._flows[flow] = FlowState()
        return state

    def _peek(self, flow: http.HTTPFlow, field: str):
        state = self._flows.get(flow)
        return None if state is None else getattr(state, field)

    def _take(self, flow: http.HTTPFlow, field: str):
        """The field's value, now forgotten (a flow's parts end at different hooks)."""
        state = self._flows.get(flow)
        if state is None:
            return None
        value = getattr(state, field)
        setattr(state, field, None)
        return value

    # --- request ------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self._flows_visible():
            self._state(flow).client_secrets = take_secrets(flow.request)

    def _client_headers(self, flow: http.HTTPFlow):
        secrets = self._peek(flow, "client_secrets")
        return flow.request.headers if secrets is None else StashedHeaders(secrets, flow.request.headers)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.is_replay == "request" or flow.request.stream:
            return  # answered, replayed, or refused by the guard with its body discarded
        if self.proxy_urls is not None and self.proxy_urls.answered(flow):
            return
        bare_path = flow.request.path.split("?", 1)[0]
        if self.proxy_urls is not None and bare_path.startswith(PROXY_PREFIX):
            await self._route_proxy(flow, bare_path)
            return
        protocol = chat_protocol(bare_path)  # the path is classified once per request
        client = CLIENT_CODECS[envelope_protocol(bare_path, protocol)]
        try:
            target = self._dynamic_target(bare_path)
            if target is None:
                await self._route(flow, bare_path, protocol)
            else:
                await self._route_dynamic(flow, target)
        except BridgeError as error:
            self._drop_exchange(flow)
            answer_error(flow, client, error)
        except RecursionError:  # a body nested deeper than the translation can walk
            self._drop_exchange(flow)
            answer_error(flow, client, too_deep(f"deeper than {MAX_DEPTH} levels"))
        except Exception:  # noqa: BLE001 - fail closed: never forward what could not be translated
            log.exception("llm-bridge: routing failed")
            self._drop_exchange(flow)
            answer_error(flow, client, INTERNAL_FAILURE)

    async def _route_proxy(self, flow: http.HTTPFlow, bare_path: str) -> None:
        """`/proxy/<token>/<upstream path>`: the token's configuration routes the call."""
        path = "/" + bare_path[len(PROXY_PREFIX):].partition("/")[2]
        query = flow.request.path.partition("?")[2]
        client = CLIENT_CODECS[envelope_protocol(path, chat_protocol(path))]
        context = proxied.ProxyContext(new_request_id(), client, docs_url(flow, ""))
        self._state(flow).proxy = context
        try:
            target = self.proxy_urls.open(flow)
            context.provider, context.provider_docs = target.provider.name, target.entry.docs_url or None
            endpoint = classify(flow.request.method, path, flow.request.headers)
            context.group = endpoint.group
            how = decide(endpoint, target.entry, target.protocol, target.config.endpoints.mode, target.provider.name)
            flow.request.path = path + (f"?{query}" if query else "")  # as the client's SDK would call the upstream
            await proxied.serve(self, flow, target, endpoint, how, path)
        except Unsupported as refused:
            context.group = refused.group or context.group
            self._answer_proxy_error(flow, context, ProxyFailure("UNSUPPORTED_ENDPOINT", refused.message).as_bridge_error())
        except ProxyFailure as failure:
            self._answer_proxy_error(flow, context, failure.as_bridge_error())
        except BridgeError as error:
            self._answer_proxy_error(flow, context, error, *proxied.request_error_code(error))
        except Exception:  # noqa: BLE001 - fail closed
            log.exception("llm-bridge: proxy routing failed")
            self._answer_proxy_error(flow, context, BridgeError("api_error", INTERNAL_FAILURE.message, code="INTERNAL_ERROR"))

    def _answer_proxy_error(self, flow: http.HTTPFlow, context: proxied.ProxyContext, error: BridgeError,
                            code: str | None = None, status: int | None = None) -> None:
        self._drop_exchange(flow)
        if code is None:
            code, status = code_for(error)
        body = proxied.error_answer(context, error, code, status)
        extra = {REQUEST_ID_HEADER: context.request_id, **_no_sdk_retry(error)}
        if error.retry_after:
            extra["retry-after"] = error.retry_after
        if flow.response is None:
            flow.response = _json_response(status, body, extra)
        else:
            _replace(flow, status, body, "application/json", extra)
        log.info(f"llm-bridge: proxy {status} {code} ({context.provider or '-'}, {context.group or '-'}): {error.message}")

    def _dynamic_target(self, bare_path: str) -> DynamicTarget | None:
        if not self.settings.config.dynamic_routes.enabled:
            return None
        return parse_dynamic_path(bare_path)

    async def _route_dynamic(self, flow: http.HTTPFlow, target: DynamicTarget) -> None:
        config = self.settings.config
        client_headers = self._client_headers(flow)
        if not is_authorized(client_headers, config.server.auth_tokens):
            raise BridgeError("authentication", "Missing or invalid bridge token: send 'Authorization: Bearer <token>' with a token from [server] auth_tokens.")
        policy = HostPolicy(tuple(config.dynamic_routes.allow_hosts), config.dynamic_routes.allow_private_networks)
        try:
            kwargs = {"resolve": self._resolve} if self._resolve else {}
            addresses = await check_destination(policy, target.scheme, target.host, target.port, **kwargs)
        except HostRefused as refused:
            raise BridgeError("permission", f"Dynamic route refused: {refused.reason}") from None
        # the upstream's key is the client's x-api-key (or its bearer token when the bridge has no tokens of its own)
        key = client_headers.get("x-api-key") or (None if config.server.auth_tokens else presented_token(client_headers))
        route = dynamic_route(target, key, connect_address=addresses[0])  # exactly the address that was checked
        await self._route(flow, flow.request.path.split("?", 1)[0], "anthropic", resolve=lambda _model: route)

    async def _route(self, flow: http.HTTPFlow, path: str, protocol: str | None, *,
                     resolve: Callable[[str], Route] | None = None, key_pool: KeyPool | None = None) -> None:
        """`resolve` (client model -> route) is given by dynamic routes and proxy URLs, which authorize themselves."""
        if resolve is None and not is_authorized(self._client_headers(flow), self.settings.config.server.auth_tokens):
            raise BridgeError("authentication", "Missing or invalid bridge token: send 'Authorization: Bearer <token>' with a token from [server] auth_tokens.")
        if path in MODELS_PATHS and flow.request.method == "GET":
            flow.response = _json_response(200, orjson.dumps(await model_list(self.settings, self.relay.client)))
            return
        if path == COUNT_TOKENS_PATH and flow.request.method == "POST":
            await self._count_tokens(flow)
            return
        if protocol is None or flow.request.method != "POST":
            raise BridgeError("not_found", f"llm-bridge serves {SERVED}; there is nothing at {flow.request.method} {path}.")
        client = CLIENT_CODECS[protocol]

        raw_body = flow.request.content or b""  # (decoded once: the getter re-checks encodings per call)
        client_body = client_body_for(client, flow.request.path, parse_request_body(raw_body))
        client.check_request(client_body)  # before anything is resolved, logged or sent: a 400 naming the field
        request = _decoded(client, client_body)
        route = (resolve or self._resolve_model)(request.model)
        if request.dropped:
            log.info(f"llm-bridge: dropped what {route.provider.name} cannot run: {', '.join(request.dropped)}")
        upstream = UPSTREAM_CODECS[route.protocol]
        body = upstream_body(
            client, upstream, request, client_body, upstream_model=route.upstream_model, options=route.options
        )

        flow.metadata[METADATA_KEY] = {
            "client_protocol": client.name,
            "client_request": {
                "method": flow.request.method,
                "path": flow.request.path,
                "headers": redacted_header_pairs(flow.request.headers),
                "body": raw_body,
            },
            "provider": route.provider.name,
            "upstream_protocol": upstream.name,
            "upstream_model": route.upstream_model,
            "created": (created := int(time.time())),
            "upstream_options": {
                "max_tokens": route.options.max_tokens,
                "max_output_tokens": route.options.max_output_tokens,
                "quirks": sorted(route.options.quirks),
                "api_version": route.options.api_version,
            },
        }
        exchange = Exchange(
            client, upstream, route, request, client_body, created,
            tap=StreamTap() if self._record_streams() else None,
        )
        self._state(flow).exchange = exchange

        forwarded = PASSTHROUGHS[client.name].forwarded_client_headers if is_passthrough(client, upstream) else ()
        headers = self._upstream_headers(flow, route, upstream, forwarded, thinking=request.reasoning_effort not in (None, "none"),
                                         stream=request.stream)
        accept = b"text/event-stream" if request.stream else b"application/json"
        url = upstream.url(route.base_url, route.upstream_model, request.stream, route.options)
        await self._send(flow, route, upstream, url, headers, body, accept, exchange, key_pool=key_pool)

    def _upstream_headers(self, flow: http.HTTPFlow, route: Route, upstream: UpstreamCodec, forwarded: tuple[str, ...],
                          *, thinking: bool = False, stream: bool = False) -> dict[str, str]:
        """Every upstream header but the credential: the protocol's own, the client's that a
        passthrough must honour (anthropic-beta ...), the preset's per-request set, the configured ones."""
        headers = upstream.headers(None)
        _forward_client_headers(flow, forwarded, headers)
        preset = preset_module(route.provider.preset)
        if preset is not None and hasattr(preset, "request_headers"):
            headers.update(preset.request_headers(route.protocol, flow.request.headers, thinking=thinking, stream=stream))
        headers.update(route.headers)
        return headers

    def _credential_headers(self, route: Route, upstream: UpstreamCodec):
        preset = preset_module(route.provider.preset)
        if preset is not None and hasattr(preset, "credential_headers"):
            protocol = route.protocol
            return lambda token: preset.credential_headers(protocol, token)
        return credential_headers(route.provider, upstream)

    async def _send(self, flow: http.HTTPFlow, route: Route, upstream: UpstreamCodec, url: str, headers: dict[str, str],
                    body: bytes, accept: bytes, exchange: Exchange | None = None, *, method: str = "POST",
                    key_pool: KeyPool | None = None) -> None:
        """Point the flow at its upstream. Every call goes through the relay, whatever the settings: it
        adds the credential outside the flow, owns the timeouts, retries before the first byte when
        `[retries]` says so, and answers its own failures in the client's envelope, so a call fails,
        times out and reads the same way on every route."""
        credential_headers_for = self._credential_headers(route, upstream)
        # a proxy URL brings its own keys (key_pool): never the configured providers' credentials or pools,
        # whatever its provider is called
        credential = self.settings.credentials.get(route.provider.name) if key_pool is None else None
        if credential is not None:
            token = await credential.token()  # refreshed first when due; a failure is the client's 401/503
        else:
            token = self._provider_key(flow, route.provider, key_pool)
            if exchange is not None:
                exchange.key, exchange.key_pool = token, key_pool
        retry = self.settings.retry_policy
        sign = signer(route.provider)
        call = RelayCall(url, route.provider.name, credential_headers_for, credential, token,
                         queue_probe=upstream.queue_probe,
                         retry=retry, sign=sign, timeout=self.settings.timeout, connect_address=route.connect_address,
                         key_pool=key_pool or self.settings.key_pools.get(route.provider.name))
        call_id = self.relay.register(call)
        self._state(flow).relay_call = (call_id, url)  # forgotten when the flow ends, used or not
        headers = {**headers, **_without_secrets(credential_headers_for(None)), CALL_HEADER: call_id}
        _rewrite_request(flow, url, headers, body, accept, via=("127.0.0.1", self.relay.port), method=method)

    def _provider_key(self, flow: http.HTTPFlow, provider, key_pool: KeyPool | None = None) -> str | None:
        """The key a request goes upstream with: the client's own when the provider is configured so,
        else the next of the provider's keys (round robin, skipping keys that are cooling down)."""
        if provider.client_key:
            headers = self._client_headers(flow)
            bridge_tokens = self.settings.config.server.auth_tokens
            # the bearer token is the bridge's own when the bridge has tokens; then the key is in x-api-key
            return headers.get("x-api-key") or headers.get("x-goog-api-key") or (None if bridge_tokens else presented_token(headers))
        pool = key_pool or self.settings.key_pools.get(provider.name)
        return pool.take() if pool is not None else provider.api_key

    async def _count_tokens(self, flow: http.HTTPFlow) -> None:
        """Anthropic's count_tokens: forwarded to an Anthropic upstream, else a local estimate (never a 404)."""
        client = CLIENT_CODECS["anthropic"]
        body = parse_request_body(flow.request.content or b"")
        counted = dict(body, max_tokens=body.get("max_tokens") or 1)  # count_tokens takes no max_tokens
        client.check_request(counted)
        request = _decoded(client, counted)
        route = self.settings.router.resolve(request.model)
        if route is not None and route.protocol == "anthropic":
            upstream = UPSTREAM_CODECS["anthropic"]
            headers = self._upstream_headers(flow, route, upstream, PASSTHROUGHS["anthropic"].forwarded_client_headers)
            payload = orjson.dumps({**body, "model": route.upstream_model})
            await self._send(flow, route, upstream, upstream.url(route.base_url) + "/count_tokens", headers, payload, b"application/json")
            return
        flow.response = _json_response(200, orjson.dumps({"input_tokens": estimate_input_tokens(request)}),
                                       {"x-llm-bridge-token-count": "estimate"})

    def _resolve_model(self, model: str) -> Route:
        router = self.settings.router
        route = router.resolve(model)
        if route is not None:
            return route
        if not router.has_providers:
            raise BridgeError(
                "not_found",
                f"The model '{model}' cannot be served: no provider is configured. Set ANTHROPIC_API_KEY or "
                "OPENAI_API_KEY, or write a bridge.toml with [[providers]] and [[models]] "
                "(see README), then restart.",
                param="model",
            )
        known = ", ".join(router.model_ids) or "none"
        providers = ", ".join(p.name for p in self.settings.config.providers)
        raise BridgeError(
            "not_found",
            f"The model '{model}' does not exist on this bridge. Configured models: {known}. "
            f"Any model of a configured provider can be named as '<provider>/<model>' (providers: {providers}).",
            param="model",
        )

    # --- response -------------------------------------------------------------

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        exchange = self._peek(flow, "exchange")
        if exchange is None or flow.response is None:
            return
        response = flow.response
        if RELAY_ERROR_HEADER in response.headers:
            return  # the relay's own failure: answered in `response`
        pool = exchange.key_pool or self.settings.key_pools.get(exchange.route.provider.name)
        if pool is not None:
            pool.report(exchange.key, response.status_code)  # 401/403/429: that key rests
        meta = flow.metadata.get(METADATA_KEY)
        if meta is not None:
            meta["upstream_status"] = response.status_code
            meta["upstream_headers"] = redacted_header_pairs(response.headers)
        content_type = response.headers.get("content-type", "")
        # SSE, or the upstream's own stream framing (Bedrock's AWS event-stream)
        is_sse = content_type.startswith("text/event-stream") or (
            exchange.upstream.stream_framing is not None and content_type.startswith("application/vnd.amazon.eventstream"))
        # a streamed JSON array (Gemini without alt=sse) is translated as it arrives too
        is_array = exchange.upstream.streams_json_array and content_type.startswith("application/json")
        if not (exchange.request.stream and 200 <= response.status_code < 300 and (is_sse or is_array)):
            return  # errors and whole bodies are translated in `response`
        try:
            translator = exchange.make_translator(json_array=is_array)
            encoder_for_errors = exchange.client.stream_encoder(exchange.request, created=exchange.created)
            callable_ = stream_callable(
                translator,
                content_encoding=response.headers.get("content-encoding", ""),
                on_error=lambda exc: _stream_error_bytes(encoder_for_errors, exc),
                tap=exchange.tap,
            )
        except Exception as exc:  # noqa: BLE001
            log.exception("llm-bridge: cannot stream this response")
            self._take(flow, "exchange")
            answer_error(flow, exchange.client, BridgeError("api_error", f"llm-bridge cannot translate this stream: {describe_failure(exc)}."))
            return
        passed = _passed_headers(response.headers, exchange)
        context = self._peek(flow, "proxy")
        if context is not None:
            _tag_proxied(passed, context)
        prepare_stream_headers(flow, passed, exchange.client.stream_content_type(exchange.request))
        response.stream = callable_

    def response(self, flow: http.HTTPFlow) -> None:
        self._forget_call(flow)
        context = self._take(flow, "proxy")
        if context is not None:
            self._proxied_response(flow, context)
            return
        self._take(flow, "client_secrets")
        exchange = self._take(flow, "exchange")
        response = flow.response
        if response is not None and RELAY_ERROR_HEADER in response.headers and not response.stream:
            client = exchange.client if exchange is not None else CLIENT_CODECS["anthropic"]  # else: count_tokens
            answer_error(flow, client, relay_error(response.content or b"{}"))
            return
        if exchange is None or response is None:
            return
        meta = flow.metadata.get(METADATA_KEY, {})
        if response.stream:
            if exchange.tap is not None:
                meta["upstream_chunks"] = exchange.tap.upstream
                meta["client_body"] = b"".join(exchange.tap.client)
            return
        meta["upstream_body"] = response.content
        try:
            self._translate_whole(flow, exchange)
        except BridgeError as error:
            answer_error(flow, exchange.client, error)
        except Exception as exc:  # noqa: BLE001
            log.exception("llm-bridge: response translation failed")
            answer_error(flow, exchange.client, BridgeError(
                "api_error", f"llm-bridge could not translate the upstream response: {describe_failure(exc)}."))

    def _proxied_response(self, flow: http.HTTPFlow, context: proxied.ProxyContext) -> None:
        """A `/proxy/` answer: as any other, but errors carry the proxy envelope and every answer its request id."""
        self._take(flow, "client_secrets")
        exchange = self._peek(flow, "exchange")
        response = flow.response
        if response is None:
            self._drop_exchange(flow)
            return
        if REQUEST_ID_HEADER in response.headers and response.headers[REQUEST_ID_HEADER] == context.request_id:
            self._drop_exchange(flow)  # answered by the bridge itself (an error envelope already)
            return
        if RELAY_ERROR_HEADER in response.headers and not response.stream:
            self._answer_proxy_error(flow, context, relay_error(response.content or b"{}"))
            return
        if exchange is not None and response.status_code >= 400 and not response.stream:
            self._take(flow, "exchange")
            error = exchange.upstream.decode_error(response.status_code, response.content or b"",
                                                   provider=exchange.route.provider.name,
                                                   retry_after=response.headers.get("retry-after"))
            self._answer_proxy_error(flow, context, error)
            return
        if exchange is not None:
            self.response(flow)  # the usual translation
        elif response.status_code >= 400 and not response.stream:  # a native passthrough's own error
            body = proxied.merge_native_error(context, response.status_code, response.content or b"",
                                              response.headers.get("retry-after"))
            _replace(flow, response.status_code, body, "application/json", _kept_headers(response.headers))
        passed: dict[str, str] = {}
        _tag_proxied(passed, context, flow.response.headers)
        for name, value in passed.items():
            flow.response.headers[name] = value

    def _translate_whole(self, flow: http.HTTPFlow, exchange: Exchange) -> None:
        response = flow.response
        status, content_type, body = translate_answer(
            exchange.client, exchange.upstream, exchange.request,
            status=response.status_code, body=response.content or b"", created=exchange.created,
            provider=exchange.route.provider.name, retry_after=response.headers.get("retry-after"),
        )
        _replace(flow, status, body, content_type, _passed_headers(response.headers, exchange))

    def error(self, flow: http.HTTPFlow) -> None:
        self._take(flow, "proxy")
        self._take(flow, "client_secrets")
        self._drop_exchange(flow)

    def _drop_exchange(self, flow: http.HTTPFlow) -> None:
        """Forget a flow's exchange (and its relay call): nothing upstream will answer it
        (e.g. the credential could not be had after the exchange was set up)."""
        self._take(flow, "exchange")
        self._forget_call(flow)

    def _forget_call(self, flow: http.HTTPFlow) -> None:
        call = self._take(flow, "relay_call")
        if call is None:
            return
        call_id, url = call
        self.relay.forget(call_id)  # already used, or never will be (the flow ended first)
        # from here on (mitmweb, -w, recordings, logs) the flow shows the provider it went to, not the relay
        target = _target(url)
        request = flow.request
        request.data.scheme, request.data.host, request.data.port = target.scheme, target.host, target.port
        request.headers.pop(CALL_HEADER, None)


def _decoded(client: ClientCodec, client_body: dict) -> ChatRequest:
    """The client's request in neutral terms; a shape its API does not define is the client's 400
    (a 500 would make its SDK retry a request that cannot succeed)."""
    try:
        return client.decode_request(client_body)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        log.info(f"llm-bridge: unreadable {client.name} request: {exc!r}")
        raise invalid(f"The request does not have the shape the {client.name} API defines: {describe_failure(exc)}.") from None


def _without_secrets(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


def _rewrite_request(flow: http.HTTPFlow, url: str, headers: dict[str, str], body: bytes, accept: bytes,
                     via: tuple[str, int], method: str = "POST") -> None:
    """Make `flow.request` a fresh upstream request: none of the client's headers (its
    credentials above all) go upstream, only `headers` and what every request needs.
    `via`: the relay's address, which the request is sent to (its Host and path stay the upstream's)."""
    target = _target(url)
    fields = [
        (b"host", target.authority),
        (b"accept", accept),
        (b"accept-encoding", b"identity"),  # the stream translator needs plain bytes
        (b"content-length", b"%d" % len(body)),
    ]
    if body:
        fields.append((b"content-type", b"application/json"))
    if "user-agent" not in headers:  # a preset may announce itself as its upstream's own client
        fields.append((b"user-agent", USER_AGENT))
    fields += header_fields(headers)
    req = flow.request
    req.headers = http.Headers(fields)
    # set the target's parts directly: the `url` setter re-parses the URL and rewrites Host on every request
    verb = b"POST" if method == "POST" else method.encode()
    req.data.method, req.data.scheme, req.data.host, req.data.port, req.data.path = (
        verb, b"http", via[0], via[1], target.path
    )
    req.raw_content = body  # identity-encoded, length set above


def _forward_client_headers(flow: http.HTTPFlow, names: tuple[str, ...], into: dict[str, str]) -> None:
    for name in names:
        if value := flow.request.headers.get(name):
            into[name] = value


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: bytes
    host: str
    port: int
    path: bytes
    authority: bytes  # the Host header


@functools.lru_cache(maxsize=512)
def _target(url: str) -> _Target:
    """An upstream URL split once (there are only as many as providers x protocols)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")  # e.g. Gemini's ?alt=sse
    return _Target(parts.scheme.encode(), parts.hostname or "", port, path.encode(), parts.netloc.encode())


# upstream header -> the name it is handed on under
_PASSED_HEADERS = {b"x-request-id": "x-request-id", b"request-id": "x-request-id", b"retry-after": "retry-after"}


def _passed_headers(upstream: http.Headers, exchange: Exchange) -> dict[str, str]:
    """The few upstream headers worth handing on, plus where the answer came from."""
    headers = {
        "x-llm-bridge-provider": exchange.route.provider.name,
        "x-llm-bridge-upstream-model": exchange.route.upstream_model,
    }
    for name, value in upstream.fields:  # one pass over the raw fields
        passed = _PASSED_HEADERS.get(name.lower())
        if passed is not None:
            headers.setdefault(passed, value.decode("latin-1"))
    return headers


def _tag_proxied(headers: dict[str, str], context, upstream_headers: http.Headers | None = None) -> None:
    """Proxied answers carry the bridge's request id; the upstream's own id moves aside."""
    upstream_id = headers.get("x-request-id") or (upstream_headers.get("x-request-id") if upstream_headers else None)
    if upstream_id and upstream_id != context.request_id:
        headers["x-upstream-request-id"] = upstream_id
    headers[REQUEST_ID_HEADER] = context.request_id


def _kept_headers(headers: http.Headers) -> dict[str, str]:
    return {name: headers[name] for name in ("retry-after", "x-request-id", "request-id") if name in headers}


def _replace(flow: http.HTTPFlow, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
    fields = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    fields += header_fields(extra)
    flow.response.status_code = status
    flow.response.reason = b""
    flow.response.headers = http.Headers(fields)
    flow.response.raw_content = body


def _json_response(status: int, body: bytes, extra: dict[str, str] | None = None) -> http.Response:
    headers = {"content-type": "application/json", **(extra or {})}
    return http.Response.make(status, body, header_fields(headers))


def _no_sdk_retry(error: BridgeError) -> dict[str, str]:
    """The bridge already tried every attempt: the official SDKs honour x-should-retry and stop."""
    return {"x-should-retry": "false"} if error.code == "RETRY_EXHAUSTED" else {}


def answer_error(flow: http.HTTPFlow, client: ClientCodec, error: BridgeError, extra: dict[str, str] | None = None) -> None:
    status, body = client.encode_error(error)
    extra = {**(extra or {}), **_no_sdk_retry(error)}
    if error.retry_after:
        extra["retry-after"] = error.retry_after
    if flow.response is None:
        flow.response = _json_response(status, body, extra)
    else:
        _replace(flow, status, body, "application/json", extra)
    log.info(f"llm-bridge: {status} {error.kind}: {error.message}")


def _stream_error_bytes(encoder, exc: Exception) -> bytes:
    log.error(f"llm-bridge: stream translation failed: {exc!r}")
    error = BridgeError("api_error", f"llm-bridge failed while streaming: {describe_failure(exc)}.")
    return encoder.encode(StreamFailed(error)) + encoder.close()
