"""Which client protocol a request path speaks, for the bridge's own routes and proxy URLs alike."""

from __future__ import annotations

from transforms.gemini import endpoint as gemini_endpoint

# client protocol by request path; bases with and without /v1 both work
CHAT_PATHS = {
    "/v1/chat/completions": "openai-chat", "/chat/completions": "openai-chat",
    "/v1/messages": "anthropic",
    "/v1/responses": "openai-responses", "/responses": "openai-responses",
    "/v1/responses/compact": "openai-responses", "/responses/compact": "openai-responses",  # compaction
}


def chat_protocol(bare_path: str) -> str | None:
    """The client protocol of a model-call path (query string removed), or None."""
    protocol = CHAT_PATHS.get(bare_path)
    if protocol is None and gemini_endpoint.client_url_fields(bare_path) is not None:
        protocol = "gemini"
    return protocol


def envelope_protocol(bare_path: str, protocol: str | None) -> str:
    """Whose error envelope a path's errors use, even before routing succeeds."""
    if protocol is not None:
        return protocol
    if bare_path.startswith("/v1beta/") or (bare_path.startswith("/v1/models/") and ":" in bare_path):
        return "gemini"  # Google's envelope for every error on a Gemini path
    return "anthropic" if bare_path.startswith("/v1/messages") or bare_path.endswith("/v1/messages") else "openai-chat"
