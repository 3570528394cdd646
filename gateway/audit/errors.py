"""The audit log's exception tree.

    AuditError
    ├── AuditUnreadable   the file cannot be read or is not an audit log at all (exit 2)
    │   └── CheckpointMalformed  a checkpoint file line or store row is not one (exit 2)
    ├── AuditTampered     the hash chain is broken; names the first bad line (exit 1)
    ├── CheckpointMismatch  the chain is whole but a checkpoint saw records it no longer
    │                       holds: its tail was cut or it was rewritten (exit 1)
    ├── CheckpointWriteError  a checkpoint could not be written (logged and counted)
    └── AuditWriteError   a record cannot be made durable; the gateway fails closed
"""

from __future__ import annotations

from gateway.errors import GatewayError


class AuditError(GatewayError):
    """Base of every audit log error."""


class AuditUnreadable(AuditError):
    """The audit file cannot be opened or read."""


class AuditTampered(AuditError):
    """The chain is broken at `line` (1-based); `reason` says how."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class AuditWriteError(AuditError):
    """Appending failed (disk full, I/O error, backlog full, log closed)."""


class CheckpointMalformed(AuditUnreadable):
    """A checkpoint source holds something that is not a checkpoint; names file:line."""


class CheckpointMismatch(AuditError):
    """A checkpoint of this chain names a record the log does not hold (or holds changed)."""


class CheckpointWriteError(AuditError):
    """A checkpoint sink failed; the gateway keeps serving, logs it and counts it."""
