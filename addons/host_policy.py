"""SSRF guard for dynamic routes: may the bridge send a request to this host?

Dynamic routes (`/<scheme>/<host>/<path...>/<model>/v1/messages`) take the
upstream host from the request URL, so without a guard anyone who can reach
the bridge could make it call internal services or the cloud metadata
endpoint. `check_destination` allows a destination only when

1. the scheme is http or https,
2. `host[:port]` matches an entry of `HostPolicy.allow_hosts`, and
3. every address the host resolves to is public, unless
   `allow_private_networks` is set.

It returns the addresses it checked so the caller connects to exactly those
and never resolves the name a second time (DNS-rebinding defence).

Allow-list entries: `"host"` (any port), `"host:port"`, `"*.example.com"`
(any subdomain, not `example.com` itself), `"[::1]"` / `"[::1]:8080"` for
IPv6 literals, and `"*"` for any host (the address checks still apply).
Matching ignores case and a trailing dot.

No mitmproxy import: this module is pure and tested on its own.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# May be async (the default) or a plain function returning the list.
type Resolver = Callable[[str, int], Awaitable[list[str]] | list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
RESOLVE_TIMEOUT_SECONDS = 10.0

# RFC 6598 shared address space; `is_global` is already False for it, but a
# named reason tells the operator what they hit.
CGNAT_V4 = ipaddress.ip_network("100.64.0.0/10")
RFC1918_V4 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
UNIQUE_LOCAL_V6 = ipaddress.ip_network("fc00::/7")
# RFC 6052 well-known NAT64 prefix: the last 32 bits are the IPv4 destination.
NAT64_WELL_KNOWN_V6 = ipaddress.ip_network("64:ff9b::/96")

# One DNS label; underscores are tolerated because internal names use them.
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# A last label of digits or 0x-hex makes URL parsers and inet_aton read the
# whole name as a (shortened) IPv4 address, e.g. "127.1" or "0x7f.1".
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")


class HostRefused(Exception):
    """The destination is not allowed; `.reason` says which rule refused it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AllowRule:
    """One parsed `allow_hosts` entry."""

    entry: str  # as written, for messages
    host: str  # normalised name, compressed IP, "*" or "*.suffix"
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])  # ".suffix": the bare suffix never matches
        return self.host == host


@dataclass(frozen=True)
class HostPolicy:
    allow_hosts: tuple[str, ...]
    allow_private_networks: bool = False
    _rules: tuple[AllowRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Parse once, at config time, so a bad entry fails loudly at start-up.
        entries = (self.allow_hosts,) if isinstance(self.allow_hosts, str) else tuple(self.allow_hosts)
        object.__setattr__(self, "allow_hosts", entries)
        object.__setattr__(self, "_rules", tuple(parse_allow_entry(e) for e in entries))

    def allows(self, host: str, port: int) -> bool:
        """`host` must already be normalised (see `normalise_host`)."""
        return any(rule.matches(host, port) for rule in self._rules)


# --- parsing and normalising -------------------------------------------------


def parse_allow_entry(entry: str) -> AllowRule:
    """`"host"`, `"host:port"`, `"*.suffix[:port]"`, `"[v6]"`, `"[v6]:port"` or `"*"`."""
    text = entry.strip()
    host_part, port = _split_port(text, entry)
    if host_part == "*":
        return AllowRule(entry, "*", port)
    if host_part.startswith("*."):
        suffix = normalise_host(host_part[2:])
        if is_ip_literal(suffix):
            raise ValueError(f"allow_hosts entry {entry!r}: a wildcard needs a domain name, not an IP address")
        return AllowRule(entry, "*." + suffix, port)
    try:
        return AllowRule(entry, normalise_host(host_part), port)
    except HostRefused as exc:
        raise ValueError(f"allow_hosts entry {entry!r}: {exc.reason}") from None


def _split_port(text: str, entry: str) -> tuple[str, int | None]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"allow_hosts entry {entry!r}: missing ']' after the IPv6 address")
        host_part, rest = text[: close + 1], text[close + 1 :]
        if not rest:
            return host_part, None
        if not rest.startswith(":"):
            raise ValueError(f"allow_hosts entry {entry!r}: expected ':port' after ']'")
        return host_part, _parse_port(rest[1:], entry)
    if text.count(":") == 1:
        host_part, _, port_text = text.partition(":")
        return host_part, _parse_port(port_text, entry)
    if text.count(":") > 1:
        raise ValueError(f"allow_hosts entry {entry!r}: write IPv6 addresses in brackets, e.g. '[::1]' or '[::1]:8080'")
    return text, None


