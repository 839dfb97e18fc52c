"""The provider catalog: what each known upstream speaks, how it authenticates,
where it lives, and which endpoint groups it can serve.

One table feeds `GET /api/catalog`, the proxy-URL generator and
`preset = "groq"` in bridge.toml, so the three never disagree.

Endpoint support per group:
  translate    the bridge serves the group for a client of any protocol
               (chat: translated; models: listed; count_tokens: estimated locally)
  passthrough  the upstream has the endpoint natively; only a client speaking the
               same wire format can use it (forwarded as is, model resolved)
  unsupported  neither
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transforms.codecs import UPSTREAM_CODECS
from transforms.protocols import UPSTREAM_PROTOCOLS

GROUPS = ("chat", "models", "count_tokens", "embeddings")
AUTH_TYPES = ("bearer", "x-api-key", "azure", "aws", "none")
PROTOCOLS = UPSTREAM_PROTOCOLS


def _support(chat="translate", models="translate", count_tokens="translate", embeddings="unsupported") -> dict[str, str]:
    return {"chat": chat, "models": models, "count_tokens": count_tokens, "embeddings": embeddings}


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    name: str
    protocol: str
    auth_type: str
    default_base_url: str
    endpoint_support: dict[str, str]
    docs_url: str
    quirks: tuple[str, ...] = ()
    env_key: str | None = None  # the variable the provider's own tools read its key from
    # a proxy URL cannot keep rotating refresh tokens: such presets live in bridge.toml only
    url_capable: bool = True
    notes: tuple[str, ...] = field(default=())
    # the preset's table of models: what GET /v1/models lists for a provider whose upstream has no list
    # endpoint (Bedrock's runtime host, Azure's deployments) or whose list cannot be fetched
    models: tuple[str, ...] = ()

    def public(self) -> dict:
        """The `GET /api/catalog` entry."""
        return {
            "id": self.id, "name": self.name, "protocol": self.protocol, "authType": self.auth_type,
            "defaultBaseUrl": self.default_base_url, "endpointSupport": dict(self.endpoint_support),
            "docsUrl": self.docs_url, "proxyUrl": self.url_capable,
        }


# Bedrock's runtime host lists nothing (its model list is the control plane's, under other IAM rights): the
# cross-region inference profiles of the Claude models, which is how Bedrock serves Claude 4 and later.
BEDROCK_CLAUDE_MODELS = (
    "us.anthropic.claude-sonnet-4-6",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "global.anthropic.claude-opus-4-5-20251101-v1:0",
    "us.anthropic.claude-opus-4-1-20250805-v1:0",
)
# An Azure resource serves deployments its owner named, and its data plane does not list them: the names
# Azure's portal proposes for a deployment (the model's own), which most resources keep.
AZURE_DEPLOYMENTS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-4.1", "gpt-4o", "gpt-4o-mini")

_OPENAI_NATIVE = _support(models="passthrough", embeddings="passthrough")
_OPENAI_COMPATIBLE = _support(models="passthrough")

CATALOG: dict[str, CatalogEntry] = {entry.id: entry for entry in (
    CatalogEntry("openai", "OpenAI", "openai-chat", "bearer", "https://api.openai.com/v1", _OPENAI_NATIVE,
                 "https://platform.openai.com/docs/api-reference", ("max-completion-tokens", "openai-prompt-cache"), "OPENAI_API_KEY"),
    CatalogEntry("anthropic", "Anthropic", "anthropic", "x-api-key", "https://api.anthropic.com",
                 _support(models="passthrough", count_tokens="passthrough"),
                 "https://docs.anthropic.com/en/api/messages", (), "ANTHROPIC_API_KEY"),
    CatalogEntry("gemini", "Google Gemini", "gemini", "x-api-key", "https://generativelanguage.googleapis.com",
                 _support(models="passthrough", embeddings="passthrough"),
                 "https://ai.google.dev/api", (), "GEMINI_API_KEY"),
    CatalogEntry("groq", "Groq", "openai-chat", "bearer", "https://api.groq.com/openai/v1", _OPENAI_COMPATIBLE,
                 "https://console.groq.com/docs/api-reference", ("clean-tool-schemas",), "GROQ_API_KEY"),
    CatalogEntry("deepseek", "DeepSeek", "openai-chat", "bearer", "https://api.deepseek.com/v1", _OPENAI_COMPATIBLE,
                 "https://api-docs.deepseek.com/api/create-chat-completion", ("reasoning-content-history",),
                 "DEEPSEEK_API_KEY"),
    CatalogEntry("openrouter", "OpenRouter", "openai-chat", "bearer", "https://openrouter.ai/api/v1", _OPENAI_COMPATIBLE,
                 "https://openrouter.ai/docs/api-reference/overview", (), "OPENROUTER_API_KEY"),
    CatalogEntry("mistral", "Mistral", "openai-chat", "bearer", "https://api.mistral.ai/v1", _OPENAI_NATIVE,
                 "https://docs.mistral.ai/api/", ("clean-tool-schemas",), "MISTRAL_API_KEY"),
    CatalogEntry("together", "Together AI", "openai-chat", "bearer", "https://api.together.xyz/v1", _OPENAI_NATIVE,
                 "https://docs.together.ai/reference/chat-completions-1", (), "TOGETHER_API_KEY"),
    CatalogEntry("fireworks", "Fireworks AI", "openai-chat", "bearer", "https://api.fireworks.ai/inference/v1",
                 _OPENAI_NATIVE, "https://docs.fireworks.ai/api-reference/post-chatcompletions", (), "FIREWORKS_API_KEY"),
    CatalogEntry("xai", "xAI", "openai-chat", "bearer", "https://api.x.ai/v1", _OPENAI_COMPATIBLE,
                 "https://docs.x.ai/docs/api-reference", (), "XAI_API_KEY"),
    CatalogEntry("nvidia", "NVIDIA NIM", "openai-chat", "bearer", "https://integrate.api.nvidia.com/v1", _OPENAI_NATIVE,
                 "https://docs.api.nvidia.com/nim/reference/llm-apis", (), "NVIDIA_API_KEY"),
    CatalogEntry("ollama", "Ollama", "openai-chat", "none", "http://localhost:11434/v1", _OPENAI_NATIVE,
                 "https://github.com/ollama/ollama/blob/main/docs/openai.md"),
    CatalogEntry("azure", "Azure OpenAI", "azure", "azure", "https://YOUR-RESOURCE.openai.azure.com",
                 _support(embeddings="passthrough"),
                 "https://learn.microsoft.com/azure/ai-foundry/openai/reference", ("max-completion-tokens", "openai-prompt-cache"),
                 "AZURE_OPENAI_API_KEY", models=AZURE_DEPLOYMENTS),
    CatalogEntry("bedrock", "AWS Bedrock (Anthropic models)", "bedrock", "aws",
                 "https://bedrock-runtime.us-east-1.amazonaws.com", _support(),
                 "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
                 models=BEDROCK_CLAUDE_MODELS),
    CatalogEntry("factory", "Factory (Droid)", "anthropic", "bearer", "https://api.factory.ai",
                 _support(count_tokens="passthrough"), "https://docs.factory.ai", (), "FACTORY_API_KEY",
                 url_capable=False),
    CatalogEntry("trae", "Trae IDE", "trae", "bearer", "https://trae-api-sg.mchost.guru", _support(),
                 "https://docs.trae.ai", url_capable=False),
)}

# Which wire format a protocol's non-chat endpoints speak: a passthrough needs the client's to match.
# Azure OpenAI's non-chat endpoints (embeddings) take and give OpenAI's bodies, under its deployment URLs.
WIRE_FAMILY = {
    "openai-chat": "openai", "openai-responses": "openai", "azure": "openai",
    "anthropic": "anthropic", "gemini": "gemini", "bedrock": "bedrock", "trae": "trae",
}


def entry(provider_id: str) -> CatalogEntry | None:
    return CATALOG.get(provider_id)


def preset_models(preset: str | None, protocol: str) -> tuple[str, ...]:
    """The model table of a provider's preset; without a preset, that of the one catalog entry speaking its
    protocol (a `protocol = "bedrock"` provider is Bedrock), if only one does."""
    if preset in CATALOG:
        return CATALOG[preset].models
    speaking = [e for e in CATALOG.values() if e.protocol == protocol]
    return speaking[0].models if len(speaking) == 1 else ()


def custom_entry(protocol: str, base_url: str) -> CatalogEntry:
    """A target with no catalog id: what its protocol alone lets the bridge promise."""
    native = {"openai-chat": _OPENAI_COMPATIBLE, "openai-responses": _OPENAI_COMPATIBLE,
              "anthropic": _support(models="passthrough", count_tokens="passthrough"),
              "gemini": _support(models="passthrough", embeddings="passthrough"),
              "azure": _support(embeddings="passthrough")}.get(protocol, _support())
    auth = {"anthropic": "x-api-key", "gemini": "x-api-key", "azure": "azure", "bedrock": "aws"}.get(protocol, "bearer")
    quirks = CATALOG["azure"].quirks if protocol == "azure" else ()  # o-series deployments need max_completion_tokens
    return CatalogEntry("custom", "Custom", protocol, auth, base_url, native, "", quirks)


def public_catalog() -> dict:
    return {
        "providers": [e.public() for e in CATALOG.values()],
        "authTypes": list(AUTH_TYPES),
        "protocols": [p for p in PROTOCOLS if not UPSTREAM_CODECS[p].login_only],
        "endpointGroups": list(GROUPS),
    }
