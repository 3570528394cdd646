"""OCSF 1.1 Detection Finding (class 2004) documents, one per line."""

from __future__ import annotations

import calendar
import json
import os
import time
from pathlib import Path

from monitor.alerts import Incident
from monitor.errors import AlertSinkError
from monitor.rules import RULES
from monitor.sinks.ndjson import append_durably

_VERSION = "0.1.0"


def _severity_id(severity: int) -> tuple[int, str]:
    if severity >= 90:
        return 5, "Critical"
    if severity >= 70:
        return 4, "High"
    if severity >= 40:
        return 3, "Medium"
    if severity >= 20:
        return 2, "Low"
    return 1, "Informational"


def _epoch_ms(stamp: object) -> int:
    if not isinstance(stamp, str):
        return 0
    base, _dot, frac = stamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1000 + int((frac or "0")[:3].ljust(3, "0"))


def to_ocsf(doc: dict[str, object], incident: Incident) -> dict[str, object]:
    """Map a contract-5 alert to an OCSF Detection Finding."""
    det = incident.last
    rule = RULES[det.rule_id]
    event = doc.get("event")
    opened = isinstance(event, dict) and event.get("action") == "incident-opened"
    sev_id, sev_name = _severity_id(incident.severity)
    activity_id = 1 if opened else 2
    out: dict[str, object] = {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": "Create" if opened else "Update",
        "type_uid": 2004 * 100 + activity_id,
        "time": _epoch_ms(doc.get("@timestamp")),
        "severity_id": sev_id,
        "severity": sev_name,
        "status_id": 1,
        "message": det.message,
        "count": incident.count,
        "start_time": int(incident.first_seen * 1000),
        "end_time": int(incident.last_seen * 1000),
        "metadata": {"version": "1.1.0",
                     "product": {"name": "zonegate monitor", "vendor_name": "zonegate",
                                 "version": _VERSION},
                     "uid": incident.id},
        "finding_info": {
            "uid": incident.id,
            "title": rule.name,
            "analytic": {"uid": rule.id, "name": rule.id, "type_id": 1, "type": "Rule"},
            "attacks": [{"technique": {"uid": t}, "tactic": {"name": rule.tactic},
                         "version": "15"} for t in rule.techniques],
            "first_seen_time": int(incident.first_seen * 1000),
            "last_seen_time": int(incident.last_seen * 1000),
        },
        "evidences": [{"data": det.evidence}],
    }
    src: dict[str, object] = {}
    if det.src_ip:
        src["ip"] = det.src_ip
    if det.src_mac:
        src["mac"] = det.src_mac
    if det.device_id:
        src["uid"] = det.device_id
    if src:
        out["src_endpoint"] = src
    if det.dst_ip:
        dst: dict[str, object] = {"ip": det.dst_ip}
        if det.dst_port is not None:
            dst["port"] = det.dst_port
        out["dst_endpoint"] = dst
    if det.community_id:
        out["unmapped"] = {"community_id": det.community_id}
    return out


class OcsfSink:
    """Appends OCSF Detection Findings as NDJSON (fsynced per finding)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise AlertSinkError(f"{path}: cannot open for OCSF: {exc.strerror or exc}") from None

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        line = json.dumps(to_ocsf(doc, incident), separators=(",", ":")) + "\n"
        append_durably(self._fd, line.encode("utf-8"), self.path)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
