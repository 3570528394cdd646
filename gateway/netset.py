"""Sets of IP networks from configuration: is this address inside one of them?

One membership rule for every place that asks (trusted front proxies, `metrics_from`,
auto-quarantine exemptions): the address may carry an IPv6 zone (``fe80::1%eth0``), and an
IPv4-mapped IPv6 address (``::ffff:10.0.0.5``, what a dual-stack listener reports for an
IPv4 peer) is the IPv4 address it maps. Anything that is not an address is in no set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """The address `text` names (zone dropped, IPv4-mapped unwrapped), or None."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class NetworkSet:
    """Networks given as addresses or CIDR prefixes (host bits allowed, as in config)."""

    __slots__ = ("networks",)

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in networks)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        address = parse_address(text)
        return address is not None and any(address in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __repr__(self) -> str:
        return f"NetworkSet({[str(net) for net in self.networks]!r})"
