"""The policy input for one outbound request (`package zonegate.egress`, docs/egress.md).

Contract 3's shape, with `destination` added and `resource` left out (the destination is
the resource). Built by this one adapter; Rego sees nothing the proxy did not establish:

    {"request":     {"id", "method", "scheme", "path", "host_header", "sni", "time"},
     "subject":     {"authenticated", "type": "device|service|unknown", "id", "spiffe_id"},
     "device":      {"id", "cert_fingerprint", "trust", "posture": {"identified_by": …}},
     "source":      {"ip"},
     "destination": {"host", "port"}}

`destination.host` is where the proxy will connect; IP literals are written canonically
(no brackets, compressed IPv6) so that one address has one spelling. Names keep their case
and dots: the policy compares them case-insensitively without trailing dots.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.egress.identify import Terminal
from gateway.pdp.port import JSONObject


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """The facts of one outbound request, gathered by the proxy shell."""

    id: str
    method: str
    scheme: str
    host: str
    port: int
    path: str
    time: str
    host_header: str = ""
    sni: str = ""


def canonical_host(raw: str) -> str:
    """An IP literal in its one canonical spelling; any other host unchanged."""
    candidate = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def host_of_header(value: str) -> str:
    """The host part of a Host header (``name``, ``name:port``, ``[v6]:port``)."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        return canonical_host(value[: end + 1]) if end > 0 else value
    if value.count(":") == 1:
        name, _, port = value.partition(":")
        return canonical_host(name) if port.isdigit() else value
    return canonical_host(value)


def egress_input(terminal: Terminal, request: OutboundRequest) -> JSONObject:
    """The `input` document for `data.zonegate.egress.decision`."""
    subject_type = {"device": "device", "svc": "service"}.get(terminal.kind, "unknown")
    return {
        "request": {
            "id": request.id, "method": request.method, "scheme": request.scheme,
            "path": request.path, "host_header": host_of_header(request.host_header),
            "sni": request.sni, "time": request.time,
        },
        "subject": {
            "authenticated": terminal.identified_by == "certificate",
            "type": subject_type, "id": terminal.device_id, "spiffe_id": terminal.spiffe_id,
        },
        "device": {
            "id": terminal.device_id, "cert_fingerprint": terminal.fingerprint,
            "trust": terminal.trust,
            "posture": {"identified_by": terminal.identified_by},
        },
        "source": {"ip": terminal.source_ip},
        "destination": {"host": canonical_host(request.host), "port": request.port},
    }
