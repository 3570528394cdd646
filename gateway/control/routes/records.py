"""Read-mostly records: decisions, the change audit, the audit log's hash chain, health."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from gateway.audit import (
    AuditTampered,
    Checkpoint,
    CheckpointMismatch,
    checkpoint_seqs,
    match_checkpoints,
    read_checkpoint_file,
    read_store_checkpoints,
    verify_log,
)
from gateway.audit.checkpointer import default_checkpoint_path
from gateway.control.access import Principal
from gateway.control.auth import current_principal
from gateway.control.context import ControlContext, control_context
from gateway.control.errors import ApiProblem
from gateway.control.schemas import (
    AuditCheckpointsOut,
    AuditOut,
    AuditVerifyOut,
    DecisionOut,
    MeOut,
    PageOut,
)
from gateway.store import DecisionFilter

router = APIRouter()
Ctx = Annotated[ControlContext, Depends(control_context)]
Who = Annotated[Principal, Depends(current_principal)]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=1024)]
Text = Annotated[str | None, Query(max_length=256)]


@router.get("/healthz", tags=["public"])
def health(ctx: Ctx) -> dict[str, str]:
    """200 when the store answers, 503 (problem) otherwise."""
    ctx.store.ping()
    return {"status": "ok"}


@router.get("/api/me", response_model=MeOut, tags=["session"])
def me(who: Who) -> MeOut:
    """Who the API takes the caller for, and the roles it holds here."""
    return MeOut(actor=who.actor, kind=who.kind, subject=who.subject,
                 roles=sorted(who.roles), spiffe_id=who.spiffe_id)


@router.get("/api/decisions", response_model=PageOut[DecisionOut], tags=["decisions"])
def search_decisions(
    ctx: Ctx, subject: Text = None, device: Text = None, zone: Text = None,
    reason: Annotated[str | None, Query(max_length=64, description="a reason code")] = None,
    allow: bool | None = None, since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    path_prefix: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Limit = 50, cursor: Cursor = None,
) -> PageOut[DecisionOut]:
    """Policy decisions newest first, by subject, device, zone, reason, outcome and time."""
    flt = DecisionFilter(subject=subject, device=device, zone=zone, allow=allow, reason=reason,
                         since=since, until=until, path_prefix=path_prefix)
    page = ctx.store.decisions.search(flt, limit=limit, cursor=cursor)
    return PageOut[DecisionOut](items=[DecisionOut.model_validate(d) for d in page.items],
                                next_cursor=page.next_cursor)


@router.get("/api/decisions/{decision_id}", response_model=DecisionOut, tags=["decisions"])
def get_decision(decision_id: str, ctx: Ctx) -> DecisionOut:
    """One decision by its id (the `decision_id` of a 403 answer)."""
    return DecisionOut.model_validate(ctx.store.decisions.get(decision_id))


@router.get("/api/audit/changes", response_model=PageOut[AuditOut], tags=["audit"])
def audit_changes(ctx: Ctx, actor: Text = None, target: Text = None, action: Text = None,
                  limit: Limit = 100, cursor: Cursor = None) -> PageOut[AuditOut]:
    """The store's change audit (who changed what, when), newest first."""
    page = ctx.store.audit.list(actor=actor, target=target, action=action, limit=limit,
                                cursor=cursor)
    return PageOut[AuditOut](items=[AuditOut.model_validate(a) for a in page.items],
                             next_cursor=page.next_cursor)


def _audit_path(ctx: ControlContext) -> Path:
    if ctx.audit_log is None:
        raise ApiProblem(503, "audit-log-not-configured",
                         "this control plane was started without an audit log")
    return ctx.audit_log


@router.get("/api/audit/log/verify", response_model=AuditVerifyOut, tags=["audit"])
async def audit_verify(ctx: Ctx) -> AuditVerifyOut:
    """Check the gateway audit log's hash chain and the checkpoints of its tail.

    A hash chain alone cannot show that records were deleted from its end; checkpoints
    can. They are read from the file beside the log (`<log>.checkpoints`) when there is
    one and from the store's change audit, as `zonegate audit verify --checkpoints FILE
    --store URL` does. `intact` false names the first bad line or the checkpoint that saw
    records the log no longer holds; an unreadable checkpoint is a 503, never "intact".
    """
    return await run_in_threadpool(_verify, ctx, _audit_path(ctx))


def _verify(ctx: ControlContext, path: Path) -> AuditVerifyOut:
    sources: list[str] = []
    found: list[Checkpoint] = []
    beside = default_checkpoint_path(path)
    if beside.is_file():
        found.extend(read_checkpoint_file(beside)[0])  # a torn last line is ignored
        sources.append(str(beside))
    found.extend(read_store_checkpoints(ctx.store.audit, "store"))
    sources.append("store")
    try:
        report = verify_log(path, anchors=checkpoint_seqs(found))
    except AuditTampered as exc:
        return AuditVerifyOut(path=str(path), intact=False, records=0, head=None, recoveries=0,
                              torn_tail=False, problem=str(exc))
    try:
        match = match_checkpoints(path, report, found)
    except CheckpointMismatch as exc:
        return AuditVerifyOut(path=str(path), intact=False, records=report.records,
                              head=report.head, recoveries=report.recoveries,
                              torn_tail=report.torn_tail, problem=str(exc))
    latest = match.latest
    anchored = AuditCheckpointsOut(
        sources=sources, read=match.read, matched=match.matched,
        latest_seq=latest.seq if latest else None, latest_time=latest.time if latest else None,
        unanchored=report.records - (latest.seq if latest else 0))
    return AuditVerifyOut(path=str(path), intact=True, records=report.records, head=report.head,
                          recoveries=report.recoveries, torn_tail=report.torn_tail,
                          checkpoints=anchored)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk


@router.get("/api/audit/log/export", response_class=StreamingResponse, tags=["audit"],
            responses={200: {"content": {"application/x-ndjson": {}}}})
def audit_export(ctx: Ctx) -> StreamingResponse:
    """The audit log as it is on disk (JSONL), for offline verification."""
    path = _audit_path(ctx)
    if not path.is_file():
        raise ApiProblem(503, "audit-unreadable", f"{path}: not a readable file")
    return StreamingResponse(_chunks(path), media_type="application/x-ndjson",
                             headers={"Content-Disposition":
                                      'attachment; filename="zonegate-audit.jsonl"'})
