"""`GET /v1/models` (and Gemini's `GET /v1beta/models`): the models the bridge serves, in the asking
client's own list format: OpenAI's, Anthropic's (when the client sends `anthropic-version` or `x-api-key`,
as the Anthropic SDK and Claude Code do; paged with `limit`, `after_id`, `before_id`) or Gemini's.

The list is the configured `[[models]]`, then each listing provider's own models as `<provider>/<model>`
(addons/model_discovery.py). Proxy URLs format their lists with `format_models` too.
"""

from __future__ import annotations

from typing import Mapping

from addons.settings import BridgeSettings

GEMINI_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
ANTHROPIC_PAGE = 20  # Anthropic's default page size
ANTHROPIC_MAX_PAGE = 1000


def list_family(path: str, headers: Mapping[str, str]) -> str:
    """Whose list format a `GET .../models` wants: "gemini", "anthropic" or "openai"."""
    if path.startswith("/v1beta/"):
        return "gemini"
    if "anthropic-version" in headers or "x-api-key" in headers:
        return "anthropic"
    return "openai"


async def model_list(settings: BridgeSettings, discovery, family: str, query: Mapping[str, str]) -> dict:
    router = settings.router
    entries = [(model_id, router.owner(model_id)) for model_id in router.model_ids]
    for provider, ids in (await discovery.lists()).items():
        entries += [(f"{provider}/{model_id}", provider) for model_id in ids]
    return format_models(entries, family, query)


def format_models(entries: list[tuple[str, str]], family: str, query: Mapping[str, str] | None = None) -> dict:
    """(model id, owner) pairs in `family`'s list format."""
    if family == "anthropic":
        return _anthropic_page([model_id for model_id, _ in entries], query or {})
    if family == "gemini":
        return {"models": [{"name": f"models/{model_id}", "displayName": model_id,
                            "supportedGenerationMethods": GEMINI_METHODS} for model_id, _ in entries]}
    return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0, "owned_by": owner}
                                       for model_id, owner in entries]}


def _anthropic_page(ids: list[str], query: Mapping[str, str]) -> dict:
    try:
        limit = min(max(int(query.get("limit") or ANTHROPIC_PAGE), 1), ANTHROPIC_MAX_PAGE)
    except ValueError:
        limit = ANTHROPIC_PAGE
    start, end = 0, len(ids)
    if query.get("after_id") in ids:
        start = ids.index(query["after_id"]) + 1
    if query.get("before_id") in ids:
        end = ids.index(query["before_id"])
        start = max(start, end - limit)
    page = ids[start:min(end, start + limit)]
    data = [{"type": "model", "id": model_id, "display_name": model_id, "created_at": "1970-01-01T00:00:00Z"}
            for model_id in page]
    return {"data": data, "has_more": start + len(page) < end, "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None}
