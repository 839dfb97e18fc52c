"""No listener beyond loopback by accident.

The rule. Each proxy mode listens on the host its spec names (`--mode MODE[:DATA]@[HOST:]PORT`)
or, when it names none, on `--listen-host` (mitmproxy's default "" means every interface), at
the spec's port or `-p`/`--listen-port`. With no `[server] auth_tokens` and without
`--set bridge_allow_remote=true`:

- a listener on every interface because no host was given is moved to loopback: `--listen-host`
  becomes 127.0.0.1 and each such spec is rewritten to `...@127.0.0.1:PORT`, the rest kept;
- a listener on an explicit address beyond loopback (0.0.0.0, ::, a LAN address, any host name
  but `localhost`) stops start-up with exit status 1 and one line naming it (at run time, e.g.
  from mitmweb's options editor, the change is refused instead).

That covers every mode that opens a socket: regular (which the bridge turns into its reverse
placeholder), reverse (TCP, plus UDP for https/http3/quic/dns targets), upstream, socks5,
transparent, dns and wireguard. `local` and `tun` have no port and open none. With tokens, or
with `bridge_allow_remote`, every listener is bound as asked.

mitmweb's UI (`--web-host`, default 127.0.0.1) is a socket of the process too. Its own token
guards it, but that token travels in the URL over plain HTTP, the UI shows every flow (with the
providers' keys the bridge adds upstream) and can change every option, and the bridge's
auth_tokens do not cover it. So a UI beyond loopback needs `bridge_allow_remote=true` whether or
not tokens are configured (and `--web-host ""` is moved to 127.0.0.1).

The start-up window. mitmproxy brings its servers up from the command line before this script
runs: `Master.run` starts `setup_servers` one event-loop step after start, while `-s` scripts are
imported by a watcher task a step later. Within that first setup, a listener whose host is an IP
literal is bound at once (asyncio skips the name lookup); one with no host (the default) or a
host name first waits for getaddrinfo in a thread and would bind several steps after this
script's first `configure`, with the options as they were before it (that is the old window: the
default command bound *:8080 until `running` re-applied the servers). So here:

- `configure` fixes the options (or logs the refusal) before any lookup-first listener binds;
- on the next loop step (when the IP-literal servers have finished starting) the first setup is
  cancelled if every server it is still starting is lookup-first, so none of them ever binds, and
  the servers it already bound that the final options do not want are closed before the event
  loop has accepted a connection on them (the loop was busy importing this script);
- `running` brings the servers up from the final options, and start-up waits for it, so a bind
  error still stops start-up.

What a script cannot close: a listener on an explicit IP literal (e.g. `--listen-host 0.0.0.0`)
and a UDP listener with no host exist from mitmproxy's first step until this script is imported
(the import time: 0.3 to 1 s here). The process accepts nothing on them in that time, but the
kernel completes TCP handshakes into the backlog; those connections are reset when the socket is
closed. The same holds for a mode spec changed at run time: mitmproxy's proxyserver addon starts
the new server before this script sees the change and refuses it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass, field

from mitmproxy import ctx, exceptions
from mitmproxy.proxy.mode_specs import ProxyMode

from addons.guards.loopback import is_loopback as is_loopback_name
from addons.reverse_mode import listen_suffix, user_spec
from addons.settings import BridgeSettings

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
WATCHED = frozenset({"mode", "listen_host", "listen_port", "server", "web_host", "web_port",
                     "bridge_allow_remote", "bridge_config"})
FIRST_SETUP = "setup_servers"  # the name Master.run gives the task of its first server start-up
SETTLE_STEPS = 20  # loop steps to wait for IP-literal servers still starting before giving up on the cancel


def is_loopback(host: str) -> bool:
    """A host that accepts connections from this machine only ("" means every interface: no)."""
    if is_loopback_name(host):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped is not None and mapped.is_loopback


def format_address(host: str, port: int | None) -> str:
    host = host or "*"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def with_host(spec: str, host: str, port: int) -> str:
    """`spec` listening on host:port, everything before its `@` kept."""
    head = spec[: len(spec) - len(listen_suffix(spec))]
    return f"{head}@{host}:{port}"


def binds_after_lookup(mode: ProxyMode, listen_host: str) -> bool:
    """Whether asyncio resolves this listener's host in a thread before binding it ("" or a host
    name), rather than binding at once (an IP literal); UDP servers bind on mitmproxy_rs's threads."""
    if mode.transport_protocol == "udp":
        return False
    host = mode.listen_host(listen_host)
    if not host or "%" in host:
        return True
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return False
        except OSError:
            pass
    return True


