"""Where and how an Anthropic Messages request is sent (the official SDK's base_url convention)."""

from __future__ import annotations

API_VERSION = "2023-06-01"


def messages_url(base_url: str, model: str = "", stream: bool = False, options=None) -> str:
    return base_url.rstrip("/") + "/v1/messages"


def models_url(base_url: str) -> str:
    return base_url + "/v1/models"


def count_tokens_url(base_url: str) -> str:
    return messages_url(base_url) + "/count_tokens"


def request_headers(api_key: str | None) -> dict[str, str]:
    headers = {"anthropic-version": API_VERSION}
    if api_key:
        headers["x-api-key"] = api_key
    return headers
