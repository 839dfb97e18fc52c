"""Whether anything can show or save a flow while it is in flight: mitmweb's view,
a `-w` save file, or a dump that prints headers (`flow_detail` 2 and up).
Secrets must then never be put into a flow, not even for the moment of sending."""

from __future__ import annotations

from mitmproxy import ctx


def flows_visible() -> bool:
    options = ctx.options
    return (
        hasattr(options, "web_port")
        or bool(getattr(options, "save_stream_file", None))
        or getattr(options, "flow_detail", 1) >= 2
    )
