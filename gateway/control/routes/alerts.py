"""Alerts: ingest (the monitor's HttpSink), list, filter, search, triage, group, export.

`POST /api/alerts` takes exactly what `monitor.sinks.http.HttpSink` sends: one contract-5
alert as a JSON object, `Content-Type: application/json`. Ingest is idempotent by alert id
(`event.id`, else the SHA-256 of the canonical document): 201 when stored, 200 when it
was already there. With `control.auto_quarantine` configured, both ingest endpoints then
quarantine the devices of the severe alerts they stored, in the same request
(gateway/control/auto_quarantine.py), and list them under `quarantined`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from gateway.control import auto_quarantine
from gateway.control.access import ALERT_INGESTER, Principal
from gateway.control.auth import current_principal
from gateway.control.context import ControlContext, control_context, json_object, read_body
from gateway.control.errors import ApiProblem
from gateway.control.schemas import (
    AlertOut,
    AssignIn,
    AutoQuarantinedOut,
    BatchOut,
    CommentIn,
    CommentOut,
    GroupOut,
    IngestOut,
    PageOut,
    RetentionIn,
    RetentionOut,
    StatusIn,
)
from gateway.store import AlertFilter, AlertRecord, AlertStatus, Store
from gateway.store._alert_doc import MAX_DOCUMENT_BYTES

T = TypeVar("T")
router = APIRouter(tags=["alerts"])
Ctx = Annotated[ControlContext, Depends(control_context)]
Who = Annotated[Principal, Depends(current_principal)]
MAX_ALERT_BYTES = MAX_DOCUMENT_BYTES
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_BATCH_ALERTS = 10_000
CSV_COLUMNS = ("id", "timestamp", "rule_id", "rule_name", "severity", "status", "assignee",
               "group_key", "device_id", "source_ip", "source_mac", "destination_ip",
               "destination_port", "message")


class AlertQuery:
    """The filter query parameters shared by list, groups and export."""

    def __init__(
        self,
        status: Annotated[list[AlertStatus] | None,
                          Query(description="repeat for several")] = None,
        rule_id: Annotated[str | None, Query(max_length=64)] = None,
        group_key: Annotated[str | None, Query(max_length=128,
                                               description="device id or source IP")] = None,
        min_severity: Annotated[int | None, Query(ge=0, le=100)] = None,
        since: AwareDatetime | None = None,
        until: AwareDatetime | None = None,
        assignee: Annotated[str | None, Query(max_length=128)] = None,
        q: Annotated[str | None, Query(max_length=256,
                                       description="text in message, rule name or id")] = None,
    ) -> None:
        statuses: tuple[AlertStatus, ...] = tuple(status or ())
        self.filter = AlertFilter(status=statuses, rule_id=rule_id, group_key=group_key,
                                  min_severity=min_severity, since=since, until=until,
                                  assignee=assignee, text=q or None)


Filter = Annotated[AlertQuery, Depends()]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=1024)]


def _store_then_quarantine(ctx: ControlContext, who: Principal,
                           documents: list[dict[str, object]],
                           store_alerts: Callable[[], T],
                           ) -> tuple[T, list[AutoQuarantinedOut] | None]:
    """Store the alerts with `store_alerts`, then quarantine the devices of the severe ones
    (None: auto-quarantine is off)."""
    config = ctx.config.control.auto_quarantine
    now = datetime.now(UTC)
    ordered = auto_quarantine.orders(config, documents, ingester=ALERT_INGESTER in who.roles,
                                     now=now)
    stored = store_alerts()
    if config is None or not config.enabled:
        return stored, None
    done = auto_quarantine.apply(ctx.store, ordered, principal=who.actor, now=now)
    return stored, [AutoQuarantinedOut.model_validate(q) for q in done]


@router.post("/api/alerts", response_model=IngestOut, status_code=201,
             response_model_exclude_none=True,
             responses={200: {"model": IngestOut, "description": "already stored"}})
async def ingest_alert(request: Request, response: Response, ctx: Ctx, who: Who) -> IngestOut:
    """Store one contract-5 alert (the monitor's HttpSink posts here)."""
    body = await read_body(request, MAX_ALERT_BYTES)
    document = json_object(body, "body")
    (alert_id, created), quarantined = await run_in_threadpool(
        _store_then_quarantine, ctx, who, [document],
        partial(ctx.store.alerts.ingest, document, who.actor))
    if not created:
        response.status_code = 200
    return IngestOut(id=alert_id, created=created, quarantined=quarantined)


@router.post("/api/alerts/batch", response_model=BatchOut, response_model_exclude_none=True)
async def ingest_batch(request: Request, ctx: Ctx, who: Who) -> BatchOut:
    """Store NDJSON alerts (one per line) atomically: one bad line rejects the batch."""
    body = await read_body(request, MAX_BATCH_BYTES)
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) > MAX_BATCH_ALERTS:
        raise ApiProblem(413, "batch-too-large", f"more than {MAX_BATCH_ALERTS} alerts")
    if not lines:
        raise ApiProblem(422, "empty-batch", "the body holds no alert")
    documents = [json_object(line, f"line {n}") for n, line in enumerate(lines, start=1)]
    (created, duplicates), quarantined = await run_in_threadpool(
        _store_then_quarantine, ctx, who, documents,
        partial(ctx.store.alerts.ingest_many, documents, who.actor))
    return BatchOut(created=created, duplicates=duplicates, quarantined=quarantined)


