"""The non-chat endpoints a proxy URL passes through natively: `GET /v1/models`
(OpenAI's list, or Anthropic's when the request carries `anthropic-version`) and
OpenAI's `POST /v1/embeddings` (deterministic vectors, so tests can compare)."""

from __future__ import annotations

import hashlib

from .common import Context, dumps, key_matches
from .http import Request, Response

OPENAI_MODELS = ("gpt-4o-mini", "gpt-4.1")
ANTHROPIC_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")
JSON = {"content-type": "application/json"}


def models(request: Request, context: Context) -> Response:
    if "anthropic-version" in request.headers:
        if not key_matches(request.headers.get("x-api-key"), context.anthropic_key):
            return _unauthorized({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in ANTHROPIC_MODELS]
        return Response(200, JSON, dumps({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}))
    if not _bearer_ok(request, context):
        return _unauthorized({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                        "param": None, "code": "invalid_api_key"}})
    data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "simulator"} for m in OPENAI_MODELS]
    return Response(200, JSON, dumps({"object": "list", "data": data}))


def embeddings(request: Request, context: Context) -> Response:
    if not _bearer_ok(request, context):
        return _unauthorized({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                        "param": None, "code": "invalid_api_key"}})
    body = request.json or {}
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not body.get("model"):
        return Response(400, JSON, dumps({"error": {"message": "model and input are required", "type": "invalid_request_error",
                                                    "param": "input", "code": None}}))
    data = [{"object": "embedding", "index": i, "embedding": vector(str(text))} for i, text in enumerate(inputs)]
    tokens = sum(len(str(t).split()) for t in inputs)
    return Response(200, JSON, dumps({"object": "list", "data": data, "model": body["model"],
                                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))


def vector(text: str, size: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 4) for b in digest[:size]]


def _bearer_ok(request: Request, context: Context) -> bool:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and key_matches(key.strip(), context.openai_key)


def _unauthorized(body: dict) -> Response:
    return Response(401, JSON, dumps(body))
