"""Walk an audit log and check every link of its hash chain."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.audit.chain import GENESIS, MalformedRecord, parse_record
from gateway.audit.errors import AuditTampered, AuditUnreadable

MAX_LINE = 1 << 20  # a record longer than this is not one we wrote


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What an intact log holds."""

    records: int
    head: str  # hash of the last record, GENESIS for an empty log
    recoveries: int  # records noting a restart after a crash
    torn_tail: bool  # the last line is incomplete (a crash the gateway has not yet noted)
    first: str | None = None  # hash of record 1: the chain's name (None for an empty log)
    last_kind: str | None = None  # kind of the last record (`shutdown` after a clean stop)
    # hash of each record asked for in `anchors` that the log holds
    hashes: Mapping[int, str] = field(default_factory=dict)


def verify_log(path: Path, progress: Callable[[int], None] | None = None, *,
               anchors: Collection[int] = ()) -> VerifyReport:
    """Check the whole chain; raise AuditTampered naming the first bad line.

    Raises AuditUnreadable when the file cannot be opened or read. A final line without
    its newline is a write cut short by a crash: it is reported (`torn_tail`), not
    treated as tampering, because the gateway notes it on restart. `progress`, when
    given, is called with the number of bytes read so far every 4096 records. The hashes
    of the records whose seq is in `anchors` are kept in the report (checkpoints).
    """
    name = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AuditUnreadable(f"{name}: cannot read: {exc.strerror}") from None
    prev, seq, count, recoveries = GENESIS, 0, 0, 0
    torn = False
    first: str | None = None
    last_kind: str | None = None
    wanted = frozenset(anchors)
    hashes: dict[int, str] = {}
    with handle:
        line_no = 0
        while True:
            try:
                line = handle.readline(MAX_LINE + 1)
            except OSError as exc:
                raise AuditUnreadable(f"{name}: read failed: {exc.strerror}") from None
            if not line:
                break
            line_no += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise AuditTampered(name, line_no, "line longer than any record we write")
                if handle.read(1) == b"":
                    torn = True
                    break
            try:
                record = parse_record(line.rstrip(b"\n"))
            except MalformedRecord as exc:
                raise AuditTampered(name, line_no, str(exc)) from None
            if record.seq != seq + 1:
                what = ("a record was deleted or moved" if record.seq > seq + 1
                        else "records reordered or duplicated")
                raise AuditTampered(
                    name, line_no, f"sequence goes from {seq} to {record.seq} ({what})"
                )
            if not hmac.compare_digest(record.prev, prev):
                where = "the start of the chain" if seq == 0 else f"line {line_no - 1}"
                raise AuditTampered(
                    name, line_no, f"prev does not match the hash of {where} (chain broken)"
                )
            prev, seq, count = record.hash, record.seq, count + 1
            last_kind = record.kind
            if seq == 1:
                first = record.hash
            if seq in wanted:
                hashes[seq] = record.hash
            if progress is not None and count % 4096 == 0:
                progress(handle.tell())
            recoveries += record.kind == "recovery"
    return VerifyReport(records=count, head=prev, recoveries=recoveries, torn_tail=torn,
                        first=first, last_kind=last_kind, hashes=hashes)
