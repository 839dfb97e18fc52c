"""A client's call, from its path to the upstream call that serves it.

`ModelCalls` is the request side of every entry point: the bridge's own paths
(bridge.toml models, `<provider>/<model>`, routes), dynamic routes, and proxy
URLs (`addons/proxy_url/serve.py` calls `chat` and `native`). Each resolves
where the call goes (a `Destination`), plans it (`transforms/call_plan.py`),
picks its credential (`addons/credentials/credential.py`) and hands both to
`UpstreamCalls.dispatch`, the one way a call is sent. Model lists and token
estimates are answered here, locally.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import orjson
from mitmproxy import http

from addons.answers import METADATA_KEY, json_response
from addons.compaction import Compaction
from addons.credentials.credential import credential_for
from addons.credentials.key_pool import KeyPool
from addons.dynamic_routes import DynamicUpstream, dynamic_destination, parse_dynamic_path
from addons.guards.client_auth import is_authorized, presented_token
from addons.host_policy import HostPolicy, HostRefused, check_destination
from addons.model_discovery import ModelDiscovery
from addons.model_list import list_family, model_list
from addons.model_router import Destination, destination_for
from addons.output_items import OutputItems
from addons.presets import preset_module
from addons.recording.redact import redacted_header_pairs, redacted_path
from addons.settings import BridgeSettings
from addons.streaming import StreamTap
from addons.upstream.calls import UpstreamCalls
from transforms.call_plan import CallPlan, plan_chat_call, plan_native_call
from transforms.codecs import CLIENT_CODECS, PASSTHROUGHS, UPSTREAM_CODECS, ClientCodec
from transforms.errors import BridgeError, describe_failure, invalid
from transforms.ir import ChatRequest
from transforms.openai_responses.compaction import CompactionInput, compact_url, summary_request
from transforms.passthrough import with_model
from transforms.prompt_cache import conversation_key
from transforms.token_estimate import estimate_input_tokens
from transforms.translation import Translation, is_passthrough, parse_request_body
from transforms.translation import client_body as client_body_for

log = logging.getLogger(__name__)

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MODELS_PATHS = frozenset({"/v1/models", "/models", "/v1beta/models"})
SERVED = ("POST /v1/chat/completions, POST /v1/responses (and /v1/responses/compact), POST /v1/messages, "
          "POST /v1/messages/count_tokens and GET /v1/models")
NO_TOKEN = ("Missing or invalid bridge token: send 'Authorization: Bearer <token>' with a token from "
            "[server] auth_tokens.")


@dataclass(slots=True)
class InFlightCall:
    """A translated call waiting for its answer: how to translate it, and where it went."""

    translation: Translation
    destination: Destination
    tap: StreamTap | None = None  # the stream's bytes, both sides, when flows are kept (FlowKeeping)
    translator: object | None = None  # the answer's stream translator, once it streams (its `finished` event)


class ModelCalls:
    def __init__(self, settings: BridgeSettings, upstream: UpstreamCalls, *,
                 client_headers: Callable[[http.HTTPFlow], Mapping[str, str]],
                 keep_streams: Callable[[], int | None] = lambda: None, resolve=None,
                 url_secrets: Callable[[], Sequence[str]] = tuple) -> None:
        self.settings = settings
        self.upstream = upstream
        self.discovery = ModelDiscovery(settings, upstream)  # the models providers list themselves
        # recent answers' output items, for Responses clients' item_reference (shared by workers through Redis)
        self.items = OutputItems(shared=lambda: settings.state.items)
        self.compaction = Compaction(upstream, url_secrets)  # Responses compaction for upstreams of other protocols
        self._client_headers = client_headers  # a flow's request headers, with secrets a visible flow had taken out
        self._keep_streams = keep_streams  # bytes of each side of a stream to keep in the flow, or None
        self._resolve = resolve  # a DNS resolver for dynamic routes (tests inject one)

    # --- entry points ---------------------------------------------------------

    async def serve(self, flow: http.HTTPFlow, bare_path: str, protocol: str | None, *,
                    replayed: bool = False) -> InFlightCall | None:
        """A call to one of the bridge's own paths, or to a dynamic route when those are enabled.
        `replayed`: mitmweb's Replay of a bridged flow (its owner's, the saved client request's secrets redacted)."""
        upstream = self._dynamic_upstream(bare_path)
        if upstream is not None:
            return await self._dynamic(flow, upstream)
        return await self.chat(flow, bare_path, protocol, authorized=replayed)

    async def chat(self, flow: http.HTTPFlow, path: str, protocol: str | None, *,
                   resolve: Callable[[str], Destination] | None = None,
                   key_pool: KeyPool | None = None, authorized: bool = False) -> InFlightCall | None:
        """`resolve` (client model -> destination) and `key_pool` are given by dynamic routes and proxy URLs,
        which authorize their callers themselves. None: answered locally (a model list, a token estimate)."""
        if not (authorized or resolve is not None or is_authorized(self._client_headers(flow),
                                                                   self.settings.config.server.auth_tokens)):
            raise BridgeError("authentication", NO_TOKEN)
        if path in MODELS_PATHS and flow.request.method == "GET":
            family = list_family(path, flow.request.headers)
            listed = await model_list(self.settings, self.discovery, family, flow.request.query)
            flow.response = json_response(200, orjson.dumps(listed))
            return None
        if path == COUNT_TOKENS_PATH and flow.request.method == "POST":
            await self._count_tokens(flow)
            return None
        if protocol is None or flow.request.method != "POST":
            raise BridgeError("not_found", f"llm-bridge serves {SERVED}; there is nothing at {flow.request.method} {path}.")
        client = CLIENT_CODECS[protocol]

        raw_body = flow.request.content or b""  # (decoded once: the getter re-checks encodings per call)
        client_body = client_body_for(client, flow.request.path, parse_request_body(raw_body))
        if client.resolve_references is not None:
            await self.items.load(client.reference_ids(client_body))  # (from the other workers: items not held here)
            client_body = client.resolve_references(client_body, self.items.get)
        compaction = None
        if client.read_compaction is not None:  # the bridge's compaction items opened; /compact, compaction_trigger
            compaction = client.read_compaction(path, client_body, self.compaction.open_summary)
            client_body = compaction.body
        client.check_request(client_body)  # before anything is resolved, logged or sent: a 400 naming the field
        request = decoded(client, client_body)
        destination = resolve(request.model) if resolve is not None else await self._destination(request.model)
        if compaction is not None and compaction.task is not None and await self._compact(
                flow, client, compaction, request, destination, key_pool):
            return None
        thinking = request.reasoning_effort not in (None, "none")
        plan = plan_chat_call(
            client, UPSTREAM_CODECS[destination.protocol], request, client_body,
            base_url=destination.base_url, upstream_model=destination.upstream_model, options=destination.options,
            provider=destination.provider.name, created=int(time.time()), client_headers=flow.request.headers,
            extra_headers=self._extra_headers(flow, destination, thinking=thinking, stream=request.stream),
        )
        if not plan.passthrough:
            client.unresolved_references(client_body)  # a Responses upstream resolves its own; no other can
        if request.dropped:  # (the decoder's and the upstream encoder's)
            log.info(f"llm-bridge: dropped what {destination.provider.name} cannot run: {', '.join(request.dropped)}")
        _describe(flow, plan, destination, raw_body)
        keep = self._keep_streams()
        call = InFlightCall(plan.translation, destination, StreamTap(keep) if keep is not None else None)
        await self._dispatch(flow, plan, destination, key_pool, affinity=conversation_of(flow, request))
        return call

    async def native(self, flow: http.HTTPFlow, destination: Destination, url: str, body: bytes, *,
                     method: str = "POST", forwarded: tuple[str, ...] = (), key_pool: KeyPool | None = None) -> None:
        """A call in the client's own wire format (count_tokens, model lists, embeddings): only the model
        and the credential change, and the answer goes back as it comes."""
        plan = plan_native_call(UPSTREAM_CODECS[destination.protocol], url, body, method=method,
                                client_headers=flow.request.headers, forwarded=forwarded,
                                extra_headers=self._extra_headers(flow, destination))
        await self._dispatch(flow, plan, destination, key_pool)

    # --- the parts ------------------------------------------------------------

    async def _dispatch(self, flow: http.HTTPFlow, plan: CallPlan, destination: Destination,
                        key_pool: KeyPool | None, affinity: str | None = None) -> None:
        await self.upstream.dispatch(flow, plan, self._credential(flow, destination, key_pool, affinity),
                                     provider=destination.provider.name, connect_address=destination.connect_address)

    def _credential(self, flow: http.HTTPFlow, destination: Destination, key_pool: KeyPool | None,
                    affinity: str | None = None):
        config = self.settings.config
        return credential_for(
            destination.provider, destination.protocol, refreshed=self.settings.credentials,
            pools=self.settings.key_pools, client_headers=self._client_headers(flow),
            bridge_has_tokens=bool(config.server.auth_tokens), key_pool=key_pool, affinity=affinity)

    async def _compact(self, flow: http.HTTPFlow, client: ClientCodec, compaction: CompactionInput,
                       request: ChatRequest, destination: Destination, key_pool: KeyPool | None) -> bool:
        """POST /responses/compact or a compaction_trigger. A Responses upstream compacts itself (/compact goes
        to its own endpoint; a trigger goes as any call: False); for any other the bridge asks the model for a
        summary and answers with its compaction item (addons/compaction.py)."""
        upstream = UPSTREAM_CODECS[destination.protocol]
        model = destination.upstream_model
        if is_passthrough(client, upstream):
            if compaction.task != "compact":
                return False
            url = compact_url(upstream.url(destination.base_url, model, False, destination.options))
            await self.native(flow, destination, url, with_model(compaction.body, upstream_model=model), key_pool=key_pool)
            return True
        client.unresolved_references(compaction.body)  # references and foreign compaction items: a 400 naming them
        thinking = request.reasoning_effort not in (None, "none")
        plan = plan_chat_call(
            client, upstream, summary_request(request), compaction.body, base_url=destination.base_url,
            upstream_model=model, options=destination.options, provider=destination.provider.name,
            created=int(time.time()), client_headers=flow.request.headers,
            extra_headers=self._extra_headers(flow, destination, thinking=thinking))
        credential = self._credential(flow, destination, key_pool, conversation_of(flow, request))  # (its key)
        item = await self.compaction.answer(flow, compaction, request, plan, credential, destination)
        self.items.remember([item])  # (an item_reference may name it)
        return True

    def answered(self, call: InFlightCall, answer: object) -> None:
        """A translated answer was sent (its body, or its finished stream's encoder): keep what a later
        request may refer to."""
        translation = call.translation
        if translation.client.output_items is not None and not translation.passthrough:
            self.items.remember(translation.client.output_items(answer))

    def _extra_headers(self, flow: http.HTTPFlow, destination: Destination, *, thinking: bool = False,
                       stream: bool = False) -> dict[str, str]:
        """The preset's per-request headers, then the configured ones."""
        headers: dict[str, str] = {}
        preset = preset_module(destination.provider.preset)
        if preset is not None and hasattr(preset, "request_headers"):
            headers.update(preset.request_headers(destination.protocol, flow.request.headers, thinking=thinking,
                                                  stream=stream))
        headers.update(destination.headers)
        return headers

    def _dynamic_upstream(self, bare_path: str) -> DynamicUpstream | None:
        if not self.settings.config.dynamic_routes.enabled:
            return None
        return parse_dynamic_path(bare_path)

    async def _dynamic(self, flow: http.HTTPFlow, upstream: DynamicUpstream) -> InFlightCall | None:
        config = self.settings.config
        client_headers = self._client_headers(flow)
        if not is_authorized(client_headers, config.server.auth_tokens):
            raise BridgeError("authentication", NO_TOKEN)
        policy = HostPolicy(tuple(config.dynamic_routes.allow_hosts), config.dynamic_routes.allow_private_networks)
        try:
            kwargs = {"resolve": self._resolve} if self._resolve else {}
            addresses = await check_destination(policy, upstream.scheme, upstream.host, upstream.port, **kwargs)
        except HostRefused as refused:
            raise BridgeError("permission", f"Dynamic route refused: {refused.reason}") from None
        # the upstream's key is the client's x-api-key (or its bearer token when the bridge has no tokens of its own)
        key = client_headers.get("x-api-key") or (None if config.server.auth_tokens else presented_token(client_headers))
        destination = dynamic_destination(upstream, key, connect_address=addresses[0])  # exactly the address checked
        return await self.chat(flow, flow.request.path.split("?", 1)[0], "anthropic", resolve=lambda _model: destination)

    async def _count_tokens(self, flow: http.HTTPFlow) -> None:
        """Anthropic's count_tokens: forwarded to an upstream that counts (Anthropic), else a local estimate;
        a model the bridge does not serve is a 404 naming the configured models."""
        client = CLIENT_CODECS["anthropic"]
        body = parse_request_body(flow.request.content or b"")
        counted = dict(body, max_tokens=body.get("max_tokens") or 1)  # count_tokens takes no max_tokens
        client.check_request(counted)
        request = decoded(client, counted)
        destination = await self._destination(request.model)  # an unknown model is a 404, as on every endpoint
        upstream = UPSTREAM_CODECS[destination.protocol]
        if upstream.counts_tokens is not None:
            payload = orjson.dumps({**body, "model": destination.upstream_model})
            await self.native(flow, destination, upstream.counts_tokens(destination.base_url), payload,
                              forwarded=PASSTHROUGHS[client.name].forwarded_client_headers)
            return
        flow.response = json_response(200, orjson.dumps({"input_tokens": estimate_input_tokens(request)}),
                                      {"x-llm-bridge-token-count": "estimate"})

    async def _destination(self, model: str) -> Destination:
        """Where a client's model goes: a [[models]] id, `<provider>/<model>` or a [[routes]] pattern, else a
        model some provider lists itself (its bare name, as Claude Code and the SDKs' examples send it)."""
        destination = self.settings.router.resolve(model)
        if destination is not None:
            return destination
        provider = await self.discovery.provider_of(model)
        if provider is not None:
            return destination_for(provider, model)
        return self._resolve_model(model)

    def _resolve_model(self, model: str) -> Destination:
        router = self.settings.router
        destination = router.resolve(model)
        if destination is not None:
            return destination
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


