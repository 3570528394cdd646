"""The issued-certificate index: serial, SPIFFE ID, validity, revocation.

The PKI holds the certificates themselves; this index lets officers find what was issued
to whom and feeds revocation (CRL) and the console.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from gateway.store import _validate
from gateway.store._db import Database
from gateway.store.errors import Conflict, InvalidRecord, NotFound
from gateway.store.models import Certificate
from gateway.store.types import CertificateRecord

# RFC 5280 CRLReason names, as cryptography's x509.ReasonFlags values spell them
REVOCATION_REASONS = (
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise",
)
_SPIFFE = re.compile(r"^spiffe://[a-z0-9.\-_]{1,255}(/[A-Za-z0-9._\-]+)*$")
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")


def serial(value: object) -> str:
    """A serial number as lower-case hex without separators or leading zeros."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return format(value, "x")
    if isinstance(value, str):
        digits = value.strip().lower().removeprefix("0x").replace(":", "")
        if re.fullmatch(r"[0-9a-f]{1,40}", digits) and int(digits, 16) > 0:
            return digits.lstrip("0")
    raise InvalidRecord(f"serial: not a certificate serial number (1-20 octets): {value!r}")


def _record(row: Certificate) -> CertificateRecord:
    return CertificateRecord(serial=row.serial, spiffe_id=row.spiffe_id,
                             not_before=row.not_before, not_after=row.not_after,
                             fingerprint=row.fingerprint, issued_at=row.issued_at,
                             revoked_at=row.revoked_at, revoked_by=row.revoked_by,
                             revocation_reason=row.revocation_reason)


class CertificateRepository:
    """Certificates the CA issued, and which are revoked."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, cert: CertificateRecord, by: str) -> CertificateRecord:
        """Index a newly issued certificate; Conflict if its serial is already indexed."""
        _validate.actor(by)
        number = serial(cert.serial)
        if not isinstance(cert.spiffe_id, str) or not _SPIFFE.match(cert.spiffe_id) \
                or len(cert.spiffe_id) > 2048:
            raise InvalidRecord(f"spiffe_id: not a SPIFFE ID: {cert.spiffe_id!r}")
        begin = _validate.aware(cert.not_before, "not_before")
        end = _validate.aware(cert.not_after, "not_after")
        if end <= begin:
            raise InvalidRecord("not_after: must be after not_before")
        if cert.fingerprint is not None and not _FINGERPRINT.match(cert.fingerprint):
            raise InvalidRecord("fingerprint: must be 'sha256:' and 64 lower-case hex digits")
        with self._db.write(f"record certificate {number}") as session:
            if session.get(Certificate, number) is not None:
                raise Conflict(f"certificate serial {number} is already indexed")
            row = Certificate(serial=number, spiffe_id=cert.spiffe_id, fingerprint=cert.fingerprint,
                              not_before=begin, not_after=end,
                              issued_at=cert.issued_at or self._db.now())
            session.add(row)
            self._db.audit(session, by, "certificate.record", f"certificate:{number}",
                           {"spiffe_id": cert.spiffe_id, "not_after": end.isoformat()})
            session.flush()
            return _record(row)

    def revoke(self, number: str | int, reason: str, by: str, *,
               at: datetime | None = None) -> CertificateRecord:
        """Mark a certificate revoked; Conflict if it already is."""
        _validate.actor(by)
        key = serial(number)
        if reason not in REVOCATION_REASONS:
            raise InvalidRecord(f"reason: must be one of {', '.join(REVOCATION_REASONS)}, "
                                f"got {reason!r}")
        when = self._db.now() if at is None else _validate.aware(at, "at")
        with self._db.write(f"revoke certificate {key}") as session:
            row = self._row(session, key, lock=True)
            if row.revoked_at is not None:
                raise Conflict(f"certificate {key} was already revoked at "
                               f"{row.revoked_at.isoformat()}")
            row.revoked_at, row.revoked_by, row.revocation_reason = when, by, reason
            self._db.audit(session, by, "certificate.revoke", f"certificate:{key}",
                           {"reason": reason})
            session.flush()
            return _record(row)

    def get(self, number: str | int) -> CertificateRecord:
        """The indexed certificate with this serial; NotFound if there is none."""
        key = serial(number)
        with self._db.read(f"read certificate {key}") as session:
            return _record(self._row(session, key))

    def list(self, *, spiffe_id: str | None = None, revoked: bool | None = None,
             valid_at: datetime | None = None) -> tuple[CertificateRecord, ...]:
        """Indexed certificates, newest first; `valid_at` keeps those unexpired then."""
        conditions: list[ColumnElement[bool]] = []
        if spiffe_id is not None:
            conditions.append(Certificate.spiffe_id == spiffe_id)
        if revoked is not None:
            conditions.append(Certificate.revoked_at.is_not(None) if revoked
                              else Certificate.revoked_at.is_(None))
        if valid_at is not None:
            at = _validate.aware(valid_at, "valid_at")
            conditions.extend([Certificate.not_before <= at, Certificate.not_after > at])
        with self._db.read("list certificates") as session:
            rows = session.scalars(select(Certificate).where(*conditions)
                                   .order_by(Certificate.issued_at.desc(), Certificate.serial))
            return tuple(_record(row) for row in rows)

    @staticmethod
    def _row(session: Session, key: str, *, lock: bool = False) -> Certificate:
        query = select(Certificate).where(Certificate.serial == key)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(f"certificate serial {key} is not indexed")
        return row
