"""The egress PEP for IoT terminals: a mitmproxy addon run by `zonegate egress run`.

Terminals send their outbound HTTP(S) through the proxy (regular proxy, or transparent
with an iptables redirect). For each request the terminal is identified (client
certificate verified by pki/, else source IP via the monitor's inventory), the policy
`data.zonegate.egress.decision` decides, and the body and query are graded by classify/
against the class's `max_level`; refusals are 403 JSON and raise contract-5 alerts
(`egress_blocked`, `egress_dlp`). HTTPS is intercepted with a root-signed subordinate CA
(`pki.subordinate`). See docs/egress.md.

Only the exception tree is imported here: the other modules pull in mitmproxy, the
ingress and classify/, which take seconds to import, and only `zonegate egress run` needs
them (every other CLI verb imports this package through its errors).

    identify.py      Terminal, TerminalIdentifier, InventoryIndex
    policy_input.py  OutboundRequest -> the policy input
    core.py          pure verdicts and the refusal body
    dlp.py           outbound grading and masking
    alerts.py        ECS documents, delivery thread (NDJSON, control plane)
    addon.py         EgressGuard, the mitmproxy addon
    interception.py  the CA file mitmproxy loads
    runner.py        assembly and the mitmproxy master
"""

from __future__ import annotations

from gateway.egress.errors import EgressError, EgressUnavailable

__all__ = ["EgressError", "EgressUnavailable"]
