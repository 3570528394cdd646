"""The live incident table on a terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from monitor.alerts import Incident, rfc3339


class LiveTable:
    """The open and recent incidents, redrawn 4 times a second with their current counts.

    The sink gets one document when an incident opens and one when it closes, like every
    sink; it keeps the `Incident` itself, which the incident book updates in place as
    detections fold into it, and rich's refresh thread renders it afresh on every redraw.
    So the count, severity and last seen of an open incident move on screen while the
    NDJSON, HTTP and other sinks still get exactly one record per opening and closing.
    """

    def __init__(self, console: Console, limit: int = 20) -> None:
        self._incidents: dict[str, Incident] = {}
        self._limit = limit
        self._live = Live(console=console, refresh_per_second=4, transient=False,
                          get_renderable=self._render)
        self._live.start()

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        self._incidents[incident.id] = incident  # drawn by the next refresh

    def refresh(self) -> None:
        """Redraw now (the refresh thread does it 4 times a second anyway)."""
        self._live.refresh()

    def _render(self) -> Table:
        table = Table(title="zonegate monitor: incidents")
        for column in ("rule", "severity", "source", "destination", "count", "first", "last"):
            table.add_column(column)
        # list() copies in one C call, so the refresh thread never sees the dict resize
        recent = sorted(list(self._incidents.values()), key=lambda i: i.last_seen,
                        reverse=True)
        for inc in recent[: self._limit]:
            det = inc.last
            dst = f"{det.dst_ip}:{det.dst_port}" if det.dst_port is not None else det.dst_ip
            table.add_row(det.rule_id, str(inc.severity), det.src_ip or det.src_mac or "",
                          dst or "", str(inc.count), rfc3339(inc.first_seen)[11:23],
                          rfc3339(inc.last_seen)[11:23])
        return table

    def close(self) -> None:
        self._live.refresh()
        self._live.stop()
