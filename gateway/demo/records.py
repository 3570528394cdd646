"""The shipped sample records of the demo's zone upstreams (gateway/demo/data/*.json).

All people in them are synthetic; identifiers are checksum-valid so that the gateway's
classification finds them, which is the point of the demo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from gateway.demo.errors import DemoError

ZONES = ("health", "transport", "citizen", "open")

JSONRecord = dict[str, object]


@dataclass(frozen=True, slots=True)
class ZoneRecords:
    """One zone's sample records, by id."""

    zone: str
    records: tuple[JSONRecord, ...]

    def get(self, record_id: str) -> JSONRecord | None:
        """The record with this id, or None."""
        for record in self.records:
            if record.get("id") == record_id:
                return record
        return None


def load_records(zone: str) -> ZoneRecords:
    """Read the shipped records of `zone`; DemoError if the file is missing or malformed."""
    name = f"data/{zone}.json"
    try:
        text = resources.files("gateway.demo").joinpath(name).read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DemoError(f"gateway/demo/{name}: cannot read the sample records: {exc}") from None
    records = raw.get("records") if isinstance(raw, dict) else None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in records
    ):
        raise DemoError(f"gateway/demo/{name}: 'records' must be a list of objects with an 'id'")
    return ZoneRecords(zone, tuple(records))
