"""Dynamic routes (seed 4): the upstream named in the request path.

    POST /<scheme>/<host[:port]>/<base path...>/<model>/v1/messages

sends an Anthropic Messages request, translated, to
`<scheme>://<host>/<base path>/chat/completions` with `model`, and the
client's `x-api-key` as the upstream's `Authorization: Bearer` key. A model id
containing `/` is written with `%2F` (`meta-llama%2FLlama-3.3-70B`).

Off unless `[dynamic_routes] enabled = true`; then only hosts in
`allow_hosts`, and never private, loopback or link-local addresses unless
`allow_private_networks` (the resolved addresses count, not just a literal).
The request goes to the exact address that was checked, with the host name
kept for Host and TLS SNI, so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from addons.config import ProviderConfig
from addons.model_router import Destination
from transforms.upstream_options import UpstreamOptions

# scheme, host[:port], base path (may be empty), model; the query string is stripped before matching
DYNAMIC_PATH = re.compile(r"^/(?P<scheme>https?)/(?P<authority>[^/]+)/(?:(?P<base>.*)/)?(?P<model>[^/]+)/v1/messages$")


@dataclass(frozen=True, slots=True)
class DynamicUpstream:
    scheme: str
    host: str
    port: int
    base_path: str  # "/openai/v1", or "" for the host's root
    model: str

    @property
    def authority(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_dynamic_path(path: str) -> DynamicUpstream | None:
    found = DYNAMIC_PATH.match(path)
    if found is None:
        return None
    scheme, authority = found["scheme"], found["authority"]
    if authority.startswith("["):  # an IPv6 literal: [::1] or [::1]:8080
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    port = int(port_text) if port_text.isdigit() else {"http": 80, "https": 443}[scheme]
    base = found["base"] or ""
    return DynamicUpstream(scheme, host, port, f"/{base}" if base else "", unquote(found["model"]))


def dynamic_destination(target: DynamicUpstream, client_key: str | None, connect_address: str | None = None) -> Destination:
    # Built without validation on purpose: a client's key must never go through the
    # config's "env:VAR" resolution, which would hand the bridge's own secrets out.
    provider = ProviderConfig.model_construct(
        name="dynamic", protocol="openai-chat", base_url=f"{target.scheme}://{target.authority}{target.base_path}",
        api_key=client_key or None, max_tokens=None, max_output_tokens=None, quirks=[],
    )
    return Destination(provider, target.model, UpstreamOptions(), connect_address=connect_address)
