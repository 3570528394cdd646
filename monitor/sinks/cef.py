"""ArcSight CEF alerts over syslog (RFC 5424 header, UDP or TCP with octet counting)."""

from __future__ import annotations

import socket
from typing import Literal

from monitor.alerts import Incident
from monitor.errors import AlertSinkError

_VERSION = "0.1.0"


def _header_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _ext_escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r", "\\r").replace("\n", "\\n"))


def to_cef(doc: dict[str, object]) -> str:
    """Render an ECS alert as one CEF:0 line (severity 0-10)."""
    event = _dict(doc.get("event"))
    rule = _dict(doc.get("rule"))
    src = _dict(doc.get("source"))
    dst = _dict(doc.get("destination"))
    net = _dict(doc.get("network"))
    sev = event.get("severity", 0)
    severity = min(10, int(sev) // 10) if isinstance(sev, int) else 0
    ext: list[tuple[str, object]] = [
        ("rt", doc.get("@timestamp")),
        ("src", src.get("ip")), ("smac", src.get("mac")),
        ("dst", dst.get("ip")), ("dpt", dst.get("port")),
        ("proto", net.get("transport")),
        ("cs1Label", "communityId"), ("cs1", net.get("community_id")),
        ("cs2Label", "incidentId"), ("cs2", event.get("id")),
        ("cs3Label", "attackTechniques"),
        ("cs3", ",".join(_list(_dict(_dict(doc.get("threat")).get("technique")).get("id")))),
        ("cnt", _dict(_dict(doc.get("zonegate")).get("incident")).get("count")),
        ("act", event.get("action")),
        ("msg", doc.get("message")),
    ]
    extension = " ".join(f"{k}={_ext_escape(str(v))}" for k, v in ext if v not in (None, ""))
    head = "|".join(_header_escape(str(x)) for x in (
        "CEF:0", "zonegate", "monitor", _VERSION, rule.get("id", ""), rule.get("name", ""),
        severity,
    ))
    return f"{head}|{extension}"


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


class CefSyslogSink:
    """Sends each alert as a syslog message whose body is CEF."""

    def __init__(self, host: str, port: int, transport: Literal["udp", "tcp"] = "udp",
                 hostname: str | None = None) -> None:
        self._addr = (host, port)
        self._transport = transport
        self._hostname = hostname or socket.gethostname() or "-"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            if transport == "udp":
                self._sock = socket.socket(family, socket.SOCK_DGRAM)
            else:
                self._sock = socket.create_connection(self._addr, timeout=5)
        except OSError as exc:
            raise AlertSinkError(f"syslog {host}:{port}/{transport}: {exc}") from None
        self.sent = 0

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        sev = incident.severity
        # facility local4 (20); syslog severity from the alert's: crit/err/warning/notice
        level = 2 if sev >= 80 else 3 if sev >= 60 else 4 if sev >= 40 else 5
        pri = 20 * 8 + level
        message = (f"<{pri}>1 {doc.get('@timestamp')} {self._hostname} zonegate-monitor - - - "
                   f"{to_cef(doc)}").encode()
        try:
            if self._transport == "udp":
                self._sock.sendto(message, self._addr)
            else:
                self._sock.sendall(str(len(message)).encode() + b" " + message)
        except OSError as exc:
            raise AlertSinkError(f"syslog {self._addr[0]}:{self._addr[1]}: {exc}") from None
        self.sent += 1

    def close(self) -> None:
        self._sock.close()
