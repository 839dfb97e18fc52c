"""The SSRF guard for dynamic routes: allow-list matching, non-public addresses, resolution.

No test resolves a public name: names go through a fake resolver, and only
"localhost" reaches the real one.
"""

import asyncio
import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addons import host_policy
from addons.host_policy import HostPolicy, HostRefused, check_destination, default_resolver, non_public_reason

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:4700::6810:84e5"


def fake_resolver(answers: dict[str, list[str]]):
    """An async resolver that answers from `answers` and records what it was asked."""
    calls: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    resolve.calls = calls
    return resolve


PUBLIC_NAMES = fake_resolver(
    {
        "api.example.com": [PUBLIC_V4],
        "sub.example.com": [PUBLIC_V4],
        "a.b.example.com": [PUBLIC_V4],
        "example.com": [PUBLIC_V4],
        "other.test": [PUBLIC_V4],
    }
)


def check(policy: HostPolicy, host: str, port: int | None = None, scheme: str = "https", resolve=PUBLIC_NAMES) -> list[str]:
    return asyncio.run(check_destination(policy, scheme, host, port, resolve=resolve))


def refused(policy: HostPolicy, host: str, port: int | None = None, scheme: str = "https", resolve=PUBLIC_NAMES) -> str:
    with pytest.raises(HostRefused) as info:
        check(policy, host, port, scheme, resolve)
    assert str(info.value) == info.value.reason
    return info.value.reason


# --- allow-list matching -----------------------------------------------------


def test_exact_host_matches_any_port_and_returns_the_resolved_addresses():
    policy = HostPolicy(("api.example.com",))
    assert check(policy, "api.example.com") == [PUBLIC_V4]
    assert check(policy, "api.example.com", 8443) == [PUBLIC_V4]


def test_host_not_in_the_list_is_refused_without_resolving_it():
    resolve = fake_resolver({"other.test": [PUBLIC_V4]})
    reason = refused(HostPolicy(("api.example.com",)), "other.test", resolve=resolve)
    assert "other.test:443" in reason and "not allowed by allow_hosts" in reason and "api.example.com" in reason
    assert resolve.calls == []


def test_empty_allow_list_refuses_everything():
    assert "the list is empty" in refused(HostPolicy(()), "api.example.com")


def test_port_specific_entry_matches_only_that_port():
    policy = HostPolicy(("api.example.com:8443",))
    assert check(policy, "api.example.com", 8443) == [PUBLIC_V4]
    assert "api.example.com:443" in refused(policy, "api.example.com")
    assert "api.example.com:9000" in refused(policy, "api.example.com", 9000)


def test_default_port_comes_from_the_scheme():
    policy = HostPolicy(("api.example.com:443",))
    assert check(policy, "api.example.com", None, "https") == [PUBLIC_V4]
    assert "api.example.com:80" in refused(policy, "api.example.com", None, "http")
    assert check(HostPolicy(("api.example.com:80",)), "api.example.com", None, "http") == [PUBLIC_V4]


@pytest.mark.parametrize("host", ["sub.example.com", "a.b.example.com", "SUB.Example.Com", "sub.example.com."])
def test_wildcard_matches_subdomains_at_any_depth(host):
    assert check(HostPolicy(("*.example.com",)), host) == [PUBLIC_V4]


@pytest.mark.parametrize("host", ["example.com", "badexample.com", "example.com.evil.test"])
def test_wildcard_does_not_match_the_domain_itself_or_lookalikes(host):
    resolve = fake_resolver({host: [PUBLIC_V4]})
    assert "not allowed by allow_hosts" in refused(HostPolicy(("*.example.com",)), host, resolve=resolve)


def test_wildcard_with_port():
    policy = HostPolicy(("*.example.com:443",))
    assert check(policy, "sub.example.com") == [PUBLIC_V4]
    assert "not allowed" in refused(policy, "sub.example.com", 80)


@pytest.mark.parametrize("entry", ["API.Example.COM", "api.example.com.", "  api.example.com  "])
@pytest.mark.parametrize("host", ["api.example.com", "API.EXAMPLE.COM", "api.example.com."])
def test_matching_ignores_case_trailing_dot_and_spaces(entry, host):
    assert check(HostPolicy((entry,)), host) == [PUBLIC_V4]


def test_resolver_is_asked_for_the_normalised_name_and_the_effective_port():
    resolve = fake_resolver({"api.example.com": [PUBLIC_V4]})
    check(HostPolicy(("api.example.com",)), "API.example.com.", resolve=resolve)
    assert resolve.calls == [("api.example.com", 443)]


