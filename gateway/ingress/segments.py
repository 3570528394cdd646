"""Network segments: which named source zone (`input.source.zone`) an address belongs to.

Policies admit callers by segment (`hospital-net`, `gov-net`, …). The most specific
network wins; an address in no segment has the empty name and only zones open to `*`
admit it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from gateway.ingress.errors import IngressSetupError
from gateway.netset import Network, parse_address

_MEMO = 4096  # addresses whose segment is remembered (then start afresh)


class SegmentMap:
    """Immutable CIDR-to-segment table, most specific network first."""

    def __init__(self, segments: Mapping[str, tuple[str, ...]] | None = None) -> None:
        table: list[tuple[Network, str]] = []
        for name, networks in (segments or {}).items():
            for cidr in networks:
                try:
                    table.append((ipaddress.ip_network(cidr, strict=False), name))
                except ValueError:
                    raise IngressSetupError(
                        f"segment {name!r}: not an IP network: {cidr!r}") from None
        self._table = tuple(sorted(table, key=lambda item: item[0].prefixlen, reverse=True))
        # the table never changes, so an address's segment never does: parse it once
        self._memo: dict[str, str] = {}

    def segment_of(self, address: str) -> str:
        """The segment name of an address ('' when none or not an IP address)."""
        if not self._table:
            return ""
        found = self._memo.get(address)
        if found is None:
            found = self._lookup(address)
            if len(self._memo) >= _MEMO:
                self._memo.clear()
            self._memo[address] = found
        return found

    def _lookup(self, address: str) -> str:
        ip = parse_address(address)
        if ip is None:
            return ""
        for network, name in self._table:
            if ip.version == network.version and ip in network:
                return name
        return ""
