"""`GET /v1/models` behind a proxy URL, answered by the bridge: the model names
the URL's rules let a client use, in the client's own list format."""

from __future__ import annotations


def model_list(names: list[str], family: str, owner: str) -> dict:
    if family == "anthropic":
        data = [{"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"} for n in names]
        return {"data": data, "has_more": False, "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None}
    if family == "gemini":
        return {"models": [{"name": f"models/{n}", "displayName": n,
                            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}
                           for n in names]}
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": owner} for n in names]}
