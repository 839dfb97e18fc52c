"""Whether anything can show or save a flow while it is in flight: mitmweb's view,
a `-w` save file, or a dump that prints headers (`flow_detail` 2 and up).
Secrets must then never be put into a flow, not even for the moment of sending."""

from __future__ import annotations

from mitmproxy import ctx, exceptions


def flows_visible() -> bool:
    options = ctx.options
    return (
        hasattr(options, "web_port")
        or bool(getattr(options, "save_stream_file", None))
        or getattr(options, "flow_detail", 1) >= 2
    )


DEFAULT_KEEP_BYTES = 4 << 20


class FlowKeeping:
    """What a bridged flow keeps of its exchange: with flows visible (mitmweb, `-w`, a header-level dump) or
    recorded (`bridge_record`), a streamed exchange keeps both sides' chunks with their times, so that
    mitmweb and saved flows show all four parts; each side at most `bridge_flow_body_limit` bytes, the rest
    is passed on but not kept, and the flow says which part was cut. Otherwise nothing is kept: the
    default service pays nothing for it."""

    def __init__(self, recording=lambda: False) -> None:
        self._recording = recording
        self.limit = DEFAULT_KEEP_BYTES

    def load(self, loader) -> None:
        loader.add_option(
            "bridge_flow_body_limit", int, DEFAULT_KEEP_BYTES,
            "Bytes of each side of a streamed exchange a flow keeps for mitmweb, -w files and recordings "
            "(the stream itself is never cut; what is past the limit is not kept, and the flow says so).",
        )

    def configure(self, updated: set[str]) -> None:
        if "bridge_flow_body_limit" in updated:
            limit = ctx.options.bridge_flow_body_limit
            if limit < 0:
                raise exceptions.OptionsError("bridge_flow_body_limit: must be 0 or more bytes")
            self.limit = limit

    def stream_limit(self) -> int | None:
        """Bytes to keep of each side of a stream, or None when nothing is to be kept."""
        return self.limit if self._recording() or flows_visible() else None
