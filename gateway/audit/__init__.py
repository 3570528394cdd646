"""The tamper-evident audit log: hash-chained JSONL with group commit and crash recovery."""

from gateway.audit.chain import GENESIS, ChainRecord, canonical
from gateway.audit.errors import AuditError, AuditTampered, AuditUnreadable, AuditWriteError
from gateway.audit.log import AuditLog, Recovery, SyncMode
from gateway.audit.verify import VerifyReport, verify_log

__all__ = [
    "GENESIS",
    "AuditError",
    "AuditLog",
    "AuditTampered",
    "AuditUnreadable",
    "AuditWriteError",
    "ChainRecord",
    "Recovery",
    "SyncMode",
    "VerifyReport",
    "canonical",
    "verify_log",
]