def test_star_allows_any_host_but_still_checks_addresses():
    policy = HostPolicy(("*",))
    assert check(policy, "other.test", 1234) == [PUBLIC_V4]
    assert "loopback" in refused(policy, "127.0.0.1")


@pytest.mark.parametrize(
    ("entry", "host", "port"),
    [("[::1]", "::1", 8080), ("[::1]", "[::1]", None), ("[::1]:8080", "[0:0::1]", 8080), ("127.0.0.1:8080", "127.0.0.1", 8080)],
)
def test_ip_literal_entries(entry, host, port):
    assert check(HostPolicy((entry,), allow_private_networks=True), host, port) != []


def test_ipv6_entry_with_port_refuses_other_ports():
    assert "not allowed" in refused(HostPolicy(("[::1]:8080",), allow_private_networks=True), "::1", 9090)


def test_a_single_string_is_taken_as_one_entry():
    assert HostPolicy("api.example.com").allow_hosts == ("api.example.com",)


@pytest.mark.parametrize(
    "entry",
    ["api.example.com:0", "api.example.com:70000", "api.example.com:https", "::1", "[::1", "[::1]8080", "*.10.0.0.1", "user@host", "", "bad host"],
)
def test_malformed_allow_list_entries_fail_at_construction(entry):
    with pytest.raises(ValueError, match="allow_hosts entry"):
        HostPolicy((entry,))


# --- schemes, ports and malformed hosts ---------------------------------------


@pytest.mark.parametrize("scheme", ["ftp", "file", "gopher", "ws", ""])
def test_schemes_other_than_http_and_https_are_refused(scheme):
    assert "use http or https" in refused(HostPolicy(("*",)), "api.example.com", 443, scheme)


def test_scheme_is_case_insensitive():
    assert check(HostPolicy(("api.example.com",)), "api.example.com", None, "HTTPS") == [PUBLIC_V4]


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_out_of_range_ports_are_refused(port):
    assert "not a valid port" in refused(HostPolicy(("*",)), "api.example.com", port)


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("user@api.example.com", "user information"),
        ("user:pass@api.example.com", "user information"),
        ("", "empty"),
        ("   ", "empty"),
        (".", "empty"),
        ("api..example.com", "not a valid host name"),
        ("api.example.com/evil", "not a valid host name"),
        ("api example.com", "not a valid host name"),
        ("-api.example.com", "not a valid host name"),
        ("a" * 64 + ".example.com", "not a valid host name"),
        ("bücher.example", "xn--"),
        ("[::1", "not a valid IPv6"),
        ("[fe80::1%25eth0]", "zone"),
        ("api.example.com:443", "the port is separate"),
        ("127.1", "dotted quad"),
        ("2130706433", "dotted quad"),
        ("0x7f.0.0.1", "dotted quad"),
        ("example.0x7f", "dotted quad"),
    ],
)
def test_malformed_hosts_are_refused_with_a_reason(host, words):
    resolve = fake_resolver({})
    assert words in refused(HostPolicy(("*",), allow_private_networks=True), host, resolve=resolve)
    assert resolve.calls == []


# --- non-public addresses -----------------------------------------------------

NON_PUBLIC = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "not globally routable"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("192.0.2.1", "not globally routable"),
    ("198.18.0.1", "not globally routable"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "not globally routable"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "not globally routable"),  # Teredo
    ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible form
    ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64 prefix
    ("::ffff:127.0.0.1", "IPv4-mapped IPv6 address of 127.0.0.1, which is a loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped IPv6 address of 10.0.0.1, which is a private"),
    ("::ffff:169.254.169.254", "169.254.169.254, which is a link-local"),
    ("::ffff:100.64.0.1", "carrier-grade NAT"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("2002:7f00:1::1", "6to4 IPv6 address embedding 127.0.0.1"),
    ("2002:a9fe:a9fe::", "6to4 IPv6 address embedding 169.254.169.254"),
    ("64:ff9b::7f00:1", "NAT64 IPv6 address embedding 127.0.0.1"),
    ("64:ff9b::c0a8:101", "NAT64 IPv6 address embedding 192.168.1.1"),
]


@pytest.mark.parametrize(("address", "words"), NON_PUBLIC)
def test_non_public_ip_literals_are_refused(address, words):
    host = f"[{address}]" if ":" in address else address
    reason = refused(HostPolicy(("*",)), host)
    assert words in reason
    assert "allow_private_networks" in reason


@pytest.mark.parametrize(("address", "words"), NON_PUBLIC)
def test_allow_private_networks_lets_non_public_literals_through(address, words):
    assert check(HostPolicy(("*",), allow_private_networks=True), address) == [str(ipaddress.ip_address(address))]


