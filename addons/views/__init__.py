"""mitmweb content views that make a bridged exchange readable.

- "SSE": a `text/event-stream` body, one block per event, with arrival times when the bridge kept them;
- "LLM Chat": any LLM API body (request, whole or streamed answer, error) as a transcript; "auto"
  picks it for LLM API bodies;
- "LLM Exchange": for a flow the bridge handled, the client's and the upstream's bodies side by side.

`register()` adds them to mitmproxy's content views; calling it again changes nothing.
"""

from __future__ import annotations

from mitmproxy import contentviews

from addons.views.chat_view import LLMChatContentview
from addons.views.exchange_view import LLMExchangeContentview
from addons.views.sse_view import SSEContentview

VIEWS = (SSEContentview, LLMChatContentview, LLMExchangeContentview)


def register() -> None:
    """Add the three views to mitmproxy's registry (a view of the same class already there is kept)."""
    for view in VIEWS:
        if isinstance(contentviews.registry.get(view.name.lower()), view):
            continue
        contentviews.add(view)


__all__ = ["LLMChatContentview", "LLMExchangeContentview", "SSEContentview", "VIEWS", "register"]
