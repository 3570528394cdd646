"""Detections and the ECS alert document (DESIGN.md contract 5).

A detector reports a `Detection`; the incident aggregator (monitor.incidents) folds
detections with the same incident key into one `Incident`, and `to_ecs` renders it.

Extensions to contract 5, all additive: `event.id` (the incident id, stable across the
open and closed lines of one incident), `event.start`/`event.end` (first and last seen),
`event.action` ("incident-opened" | "incident-closed"), and `zonegate.incident.count`,
`zonegate.evidence` (never secrets: user names and lengths only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from monitor.model import TRANSPORT_NAMES
from monitor.rules import RULES, RULESET

Evidence = dict[str, str | int | float | bool | list[str] | list[int] | None]


@dataclass(slots=True)
class Detection:
    """One detector finding. `key` decides which detections are the same incident."""

    rule_id: str
    ts: float
    key: tuple[str | int | None, ...]
    severity: int
    message: str
    src_ip: str | None = None
    src_mac: str | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    transport: int = 0
    community_id: str | None = None
    device_id: str | None = None
    evidence: Evidence = field(default_factory=dict)
    count: int = 1


@dataclass(slots=True)
class Incident:
    """Detections folded together: counts and first/last seen, not one alert per packet."""

    id: str
    first: Detection
    last: Detection
    first_seen: float
    last_seen: float
    count: int = 1
    severity: int = 0
    reported_count: int = 1


def rfc3339(ts: float) -> str:
    """Millisecond RFC 3339 UTC timestamp, as in contract 5."""
    when = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def to_ecs(incident: Incident, action: str) -> dict[str, object]:
    """The contract-5 ECS document for an incident ("incident-opened" or "-closed")."""
    det = incident.last
    rule = RULES[det.rule_id]
    doc: dict[str, object] = {
        "@timestamp": rfc3339(incident.last_seen if action == "incident-closed"
                              else incident.first_seen),
        "event": {
            "kind": "alert",
            "category": ["network", "intrusion_detection"],
            "severity": incident.severity,
            "id": incident.id,
            "action": action,
            "start": rfc3339(incident.first_seen),
            "end": rfc3339(incident.last_seen),
        },
        "rule": {"id": rule.id, "name": rule.name, "ruleset": RULESET},
        "source": _endpoint(det.src_ip, det.src_mac, None),
        "destination": _endpoint(det.dst_ip, None, det.dst_port),
        "network": _network(det),
        "threat": {"framework": "MITRE ATT&CK",
                   "technique": {"id": list(rule.techniques)},
                   "tactic": {"name": [rule.tactic]}},
        "device": {"id": det.device_id},
        "message": det.message,
        "zonegate": {"incident": {"count": incident.count}, "evidence": det.evidence},
    }
    return doc


def _endpoint(ip: str | None, mac: str | None, port: int | None) -> dict[str, object]:
    out: dict[str, object] = {}
    if ip is not None:
        out["ip"] = ip
    if mac is not None:
        out["mac"] = mac
    if port is not None:
        out["port"] = port
    return out


def _network(det: Detection) -> dict[str, object]:
    out: dict[str, object] = {}
    name = TRANSPORT_NAMES.get(det.transport)
    if name is not None:
        out["transport"] = name
    if det.community_id is not None:
        out["community_id"] = det.community_id
    return out
