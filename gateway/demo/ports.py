"""Which loopback ports the demo uses: the documented ones (friendly for curl) or
ephemeral ones (for the smoke tour and for a machine where the documented ones are taken).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from gateway.demo.errors import PortInUse

FIXED_GATEWAY = 8443
FIXED_CONTROL = 8444
FIXED_IDP = 9000
FIXED_UPSTREAMS = {"health": 9101, "transport": 9102, "citizen": 9103, "open": 9104}


@dataclass(frozen=True, slots=True)
class DemoPorts:
    """Ports on 127.0.0.1; 0 means "any free port" for the in-process servers."""

    gateway: int
    control: int
    idp: int
    upstreams: dict[str, int]


def fixed_ports() -> DemoPorts:
    """The documented ports: gateway 8443, control 8444, IdP 9000, upstreams 9101-9104.

    Each is checked now, so that a taken port is named before anything starts.
    """
    ports = DemoPorts(FIXED_GATEWAY, FIXED_CONTROL, FIXED_IDP, dict(FIXED_UPSTREAMS))
    check_free(ports.gateway, "the gateway")
    check_free(ports.control, "the control plane")
    check_free(ports.idp, "the dev IdP")
    for zone, port in ports.upstreams.items():
        check_free(port, f"the {zone} upstream")
    return ports


def ephemeral_ports() -> DemoPorts:
    """Free ports chosen by the kernel.

    The children (gateway, control plane) bind theirs a moment later, so those are probed
    now; the in-process servers bind port 0 and report what they got.
    """
    return DemoPorts(free_port(), free_port(), 0, dict.fromkeys(FIXED_UPSTREAMS, 0))


def free_port() -> int:
    """A port that was free a moment ago (a child binds it shortly after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def check_free(port: int, what: str) -> None:
    """Raise PortInUse, naming `what`, when 127.0.0.1:port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(f"127.0.0.1:{port} ({what}) is not available: {exc.strerror}; "
                            "stop what uses it or run with --ephemeral-ports") from None
