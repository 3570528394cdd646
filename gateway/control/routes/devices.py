"""Devices: inventory, quarantine and release (with reason and expiry), trust, certificates.

A quarantine written here is what the gateways' `StoreTrustSource` snapshots into
`input.device.trust`, so it reaches policy within one refresh interval.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.control.access import Principal
from gateway.control.auth import current_principal
from gateway.control.context import ControlContext, control_context
from gateway.control.errors import ApiProblem
from gateway.control.schemas import (
    ActiveQuarantineOut,
    CertificateOut,
    DeviceDetailOut,
    DeviceOut,
    PageOut,
    QuarantineIn,
    QuarantineOut,
    TrustIn,
)
from gateway.store import CertificateRecord

router = APIRouter(tags=["devices"])
Ctx = Annotated[ControlContext, Depends(control_context)]
Who = Annotated[Principal, Depends(current_principal)]


def certificate_out(record: CertificateRecord, now: datetime) -> CertificateOut:
    """A certificate with its status at `now`."""
    out = CertificateOut.model_validate(record)
    if record.revoked_at is not None:
        out.status = "revoked"
    elif now >= record.not_after:
        out.status = "expired"
    elif now < record.not_before:
        out.status = "not-yet-valid"
    return out


def device_certificates(ctx: ControlContext, device_id: str) -> list[CertificateOut]:
    """Certificates whose SPIFFE ID names this device (in any zone), newest first."""
    now = datetime.now(UTC)
    return [certificate_out(c, now) for c in ctx.store.certificates.list()
            if c.spiffe_id.rsplit("/", 2)[-2:] == ["device", device_id]]


@router.get("/api/devices", response_model=PageOut[DeviceOut])
def list_devices(ctx: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 cursor: Annotated[str | None, Query(max_length=1024)] = None,
                 ) -> PageOut[DeviceOut]:
    """The inventory by device id, in pages."""
    page = ctx.store.devices.list(limit=limit, cursor=cursor)
    return PageOut[DeviceOut](items=[DeviceOut.model_validate(d) for d in page.items],
                              next_cursor=page.next_cursor)


@router.get("/api/quarantines", response_model=list[ActiveQuarantineOut])
def active_quarantines(ctx: Ctx) -> list[ActiveQuarantineOut]:
    """Quarantines in force now, with the addresses the gateway matches."""
    return [ActiveQuarantineOut.model_validate(q) for q in ctx.store.quarantines.active()]


@router.get("/api/devices/{device_id}", response_model=DeviceDetailOut)
def get_device(device_id: str, ctx: Ctx) -> DeviceDetailOut:
    """One device: inventory record, effective trust, quarantine history, certificates."""
    device = ctx.store.devices.get(device_id)
    history = ctx.store.quarantines.history(device_id)
    now = datetime.now(UTC)
    quarantined = any(q.active_at(now) for q in history)
    return DeviceDetailOut(
        device=DeviceOut.model_validate(device),
        effective_trust="quarantined" if quarantined else device.trust,
        quarantines=[QuarantineOut.model_validate(q) for q in history],
        certificates=device_certificates(ctx, device_id),
    )


@router.post("/api/devices/{device_id}/quarantine", response_model=QuarantineOut,
             status_code=201)
def quarantine_device(device_id: str, body: QuarantineIn, ctx: Ctx, who: Who) -> QuarantineOut:
    """Cut the device off until `until` (or for `duration_seconds`, or until released)."""
    if body.until is not None and body.duration_seconds is not None:
        raise ApiProblem(422, "validation-error", "give until or duration_seconds, not both")
    until = body.until
    if body.duration_seconds is not None:
        until = datetime.now(UTC) + timedelta(seconds=body.duration_seconds)
    record = ctx.store.quarantines.quarantine(device_id, body.reason, who.actor, until=until)
    return QuarantineOut.model_validate(record)


@router.post("/api/devices/{device_id}/release", response_model=list[QuarantineOut])
def release_device(device_id: str, ctx: Ctx, who: Who) -> list[QuarantineOut]:
    """End the device's active quarantines (404 when none is active)."""
    return [QuarantineOut.model_validate(q)
            for q in ctx.store.quarantines.release(device_id, who.actor)]


@router.put("/api/devices/{device_id}/trust", response_model=DeviceOut)
def set_trust(device_id: str, body: TrustIn, ctx: Ctx, who: Who) -> DeviceOut:
    """Record an officer's verdict; an active quarantine still overrides `trusted`."""
    return DeviceOut.model_validate(ctx.store.devices.set_trust(device_id, body.trust,
                                                                who.actor))
