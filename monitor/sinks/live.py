"""The live incident table on a terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from monitor.alerts import Incident, rfc3339


class LiveTable:
    """Redraws the open and recent incidents after each alert (at most 4 times a second)."""

    def __init__(self, console: Console, limit: int = 20) -> None:
        self._incidents: dict[str, Incident] = {}
        self._limit = limit
        self._live = Live(self._render(), console=console, refresh_per_second=4,
                          transient=False)
        self._live.start()

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        self._incidents[incident.id] = incident
        self._live.update(self._render())

    def _render(self) -> Table:
        table = Table(title="zonegate monitor: incidents")
        for column in ("rule", "severity", "source", "destination", "count", "first", "last"):
            table.add_column(column)
        recent = sorted(self._incidents.values(), key=lambda i: i.last_seen, reverse=True)
        for inc in recent[: self._limit]:
            det = inc.last
            dst = f"{det.dst_ip}:{det.dst_port}" if det.dst_port is not None else det.dst_ip
            table.add_row(det.rule_id, str(inc.severity), det.src_ip or det.src_mac or "",
                          dst or "", str(inc.count), rfc3339(inc.first_seen)[11:23],
                          rfc3339(inc.last_seen)[11:23])
        return table

    def close(self) -> None:
        self._live.update(self._render())
        self._live.stop()
