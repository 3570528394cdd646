"""Certificates: issue from a CSR for enrolled devices, list, revoke, CRL download.

The CA directory (pki/) is the authority; the store's certificate index is what the API
lists and what the change audit records. Issuance is refused for a device that is not in
the inventory (404) or is quarantined (409).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from gateway.control.access import Principal
from gateway.control.auth import current_principal
from gateway.control.context import ControlContext, control_context, require_ca
from gateway.control.errors import ApiProblem
from gateway.control.routes.devices import certificate_out
from gateway.control.schemas import CertificateIn, CertificateOut, IssuedOut, RevokeIn
from gateway.store import CertificateRecord, NotFound
from pki.inventory import InventoryEntry
from pki.pem import load_csr

router = APIRouter(tags=["certificates"])
Ctx = Annotated[ControlContext, Depends(control_context)]
Who = Annotated[Principal, Depends(current_principal)]


def _record(entry: InventoryEntry) -> CertificateRecord:
    return CertificateRecord(
        serial=entry.serial, spiffe_id=entry.spiffe_id,
        not_before=datetime.fromisoformat(entry.not_before),
        not_after=datetime.fromisoformat(entry.not_after), fingerprint=entry.fingerprint,
        issued_at=datetime.fromisoformat(entry.issued_at),
    )


@router.post("/api/devices/{device_id}/certificates", response_model=IssuedOut,
             status_code=201, tags=["devices"])
def issue_certificate(device_id: str, body: CertificateIn, ctx: Ctx, who: Who) -> IssuedOut:
    """Certify the CSR's P-256 key as `spiffe://<td>/zone/<zone>/device/<device_id>`."""
    ca = require_ca(ctx)
    ctx.store.devices.get(device_id)  # NotFound: only enrolled devices get certificates
    now = datetime.now(UTC)
    if any(q.active_at(now) for q in ctx.store.quarantines.history(device_id)):
        raise ApiProblem(409, "device-quarantined",
                         f"device {device_id!r} is quarantined; release it first")
    csr = load_csr(body.csr.encode("utf-8", "replace"), "csr")
    lifetime = None if body.lifetime_seconds is None else timedelta(
        seconds=body.lifetime_seconds)
    issued = ca.issue(zone=body.zone, kind="device", name=device_id, csr=csr,
                      lifetime=lifetime)
    record = ctx.store.certificates.record(_record(issued.entry), who.actor)
    return IssuedOut(certificate=certificate_out(record, now),
                     certificate_pem=issued.certificate_pem.decode("ascii"),
                     chain_pem=issued.chain_pem.decode("ascii"))


@router.get("/api/certificates", response_model=list[CertificateOut])
def list_certificates(ctx: Ctx,
                      spiffe_id: Annotated[str | None, Query(max_length=2048)] = None,
                      revoked: bool | None = None) -> list[CertificateOut]:
    """The certificate index, newest first, with each certificate's status."""
    now = datetime.now(UTC)
    return [certificate_out(c, now)
            for c in ctx.store.certificates.list(spiffe_id=spiffe_id, revoked=revoked)]


@router.post("/api/certificates/{serial}/revoke", response_model=CertificateOut)
def revoke_certificate(serial: str, body: RevokeIn, ctx: Ctx, who: Who) -> CertificateOut:
    """Revoke in the CA (a new CRL is published at once) and in the index."""
    ca = require_ca(ctx)
    digits = serial.strip().lower().removeprefix("0x").replace(":", "")
    if not 0 < len(digits) <= 40 or any(c not in "0123456789abcdef" for c in digits):
        raise ApiProblem(422, "invalid-serial", f"not a certificate serial number: {serial!r}")
    entry = ca.revoke(int(digits, 16), body.reason)
    try:
        ctx.store.certificates.get(entry.serial)
    except NotFound:  # issued outside the API (zonegate pki issue): index it now
        ctx.store.certificates.record(_record(entry), who.actor)
    at = datetime.fromisoformat(entry.revoked_at) if entry.revoked_at else None
    record = ctx.store.certificates.revoke(entry.serial, body.reason, who.actor, at=at)
    return certificate_out(record, datetime.now(UTC))


@router.get("/crl.pem", response_class=Response, tags=["public"],
            responses={200: {"content": {"application/x-pem-file": {}}}})
def crl(ctx: Ctx) -> Response:
    """The CA's current CRL (PEM); public by design."""
    ca = require_ca(ctx)
    try:
        data = ca.crl_path.read_bytes()
    except OSError as exc:
        raise ApiProblem(503, "crl-unavailable", f"the CRL cannot be read: {exc.strerror}"
                         ) from None
    return Response(data, media_type="application/x-pem-file",
                    headers={"Cache-Control": "max-age=60"})
