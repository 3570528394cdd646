"""The store's exception tree.

    StoreError
    ├── StoreConfigError     the store URL or options cannot be used
    ├── StoreUnavailable     the database cannot be reached or answered with a fault
    │   └── TrustUnavailable no device-trust snapshot has ever been loaded
    ├── MigrationError       the schema cannot be brought to the code's revision
    ├── InvalidRecord        input that does not fit the record (malformed alert, bad MAC, …)
    ├── InvalidCursor        a pagination cursor that this store did not hand out
    ├── NotFound             the record the caller names does not exist
    └── Conflict             the change contradicts what is stored (bad status transition,
                             duplicate key, activating a revision whose tests failed)

Every message names the record, field or URL at fault. Nothing is swallowed: a database
fault in the middle of a change rolls the whole change back and surfaces as one of these.
"""

from __future__ import annotations

from gateway.errors import GatewayError


class StoreError(GatewayError):
    """Base of every error the store raises on purpose."""


class StoreConfigError(StoreError):
    """The store URL or an option cannot be used; the message names it."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or failed; nothing was half-written."""


class TrustUnavailable(StoreUnavailable):
    """No device-trust snapshot was ever loaded, so trust cannot be answered (fail closed)."""


class MigrationError(StoreError):
    """The schema cannot be migrated, or is at a revision this code does not know."""


class InvalidRecord(StoreError):
    """Input that does not fit a record; the message names the field path."""


class InvalidCursor(StoreError):
    """A pagination cursor that is malformed or was not made by this store."""


class NotFound(StoreError):
    """The named record does not exist."""


class Conflict(StoreError):
    """The change contradicts what is stored."""
