"""Where and how an OpenAI Chat request is sent: base URLs include `/v1`, as in the official SDK."""

from __future__ import annotations


def chat_completions_url(base_url: str, model: str = "", stream: bool = False, options=None) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def request_headers(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}
