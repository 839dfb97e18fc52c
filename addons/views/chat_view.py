"""The "LLM Chat" content view: an LLM API body as a readable transcript (`transforms/transcript.py`).

Which protocol a body speaks: for a flow the bridge handled (`flow.metadata["llm_bridge"]`), the
Request tab holds the upstream request (`upstream_protocol`) and the Response tab the client's answer
(`client_protocol`); for any other flow it is guessed from the request's path. "auto" picks this view
for every such body (priority 3, above the SSE view's 2).
"""

from __future__ import annotations

from mitmproxy import contentviews, http

from addons.answers import METADATA_KEY
from transforms.transcript import transcript

PRIORITY = 3
# path endings -> protocol, for flows the bridge did not handle (a plain `mitmweb` capture)
PATH_SUFFIXES = {
    "/chat/completions": "openai-chat",
    "/responses": "openai-responses",
    "/v1/messages": "anthropic",
    ":generateContent": "gemini",
    ":streamGenerateContent": "gemini",
}


def bridge_metadata(flow: object) -> dict | None:
    """What the bridge kept of this flow's call, or None for a flow it did not handle."""
    metadata = getattr(flow, "metadata", None)
    meta = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if isinstance(meta, dict) and (meta.get("client_protocol") or meta.get("client_request")):
        return meta
    return None


def guess_protocol(path: str) -> str | None:
    """The protocol an LLM API path speaks (`/v1/chat/completions`, `/v1/messages?beta=true`, ...)."""
    path = path.partition("?")[0].rstrip("/")
    for suffix, protocol in PATH_SUFFIXES.items():
        if path.endswith(suffix):
            return protocol
    return None


def message_kind(metadata: contentviews.Metadata) -> str | None:
    """"request" or "response": which of its flow's HTTP messages is shown; None for anything else."""
    message = metadata.http_message
    flow = metadata.flow
    if message is None:
        return None
    if flow is not None and message is getattr(flow, "request", None):
        return "request"
    if flow is not None and message is getattr(flow, "response", None):
        return "response"
    return "request" if isinstance(message, http.Request) else "response" if isinstance(message, http.Response) else None


def client_answer(data: bytes, meta: dict | None) -> bytes:
    """The client's answer: the message's body, or, when a stream left it empty, the bytes the bridge kept."""
    if data or not meta:
        return data
    chunks = meta.get("client_chunks")
    if isinstance(chunks, list) and chunks:
        try:
            return b"".join(bytes(chunk) for _, chunk in chunks)
        except (TypeError, ValueError):
            pass
    body = meta.get("client_body")
    return bytes(body) if isinstance(body, (bytes, bytearray)) else data


def llm_body(metadata: contentviews.Metadata) -> tuple[str, str] | None:
    """(protocol, "request" | "response") of an LLM API body, or None when it is not one."""
    kind = message_kind(metadata)
    flow = metadata.flow
    if kind is None or not isinstance(flow, http.HTTPFlow):
        return None
    meta = bridge_metadata(flow)
    if meta is not None:
        protocol = meta.get("upstream_protocol" if kind == "request" else "client_protocol")
        if isinstance(protocol, str) and protocol:
            return protocol, kind
    protocol = guess_protocol(flow.request.path)
    return (protocol, kind) if protocol else None


class LLMChatContentview(contentviews.Contentview):
    name = "LLM Chat"
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        try:
            found = llm_body(metadata)
            if found is None:
                return "(not an LLM API request or response)"
            protocol, kind = found
            if kind == "response":
                data = client_answer(data, bridge_metadata(metadata.flow))
            return transcript(protocol, kind, data)
        except Exception as exc:  # noqa: BLE001 - mitmweb answers 500 when a view raises
            return f"(LLM Chat could not show this body: {type(exc).__name__}: {exc})"

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        try:
            return PRIORITY if llm_body(metadata) is not None else -1
        except Exception:  # noqa: BLE001
            return -1
