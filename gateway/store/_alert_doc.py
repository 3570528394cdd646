"""Validate a contract-5 ECS alert (DESIGN.md) before it is stored.

An alert's identity is `event.id` when the emitter sets one, else ``sha256:`` over the
canonical JSON of the whole document, so re-ingesting the same NDJSON line is a no-op.
`rule.id` must be a snake_case rule name; names outside the contract-5 list are accepted so
that a new detector's alerts are not lost, and are stored as given.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.store import _validate as check
from gateway.store.errors import InvalidRecord

MAX_DOCUMENT_BYTES = 64 * 1024
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True, slots=True)
class AlertDocument:
    """The indexed fields of a valid alert, and the document itself."""

    id: str
    timestamp: datetime
    rule_id: str
    rule_name: str
    severity: int
    source_ip: str | None
    source_mac: str | None
    destination_ip: str | None
    destination_port: int | None
    device_id: str | None
    group_key: str  # alerts group by device; one naming no device, by its source IP
    message: str
    document: dict[str, object]


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_line(line: str | bytes, where: str = "alert") -> dict[str, object]:
    """Parse one NDJSON line into a JSON object; `where` names it in errors."""
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidRecord(f"{where}: not JSON: {exc.msg} at column {exc.colno}") from None
    except UnicodeDecodeError:
        raise InvalidRecord(f"{where}: not UTF-8") from None
    except RecursionError:
        raise InvalidRecord(f"{where}: not JSON: nested too deeply") from None
    except ValueError as exc:  # NaN / Infinity, refused by _reject_constant
        raise InvalidRecord(f"{where}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRecord(f"{where}: an alert is a JSON object, got {type(value).__name__}")
    return value


def _object(doc: Mapping[str, object], key: str, *, required: bool) -> Mapping[str, object]:
    value = doc.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"alert: {key}: must be an object")
    return value


def _opt_str(obj: Mapping[str, object], field: str, max_len: int) -> str | None:
    value = obj.get(field.rsplit(".", 1)[-1])
    if value is None:
        return None
    return check.text(value, f"alert: {field}", max_len=max_len)


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecord(f"alert: {field}: must be an integer from {low} to {high}, "
                            f"got {value!r}")
    return value


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidRecord("alert: @timestamp: must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"alert: @timestamp: not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidRecord(f"alert: @timestamp: no time zone in {value!r}")
    return parsed


def canonical(document: Mapping[str, object]) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8."""
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRecord(f"alert: not JSON-serialisable: {exc}") from None
    return text.encode("utf-8")


def validate(document: object) -> AlertDocument:
    """Check `document` against contract 5 and extract the indexed fields."""
    if not isinstance(document, Mapping):
        raise InvalidRecord(f"alert: must be a JSON object, got {type(document).__name__}")
    raw = canonical(document)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidRecord(f"alert: {len(raw)} bytes, more than {MAX_DOCUMENT_BYTES}")
    event = _object(document, "event", required=True)
    if event.get("kind") != "alert":
        raise InvalidRecord(f"alert: event.kind: must be 'alert', got {event.get('kind')!r}")
    severity = _int(event.get("severity"), "event.severity", 0, 100)
    category = event.get("category", [])
    if not isinstance(category, list) or not all(isinstance(c, str) for c in category):
        raise InvalidRecord("alert: event.category: must be a list of strings")
    rule = _object(document, "rule", required=True)
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise InvalidRecord(f"alert: rule.id: must be a snake_case rule name, got {rule_id!r}")
    source = _object(document, "source", required=False)
    destination = _object(document, "destination", required=False)
    device = _object(document, "device", required=False)
    source_ip = source.get("ip")
    source_mac = source.get("mac")
    destination_ip = destination.get("ip")
    port = destination.get("port")
    device_id = _opt_str(device, "device.id", 128)
    if source_ip is None and device_id is None:
        raise InvalidRecord("alert: names neither source.ip nor device.id")
    message = document.get("message", "")
    if not isinstance(message, str):
        raise InvalidRecord("alert: message: must be a string")
    event_id = event.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not _EVENT_ID.match(event_id)):
        raise InvalidRecord("alert: event.id: must be 1-128 characters of [A-Za-z0-9._:-]")
    alert_id = event_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    parsed: dict[str, object] = json.loads(raw)  # a private, plain-JSON copy
    source_ip_text = None if source_ip is None else check.ip(source_ip, "alert: source.ip")
    return AlertDocument(
        id=alert_id,
        timestamp=_timestamp(document.get("@timestamp")),
        rule_id=rule_id,
        rule_name=_opt_str(rule, "rule.name", 256) or "",
        severity=severity,
        source_ip=source_ip_text,
        source_mac=None if source_mac is None else check.mac(source_mac, "alert: source.mac"),
        destination_ip=(None if destination_ip is None
                        else check.ip(destination_ip, "alert: destination.ip")),
        destination_port=None if port is None else _int(port, "destination.port", 0, 65535),
        device_id=device_id,
        group_key=device_id or source_ip_text or "",
        message=message[:10_000],
        document=parsed,
    )