@dataclass(frozen=True)
class Listener:
    host: str
    port: int | None
    origin: str  # how it was asked for, e.g. "--mode regular@0.0.0.0:8082"

    def __str__(self) -> str:
        return f"{format_address(self.host, self.port)} ({self.origin})"


@dataclass
class Plan:
    changes: dict = field(default_factory=dict)
    moved: list[Listener] = field(default_factory=list)  # proxy listeners, where they listen now
    moved_ui: Listener | None = None
    refused: list[Listener] = field(default_factory=list)
    refused_ui: Listener | None = None

    @property
    def refusal(self) -> str | None:
        parts = []
        if self.refused:
            where = " and ".join(map(str, self.refused))
            parts.append(f"refusing to listen on {where} with no [server] auth_tokens configured: anyone who can "
                         "reach it could use your providers' keys. Configure [server] auth_tokens, or pass "
                         "--set bridge_allow_remote=true if that is meant")
        if self.refused_ui:
            parts.append(f"refusing to serve mitmweb's UI on {self.refused_ui}: it shows every flow with your "
                         "providers' keys and can change every option, and [server] auth_tokens do not cover it. "
                         "Pass --set bridge_allow_remote=true if that is meant")
        return "llm-bridge: " + "; also ".join(parts) + "." if parts else None


def plan(*, modes: list[str], listen_host: str, listen_port: int | None, server: bool, web_host: str | None,
         web_port: int | None, tokens: bool, allow_remote: bool) -> Plan:
    """What the rule makes of these options; `web_host` is None outside mitmweb."""
    result = Plan()
    protected = tokens or allow_remote
    new_modes = []
    for spec in modes:
        try:
            mode = ProxyMode.parse(spec)
        except ValueError:  # mitmproxy's proxyserver reports it
            new_modes.append(spec)
            continue
        port = mode.listen_port(listen_port)
        host = mode.listen_host(listen_host)
        opens_socket = mode.default_port is not None  # `local` and `tun` have none (even with -p)
        if not server or not opens_socket or protected or is_loopback(host):
            new_modes.append(spec)
        elif host == "":
            new_modes.append(with_host(spec, LOOPBACK, port))
            result.moved.append(Listener(LOOPBACK, port, user_spec(spec)))
        else:
            origin = f"--mode {user_spec(spec)}" if mode.custom_listen_host is not None else f"--listen-host {listen_host}"
            result.refused.append(Listener(host, port, origin))
            new_modes.append(spec)
    if new_modes != modes:
        result.changes["mode"] = new_modes
    if not protected and listen_host == "":
        result.changes["listen_host"] = LOOPBACK
    if web_host is not None and not allow_remote:
        if web_host == "":
            result.changes["web_host"] = LOOPBACK
            result.moved_ui = Listener(LOOPBACK, web_port, '--web-host ""')
        elif not is_loopback(web_host):
            result.refused_ui = Listener(web_host, web_port, f"--web-host {web_host}")
    return result


def _forget(proxyserver, mode: ProxyMode) -> None:
    # mitmproxy keeps a server per spec and would neither restart a server whose start was
    # cancelled nor stop one twice; there is no public way to drop one
    proxyserver.servers._instances.pop(mode, None)


