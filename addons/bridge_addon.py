"""The `Bridge` addon: mitmproxy's hooks, and nothing else.

    request          a /proxy/ call, a dynamic route or one of the bridge's own paths: `ModelCalls` plans
                     it and `UpstreamCalls` hands it to the relay, or it is answered locally
    responseheaders  a streamed answer gets its translator (`Translation.stream`) as the flow's stream callable
    response         a whole answer (or error) is translated; the relay's own failures get the client's envelope
    error            the flow's state is dropped

Anything unexpected fails closed: the client gets an error in its own protocol
and nothing is forwarded. What the bridge holds for a flow is one `FlowState`,
kept in a WeakKeyDictionary: it cannot outlive its flow, whatever hooks ran.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

from mitmproxy import http

from addons.answers import (METADATA_KEY, answer_error, kept_headers, passed_headers, replace_answer,
                            stream_error_bytes)
from addons.client_paths import chat_protocol, envelope_protocol
from addons.model_calls import InFlightCall, ModelCalls
from addons.proxy_url import serve as proxied
from addons.proxy_url.api import PROXY_PREFIX, REQUEST_ID_HEADER, docs_url, new_request_id
from addons.proxy_url.endpoint_groups import Unsupported, classify, decide
from addons.proxy_url.errors import ProxyFailure
from addons.recording.client_secrets import StashedHeaders, take_secrets
from addons.recording.redact import redacted_header_pairs
from addons.settings import BridgeSettings
from addons.streaming import prepare_stream_headers, stream_callable
from addons.upstream.calls import UpstreamCalls, show_provider
from addons.upstream.relay import ATTEMPTS_HEADER, KEY_ID_HEADER, RELAY_ERROR_HEADER, UpstreamRelay, relay_error
from transforms.codecs import CLIENT_CODECS
from transforms.errors import BridgeError, describe_failure
from transforms.json_body import MAX_DEPTH, too_deep

log = logging.getLogger(__name__)

INTERNAL_FAILURE = BridgeError("api_error", "llm-bridge failed to handle the request: an internal error (the bridge's log "
                                            "has the details). Nothing was sent upstream.")


@dataclass(slots=True)
class FlowState:
    """What the bridge holds for one flow while it is in flight (never in flow.metadata, which is saved)."""

    call: InFlightCall | None = None  # a translated call waiting for its answer
    proxy: proxied.ProxyContext | None = None  # a /proxy/ call: whose envelope, what to name in errors
    client_secrets: dict[str, str] | None = None  # taken out of a visible flow's request


class Bridge:
    def __init__(self, settings: BridgeSettings, *, relay: UpstreamRelay | None = None, keep_streams=lambda: None,
                 resolve=None, flows_visible=lambda: False, proxy_urls=None) -> None:
        self.settings = settings
        self.proxy_urls = proxy_urls  # opens /proxy/{token}/... URLs (None: not served)
        self.relay = relay or UpstreamRelay()
        self.upstream = UpstreamCalls(self.relay, settings)
        self.calls = ModelCalls(settings, self.upstream, client_headers=self._client_headers,
                                keep_streams=keep_streams, resolve=resolve, url_secrets=self._url_secrets)
        self._flows: weakref.WeakKeyDictionary[http.HTTPFlow, FlowState] = weakref.WeakKeyDictionary()
        self._flows_visible = flows_visible  # mitmweb, -w or header-level dump: no secret may sit in a flow

    async def running(self) -> None:
        await self.relay.start()

    def done(self) -> None:
        self.relay.close()

    def _state(self, flow: http.HTTPFlow) -> FlowState:
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

    def _url_secrets(self) -> tuple[str, ...]:
        """The proxy-URL secrets as configured now (compaction items are sealed under a key derived from them)."""
        sealer = self.proxy_urls.sealer if self.proxy_urls is not None else None
        return tuple(sealer.secrets) if sealer is not None else ()

    def _client_headers(self, flow: http.HTTPFlow):
        secrets = self._peek(flow, "client_secrets")
        return flow.request.headers if secrets is None else StashedHeaders(secrets, flow.request.headers)

    # --- request ------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self._flows_visible():
            self._state(flow).client_secrets = take_secrets(flow.request)

    async def request(self, flow: http.HTTPFlow) -> None:
        if not flow.live:
            self._loaded(flow)
            return
        if flow.response is not None or flow.request.stream:
            return  # answered, or refused by the guard with its body discarded
        replayed = flow.is_replay == "request"
        if replayed and not self._replaying(flow):
            return  # not a bridged flow: mitmproxy replays it as it is
        if self.proxy_urls is not None and self.proxy_urls.answered(flow):
            return
        bare_path = flow.request.path.split("?", 1)[0]
        if self.proxy_urls is not None and bare_path.startswith(PROXY_PREFIX):
            await self._request_proxied(flow, bare_path)
            return
        protocol = chat_protocol(bare_path)  # the path is classified once per request
        client = CLIENT_CODECS[envelope_protocol(bare_path, protocol)]
        try:
            self._state(flow).call = await self.calls.serve(flow, bare_path, protocol, replayed=replayed)
        except BridgeError as error:
            self._ended(flow)
            answer_error(flow, client, error)
        except RecursionError:  # a body nested deeper than the translation can walk
            self._ended(flow)
            answer_error(flow, client, too_deep(f"deeper than {MAX_DEPTH} levels"))
        except Exception:  # noqa: BLE001 - fail closed: never forward what could not be translated
            log.exception("llm-bridge: routing failed")
            self._ended(flow)
            answer_error(flow, client, INTERNAL_FAILURE)

    def _loaded(self, flow: http.HTTPFlow) -> None:
        """A flow read from a file (`mitmweb -r`): nothing is sent. mitmproxy points a loaded flow at the
        reverse listener's target; a bridged one goes back to the provider's URL it was sent to."""
        meta = flow.metadata.get(METADATA_KEY)
        url = meta.get("upstream_url") if isinstance(meta, dict) else None
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            show_provider(flow, url)

    def _replaying(self, flow: http.HTTPFlow) -> bool:
        """mitmweb's Replay of a bridged flow: the exchange runs again from the client's request as it was
        saved, through the bridge with the current code and config. True when the flow now holds that request."""
        meta = flow.metadata.get(METADATA_KEY)
        if meta is None or "client_request" not in meta:
            return False
        if meta.get("proxy_url"):
            answer_error(flow, CLIENT_CODECS.get(meta.get("client_protocol"), CLIENT_CODECS["openai-chat"]), BridgeError(
                "invalid_request", "A proxy-URL exchange cannot be replayed: its token (which holds the provider's "
                                   "keys) is never kept in a flow. Send the request again through the URL.", status=400))
            return False
        saved = meta["client_request"]
        request = flow.request
        try:
            request.method = saved["method"]
            request.path = saved["path"]
            request.headers = http.Headers([(_bytes(k), _bytes(v)) for k, v in saved["headers"]
                                            if str(k).lower() not in ("content-encoding", "content-length")])
            request.content = saved["body"]
        except (KeyError, TypeError, ValueError) as exc:  # a flow saved by another version, or edited
            answer_error(flow, CLIENT_CODECS.get(meta.get("client_protocol"), CLIENT_CODECS["openai-chat"]), BridgeError(
                "invalid_request", f"This flow cannot be replayed: its saved client request is unreadable "
                                   f"({describe_failure(exc)}).", status=400))
            return False
        return True

    async def _request_proxied(self, flow: http.HTTPFlow, bare_path: str) -> None:
        """`/proxy/<token>/<upstream path>`: the token's configuration says where the call goes."""
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
            self._state(flow).call = await proxied.serve(self.calls, flow, target, endpoint, how, path)
            if METADATA_KEY in flow.metadata:
                flow.metadata[METADATA_KEY]["proxy_url"] = True  # never replayed: its token is not kept
        except Unsupported as refused:
            context.group = refused.group or context.group
            self._proxy_error(flow, context, ProxyFailure("UNSUPPORTED_ENDPOINT", refused.message).as_bridge_error())
        except ProxyFailure as failure:
            self._proxy_error(flow, context, failure.as_bridge_error())
        except BridgeError as error:
            self._proxy_error(flow, context, error, *proxied.request_error_code(error))
        except Exception:  # noqa: BLE001 - fail closed
            log.exception("llm-bridge: proxy routing failed")
            self._proxy_error(flow, context, BridgeError("api_error", INTERNAL_FAILURE.message, code="INTERNAL_ERROR"))

    def _proxy_error(self, flow: http.HTTPFlow, context: proxied.ProxyContext, error: BridgeError,
                     code: str | None = None, status: int | None = None) -> None:
        self._ended(flow)
        proxied.answer_proxy_error(flow, context, error, code, status)

    # --- response -------------------------------------------------------------

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        call = self._peek(flow, "call")
        response = flow.response
        self.upstream.answered(flow)  # from here on the flow shows the provider's URL
        attempts = response.headers.pop(ATTEMPTS_HEADER, None) if response is not None else None
        key_id = response.headers.pop(KEY_ID_HEADER, None) if response is not None else None
        if call is None or response is None:
            return
        meta = flow.metadata.get(METADATA_KEY)
        if meta is not None and attempts:
            meta["attempts"] = attempts  # "3; 503, 429": the attempts made and how the failed ones failed
        if meta is not None and key_id:
            meta["key_id"] = key_id  # which key answered, as an id (the usage ledger's)
        if RELAY_ERROR_HEADER in response.headers:
            return  # the relay's own failure: answered in `response`
        if meta is not None:
            meta["upstream_status"] = response.status_code
            meta["upstream_headers"] = redacted_header_pairs(response.headers)
        translation = call.translation
        framing = translation.streams(response.headers.get("content-type", "")) if 200 <= response.status_code < 300 else None
        if framing is None:
            return  # errors and whole bodies are translated in `response`
        try:
            translator = call.translator = translation.stream(json_array=framing == "json-array")
            encoder_for_errors = translation.client.stream_encoder(translation.request, created=translation.created)
            callable_ = stream_callable(
                translator,
                content_encoding=response.headers.get("content-encoding", ""),
                on_error=lambda exc: stream_error_bytes(encoder_for_errors, exc),
                tap=call.tap,
            )
        except Exception as exc:  # noqa: BLE001
            log.exception("llm-bridge: cannot stream this response")
            self._take(flow, "call")
            answer_error(flow, translation.client, BridgeError("api_error", f"llm-bridge cannot translate this stream: {describe_failure(exc)}."))
            return
        passed = passed_headers(response.headers, call.destination.provider.name, call.destination.upstream_model)
        context = self._peek(flow, "proxy")
        if context is not None:
            _tag_proxied(passed, context)
        prepare_stream_headers(flow, passed, translation.client.stream_content_type(translation.request))
        response.stream = callable_

    def response(self, flow: http.HTTPFlow) -> None:
        self.upstream.answered(flow)
        context = self._take(flow, "proxy")
        if context is not None:
            self._proxied_response(flow, context)
            return
        self._take(flow, "client_secrets")
        call = self._take(flow, "call")
        response = flow.response
        if response is not None and RELAY_ERROR_HEADER in response.headers and not response.stream:
            # else a native call: count_tokens, or a Responses upstream's own /responses/compact
            native = "openai-responses" if flow.request.path.split("?", 1)[0].endswith("/compact") else "anthropic"
            client = call.translation.client if call is not None else CLIENT_CODECS[native]
            answer_error(flow, client, relay_error(response.content or b"{}"))
            return
        if call is None or response is None:
            return
        meta = flow.metadata.get(METADATA_KEY, {})
        if response.stream:
            finished = getattr(call.translator, "finished", None)
            if finished is not None:
                meta["usage"] = _usage(finished.usage)
                self.calls.answered(call, call.translator.encoder)
            elif getattr(call.translator, "usage", None) is not None:  # a passthrough reads it on the way
                meta["usage"] = _usage(call.translator.usage)
            tap = call.tap
            if tap is not None:  # flows are kept: both sides of the stream, for mitmweb, -w files, recordings
                meta["upstream_chunks"], meta["client_chunks"] = tap.upstream, tap.client
                if tap.truncated:
                    meta["truncated"] = tap.truncated
                response.data.content = tap.client_body()  # the client's answer as sent (mitmweb shows, saves it)
            return
        meta["upstream_body"] = response.content
        translation = call.translation
        try:
            seen: dict = {}
            status, content_type, body = translation.answer(response.status_code, response.content or b"",
                                                            response.headers.get("retry-after"), seen)
            if "usage" in seen:
                meta["usage"] = _usage(seen["usage"])
            destination = call.destination
            if status == 200:
                self.calls.answered(call, body)
            replace_answer(flow, status, body, content_type,
                           passed_headers(response.headers, destination.provider.name, destination.upstream_model))
        except BridgeError as error:
            answer_error(flow, translation.client, error)
        except Exception as exc:  # noqa: BLE001
            log.exception("llm-bridge: response translation failed")
            answer_error(flow, translation.client, BridgeError(
                "api_error", f"llm-bridge could not translate the upstream response: {describe_failure(exc)}."))

    def _proxied_response(self, flow: http.HTTPFlow, context: proxied.ProxyContext) -> None:
        """A `/proxy/` answer: as any other, but errors carry the proxy envelope and every answer its request id."""
        self._take(flow, "client_secrets")
        call = self._peek(flow, "call")
        response = flow.response
        if response is None:
            self._ended(flow)
            return
        if REQUEST_ID_HEADER in response.headers and response.headers[REQUEST_ID_HEADER] == context.request_id:
            self._ended(flow)  # answered by the bridge itself (an error envelope already)
            return
        if RELAY_ERROR_HEADER in response.headers and not response.stream:
            self._proxy_error(flow, context, relay_error(response.content or b"{}"))
            return
        if call is not None and response.status_code >= 400 and not response.stream:
            self._take(flow, "call")
            translation = call.translation
            error = translation.upstream.decode_error(response.status_code, response.content or b"",
                                                      provider=translation.provider,
                                                      retry_after=response.headers.get("retry-after"))
            self._proxy_error(flow, context, error)
            return
        if call is not None:
            self.response(flow)  # the usual translation
        elif response.status_code >= 400 and not response.stream:  # a native passthrough's own error
            body = proxied.merge_native_error(context, response.status_code, response.content or b"",
                                              response.headers.get("retry-after"))
            replace_answer(flow, response.status_code, body, "application/json", kept_headers(response.headers))
        passed: dict[str, str] = {}
        _tag_proxied(passed, context, flow.response.headers)
        for name, value in passed.items():
            flow.response.headers[name] = value

    def error(self, flow: http.HTTPFlow) -> None:
        self._take(flow, "proxy")
        self._take(flow, "client_secrets")
        self._ended(flow)

    def _ended(self, flow: http.HTTPFlow) -> None:
        """Nothing upstream will answer this flow (any more): its call and registration are dropped."""
        self._take(flow, "call")
        self.upstream.answered(flow)


def _bytes(value) -> bytes:
    return str(value).encode("utf-8", "surrogateescape")


def _usage(usage) -> dict[str, int]:
    return {"input": usage.input_tokens, "output": usage.output_tokens,
            "cached": usage.cache_read_tokens, "cache_write": usage.cache_write_tokens}


def _tag_proxied(headers: dict[str, str], context, upstream_headers: http.Headers | None = None) -> None:
    """Proxied answers carry the bridge's request id; the upstream's own id moves aside."""
    upstream_id = headers.get("x-request-id") or (upstream_headers.get("x-request-id") if upstream_headers else None)
    if upstream_id and upstream_id != context.request_id:
        headers["x-upstream-request-id"] = upstream_id
    headers[REQUEST_ID_HEADER] = context.request_id
