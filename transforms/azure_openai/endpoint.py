"""Where and how an Azure OpenAI chat request is sent: `{resource endpoint}/openai/deployments/{deployment}/...`."""

from __future__ import annotations

from urllib.parse import quote

from transforms.client_strings import path_segment

# the latest GA version when this was written; a route's options may name another
DEFAULT_API_VERSION = "2024-10-21"


def chat_completions_url(base_url: str, model: str = "", stream: bool = False, options=None) -> str:
    """`model` is the deployment name, which is what Azure routes by."""
    return deployment_url(base_url, model, "chat/completions", options.api_version if options is not None else None)


def deployment_url(base_url: str, deployment: str, operation: str, api_version: str | None = None) -> str:
    """`{resource}/openai/deployments/{deployment}/{operation}?api-version=...` (chat/completions, embeddings)."""
    base = base_url.rstrip("/")
    if not base.endswith("/openai"):  # the resource endpoint, as the Azure portal shows it
        base += "/openai"
    version = api_version or DEFAULT_API_VERSION
    return f"{base}/deployments/{path_segment(deployment)}/{operation}?api-version={quote(version, safe='')}"


def request_headers(api_key: str | None) -> dict[str, str]:
    return {"api-key": api_key} if api_key else {}


def embeddings_url(base_url: str, deployment: str, api_version: str | None = None) -> str:
    return deployment_url(base_url, deployment, "embeddings", api_version)