def decoded(client: ClientCodec, client_body: dict) -> ChatRequest:
    """The client's request in neutral terms; a shape its API does not define is the client's 400
    (a 500 would make its SDK retry a request that cannot succeed)."""
    try:
        return client.decode_request(client_body)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        log.info(f"llm-bridge: unreadable {client.name} request: {exc!r}")
        raise invalid(f"The request does not have the shape the {client.name} API defines: {describe_failure(exc)}.") from None


def _describe(flow: http.HTTPFlow, plan: CallPlan, destination: Destination, raw_body: bytes) -> None:
    """What recordings and replays keep of the call (flow.metadata is saved with the flow: no secret here)."""
    translation = plan.translation
    options = destination.options
    flow.metadata[METADATA_KEY] = {
        "client_protocol": translation.client.name,
        "client_request": {
            "method": flow.request.method,
            "path": redacted_path(flow.request.path),  # (Gemini clients may put their key in ?key=)
            "headers": redacted_header_pairs(flow.request.headers),
            "body": raw_body,
        },
        "provider": destination.provider.name,
        "upstream_protocol": translation.upstream.name,
        "upstream_model": destination.upstream_model,
        "upstream_url": plan.url,  # (no secret: credentials ride in headers, added by the relay)
        "created": translation.created,
        "upstream_options": {
            "max_tokens": options.max_tokens,
            "max_output_tokens": options.max_output_tokens,
            "quirks": sorted(options.quirks),
            "api_version": options.api_version,
            "prompt_cache": options.prompt_cache,
            "cache_ttl_s": options.cache_ttl_s,
        },
    }


# The headers clients name their session in (opencode sends both; others may): preferred to a name derived
# from the conversation, since a client's session survives an edited first message.
SESSION_HEADERS = ("x-session-affinity", "x-session-id", "session_id", "session-id")


def conversation_of(flow: http.HTTPFlow, request: ChatRequest) -> str:
    """The name of the conversation a call belongs to, for session affinity: the client's session header, its
    prompt_cache_key, else a hash of how the conversation began (transforms/prompt_cache.py)."""
    headers = flow.request.headers
    session = next((headers[name] for name in SESSION_HEADERS if headers.get(name)), None)
    return session or request.prompt_cache_key or conversation_key(request)
