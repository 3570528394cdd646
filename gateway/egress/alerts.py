"""Egress alerts in the contract-5 shape, delivered off the proxy's event loop.

Two rules (to be added to DESIGN.md contract 5's list): `egress_blocked` (the policy
refused a destination, or the terminal is quarantined or unidentifiable) and
`egress_dlp` (an outbound body or query above the terminal's ceiling was blocked or
masked). Documents are written to an NDJSON file and/or POSTed to the control plane by
the monitor's `HttpSink` (spooled to disk while it is down, none lost). Delivery runs on
one worker thread so that a slow control plane never stalls the proxy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.egress.identify import Terminal
from monitor.alerts import Detection, Incident, rfc3339
from monitor.errors import MonitorError
from monitor.sinks.http import HttpSink
from monitor.sinks.ndjson import append_durably

RULESET = "zonegate-egress"
EGRESS_BLOCKED = "egress_blocked"
EGRESS_DLP = "egress_dlp"
_RULES = {
    EGRESS_BLOCKED: ("Egress request to a destination the terminal may not reach", 47,
                     "T1071.001"),
    EGRESS_DLP: ("Egress request carrying data above the terminal's level", 73, "T1041"),
}


@dataclass(frozen=True, slots=True)
class EgressEvent:
    """One refused or masked outbound request, as the alert will tell it."""

    rule_id: str
    terminal: Terminal
    host: str
    port: int
    method: str
    reasons: tuple[str, ...]
    decision_id: str = ""
    level: str | None = None
    max_level: str | None = None
    action: str = "blocked"  # "blocked" | "masked"


def to_ecs(event: EgressEvent, now: float) -> dict[str, object]:
    """The contract-5 ECS document for one egress event."""
    name, severity, technique = _RULES[event.rule_id]
    term = event.terminal
    source: dict[str, object] = {"ip": term.source_ip}
    if term.mac:
        source["mac"] = term.mac
    destination: dict[str, object] = {"domain": event.host, "port": event.port}
    if _is_ip(event.host):
        destination = {"ip": event.host, "port": event.port}
    evidence: dict[str, object] = {
        "reasons": list(event.reasons), "method": event.method, "action": event.action,
        "identified_by": term.identified_by, "decision_id": event.decision_id,
    }
    if event.level is not None:
        evidence.update(level=event.level, max_level=event.max_level)
    who = term.device_id or term.source_ip
    return {
        "@timestamp": rfc3339(now),
        "event": {"kind": "alert", "category": ["network", "intrusion_detection"],
                  "severity": severity, "action": f"egress-{event.action}"},
        "rule": {"id": event.rule_id, "name": name, "ruleset": RULESET},
        "source": source,
        "destination": destination,
        "network": {"transport": "tcp", "protocol": "http"},
        "threat": {"framework": "MITRE ATT&CK", "technique": {"id": [technique]}},
        "device": {"id": term.device_id or None},
        "message": f"{who} {event.method} {event.host}:{event.port} {event.action}: "
                   f"{', '.join(event.reasons)}",
        "zonegate": {"evidence": evidence},
    }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AlertDispatcher:
    """Queues alert documents; one worker thread appends and POSTs them in order."""

    def __init__(self, *, ndjson: Path | None = None, sink: HttpSink | None = None,
                 clock: Callable[[], float] | None = None, max_queue: int = 10_000) -> None:
        self._ndjson = ndjson
        self._sink = sink
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC).timestamp())
        self._queue: queue.Queue[tuple[str, dict[str, object]] | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="egress-alerts", daemon=True)
        self.dropped = 0
        self.errors: list[str] = []
        self._thread.start()

    def emit(self, event: EgressEvent) -> dict[str, object]:
        """Queue the alert for `event`; returns its document."""
        doc = to_ecs(event, self._clock())
        try:
            self._queue.put_nowait((event.rule_id, doc))
        except queue.Full:
            self.dropped += 1
        return doc

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, rule_id: str, doc: dict[str, object]) -> None:
        if self._ndjson is not None:
            line = json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
            try:
                fd = os.open(self._ndjson, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                try:
                    append_durably(fd, line.encode("utf-8"), self._ndjson)
                finally:
                    os.close(fd)
            except (OSError, MonitorError) as exc:
                self.errors.append(f"{self._ndjson}: {exc}")
        if self._sink is not None:
            # HttpSink takes the monitor's incident too; only the document is sent
            detection = Detection(rule_id, 0.0, (), 0, str(doc["message"]))
            try:
                self._sink.emit(doc, Incident("egress", detection, detection, 0.0, 0.0))
            except MonitorError as exc:
                self.errors.append(str(exc))

    def flush(self) -> None:
        """Wait until every queued alert was handled."""
        self._queue.join()

    def close(self) -> None:
        """Deliver what is queued, replay the spool once, stop the worker."""
        self._queue.put(None)
        self._thread.join()
        if self._sink is not None:
            try:
                self._sink.close()
            except MonitorError as exc:
                self.errors.append(str(exc))
