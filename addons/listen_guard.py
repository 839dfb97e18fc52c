"""No open proxy by accident: with no `[server] auth_tokens`, the bridge listens on loopback only.

mitmproxy's default (no --listen-host) binds every interface; without tokens the bridge binds
127.0.0.1 instead. An explicit non-loopback --listen-host without tokens stops start-up, unless
`--set bridge_allow_remote=true` says it is meant (e.g. behind a firewall or another auth layer).
"""

from __future__ import annotations

import ipaddress
import logging

from mitmproxy import ctx, exceptions

from addons.settings import BridgeSettings

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ListenGuard:
    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self._running = False

    def load(self, loader) -> None:
        loader.add_option("bridge_allow_remote", bool, False,
                          "Listen on a non-loopback address even though no [server] auth_tokens are configured.")

    def running(self) -> None:
        self._running = True

    def configure(self, updated: set[str]) -> None:
        if not ({"listen_host", "bridge_allow_remote", "bridge_config"} & updated):
            return
        host = ctx.options.listen_host
        if self.settings.config.server.auth_tokens or ctx.options.bridge_allow_remote or is_loopback(host):
            return
        if host == "":
            ctx.options.update(listen_host="127.0.0.1")
            log.info("llm-bridge: no auth_tokens configured, so listening on 127.0.0.1 only "
                     "(configure [server] auth_tokens, or --set bridge_allow_remote=true, to listen on all interfaces)")
            return
        message = (f"llm-bridge: refusing to listen on {host} with no [server] auth_tokens configured: anyone who can "
                   f"reach it could use your providers' keys. Configure auth_tokens, or pass --set bridge_allow_remote=true.")
        if self._running:
            raise exceptions.OptionsError(message)
        log.error(message)  # at start-up mitmproxy's errorcheck then stops with exit status 1
