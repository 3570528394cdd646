"""monitor's exception tree.

    MonitorError
    ├── MonitorConfigError   the YAML configuration is missing, malformed or has unknown keys
    ├── CaptureError         a capture file or interface cannot be read
    ├── InventoryError       the inventory file is malformed or cannot be written
    ├── QuarantineError      the quarantine file is malformed or cannot be written
    └── AlertSinkError       an alert destination is misconfigured or refuses writes
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


class MonitorConfigError(MonitorError):
    """The monitor configuration is invalid; the message names the file and field."""


class CaptureError(MonitorError):
    """A capture file or interface cannot be read."""


class InventoryError(MonitorError):
    """The device inventory file is malformed or cannot be written."""


class QuarantineError(MonitorError):
    """The quarantine list file is malformed or cannot be written."""


class AlertSinkError(MonitorError):
    """An alert destination is misconfigured or cannot be written."""


__all__ = [
    "AlertSinkError",
    "CaptureError",
    "InventoryError",
    "MonitorConfigError",
    "MonitorError",
    "QuarantineError",
]
