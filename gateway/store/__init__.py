"""The store: SQLite (embedded default) or PostgreSQL (several replicas) behind one port.

`Store.open(url)` picks the backend from the URL scheme; `store.migrate()` applies the
alembic migrations; the repositories (`store.alerts`, `.devices`, `.quarantines`,
`.decisions`, `.policies`, `.certificates`, `.users`, `.audit`) are the typed API, and
`StoreTrustSource` feeds `input.device.trust` to the gateway.
"""

from gateway.store.errors import (
    Conflict,
    InvalidCursor,
    InvalidRecord,
    MigrationError,
    NotFound,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    TrustUnavailable,
)
from gateway.store.port import DeviceTrustSource, StorePort
from gateway.store.store import Store
from gateway.store.trust import StoreTrustSource, TrustSnapshot, TrustVerdict
from gateway.store.types import (
    AlertComment,
    AlertFilter,
    AlertGroup,
    AlertRecord,
    AlertStatus,
    AuditRecord,
    CertificateRecord,
    DecisionFilter,
    DecisionRecord,
    DeviceObservation,
    DeviceRecord,
    Page,
    PolicyActivationRecord,
    PolicyRevisionRecord,
    QuarantinedDevice,
    QuarantineRecord,
    Role,
    Trust,
    UserRecord,
)

__all__ = [
    "AlertComment",
    "AlertFilter",
    "AlertGroup",
    "AlertRecord",
    "AlertStatus",
    "AuditRecord",
    "CertificateRecord",
    "Conflict",
    "DecisionFilter",
    "DecisionRecord",
    "DeviceObservation",
    "DeviceRecord",
    "DeviceTrustSource",
    "InvalidCursor",
    "InvalidRecord",
    "MigrationError",
    "NotFound",
    "Page",
    "PolicyActivationRecord",
    "PolicyRevisionRecord",
    "QuarantineRecord",
    "QuarantinedDevice",
    "Role",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StorePort",
    "StoreTrustSource",
    "StoreUnavailable",
    "Trust",
    "TrustSnapshot",
    "TrustUnavailable",
    "TrustVerdict",
    "UserRecord",
]