class ListenGuard:
    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self._settings_seen = False
        self._applying = False
        self._startup_seen = False
        self._refused = False
        self._first_setup: asyncio.Task | None = None
        self._bring_up_task: asyncio.Task | None = None
        self._wanted_for: tuple = (None, set())  # (the options it was worked out for, the wanted listeners)

    def load(self, loader) -> None:
        loader.add_option(
            "bridge_allow_remote", bool, False,
            "Listen beyond loopback (a proxy listener, or mitmweb's UI) even though no [server] auth_tokens are "
            "configured: for a bridge behind a firewall or another authentication layer. Without it, a listener "
            "with no host is moved to 127.0.0.1 and one on another address stops start-up.",
        )

    def configure(self, updated: set[str]) -> None:
        if not self._settings_seen:
            # a nested update from an addon listed before the settings comes before bridge.toml is read
            if "bridge_config" not in updated and self.settings.source == "nothing":
                return
            self._settings_seen = True
        if self._applying or not (WATCHED & updated):
            return
        proxyserver = ctx.master.addons.get("proxyserver")
        starting = proxyserver is not None and not proxyserver.is_running
        listen_host_before = ctx.options.listen_host
        result = plan(
            modes=list(ctx.options.mode), listen_host=ctx.options.listen_host, listen_port=ctx.options.listen_port,
            server=ctx.options.server, web_host=getattr(ctx.options, "web_host", None),
            web_port=getattr(ctx.options, "web_port", None), tokens=bool(self.settings.config.server.auth_tokens),
            allow_remote=ctx.options.bridge_allow_remote,
        )
        if result.refusal:
            if not starting:
                raise exceptions.OptionsError(result.refusal)
            log.error(result.refusal)  # mitmproxy's errorcheck then stops start-up with exit status 1
            self._refused = True
        elif result.changes:
            self._applying = True
            try:
                ctx.options.update(**result.changes)
            finally:
                self._applying = False
            if result.moved:
                log.info(f"llm-bridge: no [server] auth_tokens configured, so listening on loopback only: "
                         f"{', '.join(map(str, result.moved))} (configure [server] auth_tokens, or "
                         "--set bridge_allow_remote=true, to listen on other interfaces)")
            if result.moved_ui:
                log.info(f"llm-bridge: serving mitmweb's UI on loopback only: {result.moved_ui} "
                         "(--set bridge_allow_remote=true to serve it on other interfaces)")
        if starting and not self._startup_seen:
            self._startup_seen = True
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            loop.call_soon(self._settle_first_setup, proxyserver, listen_host_before, 0)

    def client_connected(self, client) -> None:
        """A connection to a listener that is not (or no longer) one of the bridge's: one mitmproxy opened before
        the script ran (a plain forward proxy, replaced by the bridge's listener), accepted in that window."""
        modes = (tuple(ctx.options.mode), ctx.options.server, self._refused)
        if self._wanted_for[0] != modes:
            self._wanted_for = (modes, self._wanted())
        if client.proxy_mode not in self._wanted_for[1]:
            client.error = "llm-bridge: a connection to a listener the bridge does not serve"

    def _wanted(self) -> set[ProxyMode]:
        if self._refused or not ctx.options.server:
            return set()
        wanted = set()
        for spec in ctx.options.mode:
            try:
                wanted.add(ProxyMode.parse(spec))
            except ValueError:
                pass
        return wanted

    def _settle_first_setup(self, proxyserver, listen_host_before: str, steps: int) -> None:
        """Runs one loop step after the first `configure`: mitmproxy's first setup is still under way,
        with the options from before this script."""
        wanted = self._wanted()
        task = next((t for t in asyncio.all_tasks() if t.get_name().startswith(FIRST_SETUP) and not t.done()), None)
        self._first_setup = task
        pending = [server for server in proxyserver.servers if not server.is_running]
        if task is not None and any(server.mode not in wanted for server in pending):
            if all(binds_after_lookup(server.mode, listen_host_before) for server in pending):
                task.cancel()  # each still waits for its name lookup: nothing of theirs is bound
            elif steps < SETTLE_STEPS:
                # an IP-literal server has bound but not finished starting; cancelling now would orphan it
                asyncio.get_running_loop().call_soon(self._settle_first_setup, proxyserver, listen_host_before, steps + 1)
            else:
                log.warning("llm-bridge: mitmproxy's first start-up of its servers could not be stopped in time; "
                            "the listeners it opens are replaced as soon as it is done")
        for server in list(proxyserver.servers):
            if server.is_running and server.mode not in wanted:
                asyncio.get_running_loop().create_task(server.stop())  # eager at start-up: closed right here
                _forget(proxyserver, server.mode)

    def running(self):
        proxyserver = ctx.master.addons.get("proxyserver")
        if proxyserver is None:
            return None
        self._bring_up_task = asyncio.get_running_loop().create_task(self._bring_up(proxyserver))
        # Master.running awaits an awaitable a hook returns, so start-up waits for the servers and a bind
        # error still stops it; on a hot reload (a sync call) the task simply runs
        return self._bring_up_task

    async def _bring_up(self, proxyserver) -> None:
        first = self._first_setup
        if first is not None:
            if not first.done():
                await asyncio.wait([first])
            for server in list(proxyserver.servers):
                if not server.is_running:
                    _forget(proxyserver, server.mode)  # its start was cancelled before it bound anything
        await proxyserver.setup_servers()
