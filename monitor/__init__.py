"""zonegate monitor: IoT terminal inventory, learned baselines, detections and alerts.

Depends on nothing else of zonegate except the alert schema (DESIGN.md contract 5).

Layout: `pcapio` (streaming pcap/pcapng) and `capture` (live, the only scapy importer) feed
`decode` (raw header decoding into `model.Packet`); `engine` routes packets to `inventory`,
`protocols/*` parsers and `detectors/*`; `incidents` folds detections into alerts for
`sinks/*`; `quarantine` is the response file the gateway reads.
"""

from __future__ import annotations

from monitor.errors import MonitorError, QuarantineError
from monitor.quarantine import QuarantineEntry, QuarantineList, load_quarantine

__all__ = ["MonitorError", "QuarantineEntry", "QuarantineError", "QuarantineList",
           "load_quarantine"]
