"""Makes `mitmdump -s addons/bridge.py` a reverse proxy with no other flag.

Every request is either answered locally or routed by the bridge, so the
reverse target is only a placeholder; `connection_strategy=lazy` keeps
mitmproxy from connecting to it before routing (with the default, eager, a
dead placeholder would close the client's connection).

Every `regular` mode becomes the placeholder on the same listen address:
mitmproxy's default `regular`, and `--mode regular@8082` (what mitmproxy's own
hint suggests when 8080 is busy) alike, so the bridge, not a plain forward
proxy, answers on that port. Where the servers listen, and when they are
brought up with these options, is the listen guard's business
(addons/guards/listen.py).
"""

from __future__ import annotations

import logging

from mitmproxy import ctx
from mitmproxy.proxy.mode_specs import ProxyMode, RegularMode

log = logging.getLogger(__name__)

PLACEHOLDER_MODE = "reverse:http://127.0.0.1:9"  # discard port: never actually contacted


def listen_suffix(spec: str) -> str:
    """The `@[host:]port` part of a mode spec ("" if none), split as ProxyMode.parse splits it."""
    head, _, listen_at = spec.rpartition("@")
    return f"@{listen_at}" if head else ""


_written_as: dict[str, str] = {}  # placeholder spec -> the `regular` spec it replaced


def as_placeholder(spec: str) -> str | None:
    """The placeholder reverse mode listening where a `regular` spec would; None for other specs."""
    try:
        mode = ProxyMode.parse(spec)
    except ValueError:
        return None  # mitmproxy's proxyserver reports invalid specs
    if not isinstance(mode, RegularMode):
        return None
    placeholder = PLACEHOLDER_MODE + listen_suffix(spec)
    _written_as[placeholder] = spec
    return placeholder


def user_spec(spec: str) -> str:
    """The spec as the user wrote it, for messages: `regular@8082` rather than its placeholder."""
    return _written_as.get(spec, spec)


class ReverseMode:
    def configure(self, updated: set[str]) -> None:
        changes = {}
        if "mode" in updated:
            modes = list(ctx.options.mode)
            placed = [as_placeholder(spec) or spec for spec in modes]
            if placed != modes:
                changes["mode"] = placed
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            changes["connection_strategy"] = "lazy"
        if changes:
            ctx.options.update(**changes)