@router.get("/api/alerts", response_model=PageOut[AlertOut])
def list_alerts(ctx: Ctx, flt: Filter, limit: Limit = 50,
                cursor: Cursor = None) -> PageOut[AlertOut]:
    """Alerts newest first, filtered; `q` searches message, rule name and rule id."""
    page = ctx.store.alerts.list(flt.filter, limit=limit, cursor=cursor)
    return PageOut[AlertOut](items=[AlertOut.model_validate(a) for a in page.items],
                             next_cursor=page.next_cursor)


@router.get("/api/alerts/groups", response_model=list[GroupOut])
def alert_groups(ctx: Ctx, flt: Filter) -> list[GroupOut]:
    """Counts per device (or source IP) and rule, most recently active first."""
    return [GroupOut.model_validate(g) for g in ctx.store.alerts.groups(flt.filter)]


def _rows(store: Store, flt: AlertFilter) -> Iterator[AlertRecord]:
    cursor: str | None = None
    while True:
        page = store.alerts.list(flt, limit=500, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _cell(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else "" if value is None else str(
        value)
    # a cell a spreadsheet would run as a formula is quoted as text (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(records: Iterator[AlertRecord]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow([_cell(getattr(record, column)) for column in CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _ndjson(records: Iterator[AlertRecord]) -> Iterator[str]:
    for record in records:
        line = AlertOut.model_validate(record).model_dump(mode="json")
        yield json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


@router.get("/api/alerts/export", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
def export_alerts(ctx: Ctx, flt: Filter,
                  format: Literal["ndjson", "csv"] = "ndjson") -> StreamingResponse:
    """Every matching alert with its triage state, streamed as NDJSON or CSV."""
    ctx.store.alerts.count(flt.filter)  # validate the filter before the stream starts
    records = _rows(ctx.store, flt.filter)
    if format == "csv":
        return StreamingResponse(_csv(records), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition":
                                          'attachment; filename="alerts.csv"'})
    return StreamingResponse(_ndjson(records), media_type="application/x-ndjson",
                             headers={"Content-Disposition":
                                      'attachment; filename="alerts.ndjson"'})


@router.post("/api/alerts/retention", response_model=RetentionOut)
def apply_retention(body: RetentionIn, ctx: Ctx, who: Who) -> RetentionOut:
    """Delete resolved and false-positive alerts older than `older_than_days` (audited as
    `alert.retention`); open alerts are kept whatever their age."""
    deleted, cutoff = ctx.store.alerts.purge(body.older_than_days, who.actor,
                                             dry_run=body.dry_run)
    return RetentionOut(deleted=deleted, cutoff=cutoff, dry_run=body.dry_run)


@router.get("/api/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, ctx: Ctx) -> AlertOut:
    """One alert with its original document and triage state."""
    return AlertOut.model_validate(ctx.store.alerts.get(alert_id))


@router.post("/api/alerts/{alert_id}/assign", response_model=AlertOut)
def assign_alert(alert_id: str, body: AssignIn, ctx: Ctx, who: Who) -> AlertOut:
    """Assign to an analyst (null unassigns)."""
    return AlertOut.model_validate(ctx.store.alerts.assign(alert_id, body.assignee, who.actor))


@router.post("/api/alerts/{alert_id}/status", response_model=AlertOut)
def set_alert_status(alert_id: str, body: StatusIn, ctx: Ctx, who: Who) -> AlertOut:
    """new -> triaged -> resolved | false-positive; a closed alert can be reopened (409
    for any other move)."""
    return AlertOut.model_validate(ctx.store.alerts.set_status(alert_id, body.status,
                                                               who.actor))


@router.get("/api/alerts/{alert_id}/comments", response_model=list[CommentOut])
def list_comments(alert_id: str, ctx: Ctx) -> list[CommentOut]:
    """The triage thread, oldest first."""
    return [CommentOut.model_validate(c) for c in ctx.store.alerts.comments(alert_id)]


@router.post("/api/alerts/{alert_id}/comments", response_model=CommentOut, status_code=201)
def add_comment(alert_id: str, body: CommentIn, ctx: Ctx, who: Who) -> CommentOut:
    """Add to the triage thread; the author is the caller."""
    return CommentOut.model_validate(ctx.store.alerts.comment(alert_id, body.body, who.actor))