def _parse_port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"allow_hosts entry {entry!r}: port must be a number from 1 to 65535")
    return int(text)


def normalise_host(host: str) -> str:
    """Lower-cased name without a trailing dot, or a compressed IP literal.

    Raises HostRefused for hosts that are empty, carry userinfo or are malformed.
    """
    if "@" in host:
        raise HostRefused(f"Host {host!r} contains user information ('user@host'); put only the host name in the URL.")
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        return _normalise_ipv6_literal(host, text[1:-1])
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]  # "example.com." is the same name, fully qualified
    text = text.lower()
    if not text:
        raise HostRefused("The destination host is empty.")
    if ":" in text:
        return _normalise_ipv6_literal(host, text)
    if _is_ipv4_literal(text):
        return str(ipaddress.IPv4Address(text))
    return _checked_name(host, text)


def _normalise_ipv6_literal(original: str, text: str) -> str:
    if "%" in text:
        raise HostRefused(f"Host {original!r}: IPv6 zone identifiers ('%...') are not accepted.")
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        # A ':' outside brackets is also how "host:port" arrives by mistake.
        raise HostRefused(
            f"Host {original!r} is not a valid IPv6 address (a host name cannot contain ':'; the port is separate)."
        ) from None


def _is_ipv4_literal(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _checked_name(original: str, name: str) -> str:
    if not name.isascii():
        raise HostRefused(f"Host {original!r} is not ASCII; write internationalised names in their 'xn--' form.")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise HostRefused(f"Host {original!r} is not a valid host name.")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise HostRefused(
            f"Host {original!r} looks like a shortened or non-decimal IPv4 address; write it as a dotted quad such as 192.0.2.10."
        )
    return name


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_for_display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- address classification --------------------------------------------------


def non_public_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public destination, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        return _non_public_v6(address)
    return _non_public_v4(address)


def _non_public_v4(a: ipaddress.IPv4Address) -> str | None:
    # Most specific first: 127.0.0.1 is also `is_private`, 169.254/16 too.
    if a.is_unspecified:
        return "an unspecified address"
    if a.is_loopback:
        return "a loopback address"
    if a.is_link_local:
        return "a link-local address (this range holds cloud metadata services such as 169.254.169.254)"
    if a.is_multicast:  # `is_global` is True for much of 224/4
        return "a multicast address"
    if a in CGNAT_V4:
        return "a shared (carrier-grade NAT, 100.64.0.0/10) address"
    if any(a in net for net in RFC1918_V4):
        return "a private (RFC 1918) address"
    if a.is_reserved:
        return "a reserved address"
    if not a.is_global:
        return "a special-purpose address that is not globally routable"
    return None


def _non_public_v6(a: ipaddress.IPv6Address) -> str | None:
    embedded = _embedded_ipv4(a)
    if embedded is not None:
        kind, v4 = embedded
        inner = _non_public_v4(v4)
        return f"{kind} {v4}, which is {inner}" if inner else None
    if a.is_unspecified:
        return "an unspecified address"
    if a.is_loopback:
        return "a loopback address"
    if a.is_link_local:
        return "a link-local address"
    if a.is_site_local:  # deprecated fec0::/10, but `is_global` still says True
        return "a site-local address"
    if a.is_multicast:  # `is_global` is True for global-scope multicast
        return "a multicast address"
    if a in UNIQUE_LOCAL_V6:
        return "a private (unique-local, fc00::/7) address"
    if a.is_reserved:  # ::/8 etc.: IPv4-compatible ::a.b.c.d, local-use NAT64 64:ff9b:1::/48
        return "a reserved address"
    if not a.is_global:
        return "a special-purpose address that is not globally routable"
    return None


def _embedded_ipv4(a: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 destination an IPv6 address stands for, when it carries one.

    `is_global` judges ::ffff:127.0.0.1, 2002:7f00:1:: and 64:ff9b::7f00:1 by
    their IPv6 prefix only, so the embedded IPv4 address is judged instead.
    """
    if a.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address of", a.ipv4_mapped
    if a.sixtofour is not None:
        return "a 6to4 IPv6 address embedding", a.sixtofour
    if a in NAT64_WELL_KNOWN_V6:
        return "a NAT64 IPv6 address embedding", ipaddress.IPv4Address(int(a) & 0xFFFFFFFF)
    return None


# --- resolution -------------------------------------------------------------


async def default_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in resolver order, without duplicates.

    `loop.getaddrinfo` runs the blocking lookup in the default executor, so the
    event loop keeps serving other flows meanwhile.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _resolve_all(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            answers = resolve(host, port)
            if inspect.isawaitable(answers):
                answers = await answers
    except TimeoutError:
        raise HostRefused(f"Host {host!r} did not resolve within {RESOLVE_TIMEOUT_SECONDS:g} s.") from None
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise HostRefused(f"Host {host!r} does not resolve ({exc}); check the host name in the URL.") from None
    if not answers:
        raise HostRefused(f"Host {host!r} does not resolve to any address; check the host name in the URL.")
    return [_parse_answer(host, answer) for answer in answers]


def _parse_answer(host: str, answer: str) -> IPAddress:
    try:
        return ipaddress.ip_address(answer)
    except ValueError:
        raise HostRefused(f"Host {host!r} resolved to {answer!r}, which is not an IP address.") from None


# --- the check --------------------------------------------------------------


async def check_destination(
    policy: HostPolicy,
    scheme: str,
    host: str,
    port: int | None,
    *,
    resolve: Resolver = default_resolver,
) -> list[str]:
    """Raise HostRefused unless host[:port] is allow-listed AND (allow_private_networks or every
    address the name resolves to is public). Returns the resolved addresses (so the caller can
    connect to exactly those and not resolve again: DNS-rebinding defence)."""
    port = _checked_port(scheme, port)
    name = normalise_host(host)
    # The allow-list comes before any DNS lookup: a refused name is never
    # resolved, so the bridge cannot be used to probe names either.
    if not policy.allows(name, port):
        raise HostRefused(_not_allowed_reason(policy, name, port))
    addresses = [ipaddress.ip_address(name)] if is_ip_literal(name) else await _resolve_all(name, port, resolve)
    if not policy.allow_private_networks:
        _refuse_non_public(name, port, addresses)
    return [str(a) for a in addresses]


def _checked_port(scheme: str, port: int | None) -> int:
    default = DEFAULT_PORTS.get(scheme.lower())
    if default is None:
        raise HostRefused(f"Scheme {scheme!r} is not allowed for dynamic routes; use http or https.")
    if port is None:
        return default
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise HostRefused(f"Port {port!r} is not a valid port (1 to 65535).")
    return port


def _not_allowed_reason(policy: HostPolicy, host: str, port: int) -> str:
    allowed = ", ".join(policy.allow_hosts) if policy.allow_hosts else "nothing: the list is empty"
    return (
        f"Destination {host_for_display(host, port)} is not allowed by allow_hosts "
        f"(allowed: {allowed}); add it to allow_hosts to use it in a dynamic route."
    )


def _refuse_non_public(host: str, port: int, addresses: list[IPAddress]) -> None:
    # One non-public answer refuses the whole name: a split or rebinding answer
    # could otherwise slip an internal address in next to a public one.
    for address in addresses:
        reason = non_public_reason(address)
        if reason is None:
            continue
        if is_ip_literal(host):
            what = f"Destination {host_for_display(host, port)} is {reason}"
        else:
            what = f"Destination {host_for_display(host, port)} resolves to {address}, which is {reason}"
        raise HostRefused(f"{what}; dynamic routes only reach public addresses unless allow_private_networks is set.")