@pytest.mark.parametrize(("address", "words"), NON_PUBLIC)
def test_a_name_resolving_to_a_non_public_address_is_refused(address, words):
    resolve = fake_resolver({"internal.example.com": [address]})
    reason = refused(HostPolicy(("*.example.com",)), "internal.example.com", resolve=resolve)
    assert f"internal.example.com:443 resolves to {ipaddress.ip_address(address)}" in reason
    assert words in reason


@pytest.mark.parametrize(
    "address", [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"]
)
def test_public_literals_pass_and_come_back_normalised(address):
    assert check(HostPolicy(("*",)), address) == [str(ipaddress.ip_address(address))]


def test_one_private_answer_refuses_the_whole_name():
    resolve = fake_resolver({"split.example.com": [PUBLIC_V4, PUBLIC_V6, "10.0.0.7"]})
    reason = refused(HostPolicy(("split.example.com",)), "split.example.com", resolve=resolve)
    assert "resolves to 10.0.0.7" in reason and "private" in reason


def test_all_public_answers_are_returned_in_order():
    resolve = fake_resolver({"multi.example.com": [PUBLIC_V6, PUBLIC_V4, "1.1.1.1"]})
    assert check(HostPolicy(("multi.example.com",)), "multi.example.com", resolve=resolve) == [PUBLIC_V6, PUBLIC_V4, "1.1.1.1"]


def test_allow_private_networks_returns_private_answers():
    resolve = fake_resolver({"db.internal": ["10.0.0.7", "fd00::7"]})
    policy = HostPolicy(("db.internal",), allow_private_networks=True)
    assert check(policy, "db.internal", 5432, "http", resolve) == ["10.0.0.7", "fd00::7"]


def test_literal_ip_hosts_are_not_resolved():
    resolve = fake_resolver({})
    assert check(HostPolicy(("*",)), "8.8.8.8", resolve=resolve) == ["8.8.8.8"]
    assert resolve.calls == []


# --- resolution failures ------------------------------------------------------


def test_unresolvable_name_is_refused():
    reason = refused(HostPolicy(("*",)), "nowhere.invalid", resolve=fake_resolver({}))
    assert "'nowhere.invalid' does not resolve" in reason


def test_name_resolving_to_nothing_is_refused():
    reason = refused(HostPolicy(("*",)), "empty.example.com", resolve=fake_resolver({"empty.example.com": []}))
    assert "does not resolve to any address" in reason


def test_resolver_answer_that_is_not_an_address_is_refused():
    reason = refused(HostPolicy(("*",)), "odd.example.com", resolve=fake_resolver({"odd.example.com": ["not-an-ip"]}))
    assert "not an IP address" in reason


def test_slow_resolution_is_refused(monkeypatch):
    monkeypatch.setattr(host_policy, "RESOLVE_TIMEOUT_SECONDS", 0.01)

    async def slow(host, port):
        await asyncio.sleep(5)
        return [PUBLIC_V4]

    assert "did not resolve within" in refused(HostPolicy(("*",)), "slow.example.com", resolve=slow)


def test_a_plain_function_works_as_resolver():
    def resolve(host, port):
        return [PUBLIC_V4]

    assert check(HostPolicy(("*",)), "api.example.com", resolve=resolve) == [PUBLIC_V4]


def test_default_resolver_resolves_localhost_without_blocking():
    addresses = asyncio.run(default_resolver("localhost", 80))
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)
    assert len(addresses) == len(set(addresses))


def test_localhost_is_refused_by_default_through_the_real_resolver():
    reason = asyncio.run(_refusal(check_destination(HostPolicy(("localhost",)), "http", "localhost", 8080)))
    assert "localhost:8080 resolves to" in reason and "loopback" in reason


def test_localhost_is_allowed_with_private_networks_through_the_real_resolver():
    policy = HostPolicy(("localhost:8080",), allow_private_networks=True)
    addresses = asyncio.run(check_destination(policy, "http", "localhost", 8080))
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)


async def _refusal(coro) -> str:
    try:
        await coro
    except HostRefused as exc:
        return exc.reason
    raise AssertionError("expected HostRefused")


# --- properties ---------------------------------------------------------------

ipv4s = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)


@given(ipv4s)
def test_embedded_ipv4_is_judged_like_the_ipv4_address(v4):
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1)
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4))
    verdict = non_public_reason(v4) is None
    assert (non_public_reason(mapped) is None) == verdict
    assert (non_public_reason(sixtofour) is None) == verdict
    assert (non_public_reason(nat64) is None) == verdict


@given(ipv4s)
def test_every_address_is_public_only_if_ipaddress_calls_it_global(v4):
    # The guard only ever adds refusals to `is_global`, never removes one.
    if non_public_reason(v4) is None:
        assert v4.is_global and not v4.is_multicast
