"""Where and how a Gemini request is sent: the model and streaming are in the URL; streams use SSE."""

from __future__ import annotations

from urllib.parse import quote


def generate_url(base_url: str, model: str = "", stream: bool = False) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url.rstrip('/')}/v1beta/models/{quote(model, safe='')}:{method}"


def request_headers(api_key: str | None) -> dict[str, str]:
    return {"x-goog-api-key": api_key} if api_key else {}
