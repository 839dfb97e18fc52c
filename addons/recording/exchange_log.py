"""One line per exchange, in the log and in mitmweb's flow list.

At mitmdump's default verbosity every bridged exchange logs one line: the client's protocol and path,
the provider, upstream protocol and model, the status, the time to the answer's first byte and in all,
the tokens in/out/cached and the attempts. Never a secret or a prompt. The same summary is the flow's
comment, which mitmweb shows in its list (the addon adds the "comment" column when the list has
mitmweb's default columns), so exchanges can be told apart without opening them.
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, http

from addons.answers import METADATA_KEY

log = logging.getLogger(__name__)

MITMWEB_DEFAULT_COLUMNS = ["tls", "icon", "path", "method", "status", "size", "time"]


class ExchangeLog:
    def running(self) -> None:
        options = ctx.options
        if hasattr(options, "web_columns") and list(options.web_columns) == MITMWEB_DEFAULT_COLUMNS:
            options.update(web_columns=[*MITMWEB_DEFAULT_COLUMNS, "comment"])

    def response(self, flow: http.HTTPFlow) -> None:
        self._done(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._done(flow)

    def _done(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(METADATA_KEY)
        if meta is None or not flow.live:
            return  # (a flow read from a file keeps the line it was saved with)
        line = exchange_line(meta, flow)
        flow.comment = line
        log.info(f"llm-bridge: {line}")


def route_summary(meta: dict, flow: http.HTTPFlow) -> str:
    """`openai-chat → claude/claude-sonnet-4-5 (anthropic) · POST /v1/chat/completions`: who asked and what
    answered come first, since mitmweb's comment column shows only its first two dozen characters."""
    saved = meta.get("client_request") if isinstance(meta.get("client_request"), dict) else {}
    path = str(saved.get("path", "")).split("?", 1)[0]
    return (f"{meta.get('client_protocol', '?')} → {meta.get('provider', '?')}/{meta.get('upstream_model', '?')} "
            f"({meta.get('upstream_protocol', '?')}) · {saved.get('method', 'POST')} {path}")


def exchange_line(meta: dict, flow: http.HTTPFlow) -> str:
    parts = [route_summary(meta, flow)]
    response = flow.response
    if response is not None:
        parts.append(str(response.status_code))
        start = flow.request.timestamp_start
        if response.timestamp_start and start:
            parts.append(f"first byte {response.timestamp_start - start:.2f} s")
        if response.timestamp_end and start:
            parts.append(f"{response.timestamp_end - start:.2f} s")
    elif flow.error is not None:
        parts.append(f"failed: {flow.error.msg}")
    usage = meta.get("usage")
    if isinstance(usage, dict) and usage:
        parts.append(f"tokens {usage.get('input', '?')} in, {usage.get('output', '?')} out, "
                     f"{usage.get('cached', 0)} cached")
    attempts = meta.get("attempts")
    parts.append(f"attempts {attempts}" if attempts else "1 attempt")
    return " · ".join(parts)
