"""gateway.netset: one membership rule for every configured set of networks."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.netset import NetworkSet, parse_address

NETS = NetworkSet(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "10.1.2.3/16"])


@pytest.mark.parametrize(("address", "inside"), [
    ("10.2.3.4", True), ("11.0.0.1", False), ("192.168.1.7", True), ("192.168.1.8", False),
    ("fd00::1", True), ("fe80::1", False),
    ("::ffff:10.9.9.9", True),  # an IPv4 peer on a dual-stack socket
    ("::ffff:11.0.0.1", False),
    ("fd00::1%eth0", True),  # a zone does not change the address
    ("10.0.0.1:443", False), ("", False), ("not an address", False), ("10.0.0.256", False),
])
def test_membership(address: str, inside: bool) -> None:
    assert (address in NETS) is inside


def test_non_strings_and_the_empty_set() -> None:
    assert 42 not in NETS and None not in NETS
    assert not NetworkSet([]) and "10.0.0.1" not in NetworkSet([])
    assert NETS and "10.0.0.0/8" in repr(NETS)


def test_a_bad_network_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        NetworkSet(["10.0.0.0/33"])


@given(st.ip_addresses())
def test_agrees_with_ipaddress(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    parsed = parse_address(str(address))
    mapped = getattr(address, "ipv4_mapped", None)
    assert parsed == (mapped if mapped is not None else address)
    networks = NetworkSet(["0.0.0.0/1", "8000::/1"])
    assert (str(address) in networks) == (int(parsed) >> (parsed.max_prefixlen - 1) == 0
                                          if parsed.version == 4
                                          else int(parsed) >> 127 == 1)
