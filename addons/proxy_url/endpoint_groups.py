"""Which endpoint group a proxied call belongs to, and whether the bridge serves it
by translating, by passing it through, or not at all.

Groups: chat (every protocol's model call), models (the model list),
count_tokens, embeddings. The rule, after the UAIPB docs: chat is translated
in `auto` and `translate` mode (same protocol on both sides is a passthrough,
which is the same answer without the round trip) and passed through in
`passthrough` mode only when client and upstream speak the same protocol. The
other groups pass through natively in `auto` and `passthrough` mode when the
wire formats match and the provider has the endpoint; `translate` (and `auto`
as the fallback) serves models and count_tokens locally. Anything else is
UNSUPPORTED_ENDPOINT naming the group and the provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from addons.client_paths import CHAT_PATHS
from addons.presets.catalog import WIRE_FAMILY, CatalogEntry
from transforms.gemini import endpoint as gemini_endpoint
LOCALLY_SERVED = frozenset({"models", "count_tokens"})  # a list or an estimate the bridge can give itself


@dataclass(frozen=True, slots=True)
class Endpoint:
    group: str
    client_protocol: str  # chat: the exact protocol; other groups: the wire family (openai, anthropic, gemini)
    gemini_model: str | None = None  # Gemini paths name the model


class Unsupported(Exception):
    def __init__(self, group: str | None, message: str) -> None:
        super().__init__(message)
        self.group = group
        self.message = message


def classify(method: str, path: str, headers) -> Endpoint:
    """`path` is the part after the token, without the query string."""
    protocol = CHAT_PATHS.get(path)
    if protocol is not None and method == "POST":
        return Endpoint("chat", protocol)
    if path in ("/v1/messages/count_tokens",) and method == "POST":
        return Endpoint("count_tokens", "anthropic")
    if path in ("/v1/embeddings", "/embeddings") and method == "POST":
        return Endpoint("embeddings", "openai")
    if path in ("/v1/models", "/models") and method == "GET":
        anthropic = "anthropic-version" in headers or "x-api-key" in headers
        return Endpoint("models", "anthropic" if anthropic else "openai")
    if path == "/v1beta/models" and method == "GET":
        return Endpoint("models", "gemini")
    if method == "POST" and gemini_endpoint.client_url_fields(path) is not None:
        return Endpoint("chat", "gemini")
    model, _, action = path.rpartition(":")
    if method == "POST" and model.startswith(("/v1beta/models/", "/v1/models/")):
        name = model.split("/models/", 1)[1]
        if action in ("embedContent", "batchEmbedContents"):
            return Endpoint("embeddings", "gemini", name)
        if action == "countTokens":
            return Endpoint("count_tokens", "gemini", name)
    raise Unsupported(None, f"There is no endpoint at {method} {path} behind a proxy URL. Served: POST /v1/chat/completions, "
                            "/v1/responses, /v1/messages, /v1/messages/count_tokens, /v1/embeddings, Gemini's "
                            "models/<m>:generateContent|streamGenerateContent|embedContent|countTokens, and GET /v1/models.")


def decide(endpoint: Endpoint, entry: CatalogEntry, upstream_protocol: str, mode: str, provider: str) -> str:
    """'translate' or 'passthrough', or Unsupported with a message a person can act on."""
    group = endpoint.group
    if group == "chat":
        same = endpoint.client_protocol == upstream_protocol
        if mode == "passthrough" and not same:
            raise Unsupported(group, f"chat passthrough needs a client speaking {upstream_protocol}, the protocol of "
                                     f"provider '{provider}'; this client speaks {endpoint.client_protocol}. "
                                     "Generate the URL with endpoints.mode 'auto' or 'translate' to have it translated.")
        return "passthrough" if same else "translate"
    support = entry.endpoint_support.get(group, "unsupported")
    compatible = endpoint.client_protocol == WIRE_FAMILY.get(upstream_protocol)
    native = compatible and support == "passthrough"
    local = group in LOCALLY_SERVED and support != "unsupported"
    if mode in ("auto", "passthrough") and native:
        return "passthrough"
    if mode in ("auto", "translate") and local:
        return "translate"
    raise Unsupported(group, _why_unsupported(group, support, compatible, endpoint, upstream_protocol, mode, provider))


def _why_unsupported(group, support, compatible, endpoint, upstream_protocol, mode, provider) -> str:
    if support == "unsupported":
        return f"{group} is not available: provider '{provider}' has no {group} endpoint."
    if group not in LOCALLY_SERVED:
        if mode == "translate":
            return (f"{group} requires native passthrough ({group} are never translated) to provider '{provider}'; "
                    "generate the URL with endpoints.mode 'auto' or 'passthrough'.")
        return (f"{group} requires native passthrough: the client speaks {endpoint.client_protocol}, provider "
                f"'{provider}' speaks {upstream_protocol}.")
    if mode == "passthrough":
        reason = (f" (provider '{provider}' has no native {group} endpoint)" if compatible
                  else f" (the client speaks {endpoint.client_protocol}, provider '{provider}' speaks {upstream_protocol})")
        return f"{group} cannot pass through natively{reason}; generate the URL with endpoints.mode 'auto' or 'translate'."
    return f"{group} is not available for provider '{provider}'."
