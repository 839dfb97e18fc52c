"""The model ids in a provider's own model list, per protocol (the answer to the codec's `models_url`)."""

from __future__ import annotations

import orjson


def openai_model_ids(body: bytes, *, provider: str = "") -> list[str]:
    """OpenAI-compatible `GET /models`: `{"data": [{"id": ...}]}`."""
    return [item["id"] for item in loads_listing(body, "data", provider) if isinstance(item.get("id"), str)]


def anthropic_model_ids(body: bytes, *, provider: str = "") -> list[str]:
    """Anthropic's `GET /v1/models`: `{"data": [{"type": "model", "id": ...}], "has_more": ...}` (first page)."""
    return openai_model_ids(body, provider=provider)


def gemini_model_ids(body: bytes, *, provider: str = "") -> list[str]:
    """Gemini's `GET /v1beta/models`: `{"models": [{"name": "models/<id>", "supportedGenerationMethods": [...]}]}`;
    only models that generate content."""
    ids = []
    for item in loads_listing(body, "models", provider):
        name, methods = item.get("name"), item.get("supportedGenerationMethods")
        if isinstance(name, str) and (methods is None or "generateContent" in methods):
            ids.append(name.removeprefix("models/"))
    return ids


def loads_listing(body: bytes, key: str, provider: str) -> list[dict]:
    """The objects under `key` of a JSON list answer; ValueError naming the provider when it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError(f"provider '{provider}' answered its model list with something that is not JSON") from None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"provider '{provider}' answered its model list without a '{key}' array")
    return [item for item in items if isinstance(item, dict)]
