"""Makes `mitmdump -s addons/bridge.py` a reverse proxy with no other flag.

Every request is either answered locally or routed by the bridge, so the
reverse target is only a placeholder; `connection_strategy=lazy` keeps
mitmproxy from connecting to it before routing (with the default, eager, a
dead placeholder would close the client's connection).
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import ctx

log = logging.getLogger(__name__)

PLACEHOLDER_MODE = "reverse:http://127.0.0.1:9"  # discard port: never actually contacted


class ReverseMode:
    def configure(self, updated: set[str]) -> None:
        changes = {}
        if "mode" in updated and list(ctx.options.mode) == ["regular"]:
            changes["mode"] = [PLACEHOLDER_MODE]
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            changes["connection_strategy"] = "lazy"
        if changes:
            ctx.options.update(**changes)

    def running(self) -> None:
        # A script's first `configure` comes after mitmproxy has brought its servers up
        # from the command line's options, so the servers are re-applied once here.
        proxyserver = ctx.master.addons.get("proxyserver")
        if proxyserver is not None:
            self._task = asyncio.get_running_loop().create_task(proxyserver.setup_servers())
