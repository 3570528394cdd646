"""Fold detections into incidents and hand the alert documents to the sinks.

An incident opens on its first detection (one "incident-opened" alert, at once, so the
response can act) and closes after `idle_seconds` without a new detection, or at the end of
the run; the close emits one "incident-closed" alert carrying the final count when more
detections arrived after the open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

from monitor.alerts import Detection, Incident, to_ecs


class AlertSink(Protocol):
    """Where alert documents go (NDJSON file, HTTP, syslog, terminal)."""

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        """Deliver one alert document. Raise AlertSinkError only for a fatal fault."""

    def close(self) -> None:
        """Flush and release resources."""


class IncidentBook:
    """Open incidents keyed by (rule id, detection key)."""

    def __init__(self, sinks: Sequence[AlertSink], idle_seconds: float,
                 on_open: Callable[[Incident], None] | None = None) -> None:
        self._sinks = list(sinks)
        self._idle = idle_seconds
        self._open: dict[tuple[object, ...], Incident] = {}
        self._on_open = on_open
        self.opened = 0
        self.by_rule: dict[str, int] = {}

    def report(self, det: Detection) -> Incident:
        """Add a detection: open a new incident or fold into the open one."""
        key = (det.rule_id, *det.key)
        incident = self._open.get(key)
        if incident is not None and det.ts - incident.last_seen <= self._idle:
            incident.count += det.count
            incident.last = det
            incident.last_seen = max(incident.last_seen, det.ts)
            incident.severity = max(incident.severity, det.severity)
            return incident
        if incident is not None:
            self._close(key, incident)
        digest = hashlib.sha256(repr((key, det.ts)).encode()).hexdigest()[:20]
        incident = Incident(digest, det, det, det.ts, det.ts, det.count, det.severity,
                            det.count)
        self._open[key] = incident
        self.opened += 1
        self.by_rule[det.rule_id] = self.by_rule.get(det.rule_id, 0) + 1
        self._send(incident, "incident-opened")
        if self._on_open is not None:
            self._on_open(incident)
        return incident

    def expire(self, now: float) -> None:
        """Close incidents idle for longer than the idle window (capture time)."""
        stale = [k for k, inc in self._open.items() if now - inc.last_seen > self._idle]
        for key in stale:
            self._close(key, self._open[key])

    def close_all(self) -> None:
        """Close every open incident (end of the run)."""
        for key, incident in list(self._open.items()):
            self._close(key, incident)

    def poll_sinks(self) -> None:
        """Let sinks with background work (the HTTP spool's replay) do it; ~once a second."""
        for sink in self._sinks:
            poll = getattr(sink, "poll", None)
            if callable(poll):
                poll()

    def open_incidents(self) -> list[Incident]:
        return list(self._open.values())

    def _close(self, key: tuple[object, ...], incident: Incident) -> None:
        del self._open[key]
        if incident.count > incident.reported_count:
            incident.reported_count = incident.count
            self._send(incident, "incident-closed")

    def _send(self, incident: Incident, action: str) -> None:
        doc = to_ecs(incident, action)
        for sink in self._sinks:
            sink.emit(doc, incident)
