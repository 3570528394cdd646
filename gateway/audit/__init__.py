"""The tamper-evident audit log: hash-chained JSONL with group commit and crash recovery,
and checkpoints of its durable tip kept outside the log (so a cut tail is detected)."""

from gateway.audit.chain import GENESIS, ChainRecord, canonical
from gateway.audit.checkpoint import (
    Checkpoint,
    CheckpointFile,
    CheckpointMatch,
    StoreCheckpoints,
    checkpoint_seqs,
    match_checkpoints,
    read_checkpoint_file,
    read_store_checkpoints,
)
from gateway.audit.checkpointer import AuditCheckpointer
from gateway.audit.errors import (
    AuditError,
    AuditTampered,
    AuditUnreadable,
    AuditWriteError,
    CheckpointMalformed,
    CheckpointMismatch,
    CheckpointWriteError,
)
from gateway.audit.log import AuditLog, AuditTip, Recovery, SyncMode
from gateway.audit.verify import VerifyReport, verify_log

__all__ = [
    "GENESIS",
    "AuditCheckpointer",
    "AuditError",
    "AuditLog",
    "AuditTampered",
    "AuditTip",
    "AuditUnreadable",
    "AuditWriteError",
    "ChainRecord",
    "Checkpoint",
    "CheckpointFile",
    "CheckpointMalformed",
    "CheckpointMatch",
    "CheckpointMismatch",
    "CheckpointWriteError",
    "Recovery",
    "StoreCheckpoints",
    "SyncMode",
    "VerifyReport",
    "canonical",
    "checkpoint_seqs",
    "match_checkpoints",
    "read_checkpoint_file",
    "read_store_checkpoints",
    "verify_log",
]
