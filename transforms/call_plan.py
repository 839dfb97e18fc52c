"""The plan of one upstream call, pure: what is sent where, and how the answer is read.

Every entry point (bridge.toml models, `<provider>/<model>`, routes, dynamic
routes, proxy URLs, count_tokens, model lists, embeddings) builds a `CallPlan`
and hands it, with the provider's credential, to the one sender
(`addons/upstream/calls.py`). The plan holds no credential: authentication is
added by the sender, outside the flow, per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from transforms.codecs import PASSTHROUGHS, ClientCodec, UpstreamCodec
from transforms.ir import ChatRequest
from transforms.translation import Translation, is_passthrough, upstream_body
from transforms.upstream_options import UpstreamOptions


@dataclass(frozen=True, slots=True)
class CallPlan:
    method: str
    url: str
    headers: dict[str, str]  # the protocol's own headers and the configured ones; never a credential
    body: bytes
    accept: bytes  # text/event-stream for a streamed answer, else application/json
    translation: Translation | None  # None: the answer goes to the client as it comes (a native call)
    queue_probe: Callable[[], object] | None = None  # the upstream codec's (Trae): a queued answer is sent again

    @property
    def passthrough(self) -> bool:
        return self.translation is None or self.translation.passthrough


def plan_chat_call(client: ClientCodec, upstream: UpstreamCodec, request: ChatRequest, client_body: dict, *,
                   base_url: str, upstream_model: str, options: UpstreamOptions, provider: str, created: int,
                   client_headers: Mapping[str, str] | None = None, extra_headers: Iterable[tuple[str, str]] = ()) -> CallPlan:
    """A client's model call for `upstream`: translated, or passed through when both sides speak one protocol.
    `client_headers`: the client's headers a passthrough honours (anthropic-beta ...) are taken from them;
    `extra_headers`: the preset's and the configuration's, added last."""
    body = upstream_body(client, upstream, request, client_body, upstream_model=upstream_model, options=options)
    headers = upstream.headers(None)
    if is_passthrough(client, upstream):
        _forward(client_headers, PASSTHROUGHS[client.name].forwarded_client_headers, headers)
    headers.update(extra_headers)
    return CallPlan(
        "POST", upstream.url(base_url, upstream_model, request.stream, options), headers, body,
        b"text/event-stream" if request.stream else b"application/json",
        Translation(client, upstream, request, client_body, created, provider), upstream.queue_probe,
    )


def plan_native_call(upstream: UpstreamCodec, url: str, body: bytes, *, method: str = "POST",
                     client_headers: Mapping[str, str] | None = None, forwarded: tuple[str, ...] = (),
                     extra_headers: Iterable[tuple[str, str]] = ()) -> CallPlan:
    """A call the client's wire format already matches (count_tokens, model lists, embeddings): only the
    model (in `body` or `url`) and the credential change; the answer goes back as it comes."""
    headers = upstream.headers(None)
    _forward(client_headers, forwarded, headers)
    headers.update(extra_headers)
    return CallPlan(method, url, headers, body, b"application/json", None, upstream.queue_probe)


def _forward(client_headers: Mapping[str, str] | None, names: tuple[str, ...], into: dict[str, str]) -> None:
    for name in names if client_headers is not None else ():
        if value := client_headers.get(name):
            into[name] = value
