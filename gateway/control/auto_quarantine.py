"""Auto-quarantine: a severe ingested alert quarantines its device (`control.auto_quarantine`).

The monitor holds a certificate that may post alerts and nothing else; the decision to cut
a device off is taken here, by the control plane, against the operator's configuration, so
the machine credential stays narrow. `decide` is pure (configuration, alert, caller, clock
in; an order or None out); `apply` makes the store calls:

1. the device is added to the inventory if it is missing (a `DeviceObservation` from the
   alert's `device.id`, `source.mac` and `source.ip`, by the ingesting principal), unless
   the configuration exempts it;
2. unless it is already quarantined, an officer has marked it `trusted` (the monitor's
   own response never quarantines a trusted device either), or the configuration exempts
   it (`exempt_devices`, `exempt_networks`: what the monitor's `trusted_devices` and
   `gateway_ips` are to its own response), it is quarantined with reason
   ``"<rule.id>: <message>"`` until now + `duration_seconds`, by
   ``auto-quarantine:<principal>``;
3. the outcome is audited as `alert.auto-quarantine` on ``alert:<id>``.

That audit row is also what makes this idempotent by alert id: an alert whose row exists
is never acted on again, so re-posting it (the monitor's spool replay) does not
quarantine a device an officer has since released, while an alert whose first delivery
failed half-way (stored, then the store went away) is handled when it is delivered again.
Two concurrent first deliveries of one alert may both act; the second then finds the
device quarantined unless both pass that check together (two quarantine rows, both
audited; releasing the device ends both).

The device is named by `device.id`, else by `source.mac` (the monitor's own device ids are
MACs). An address alone identifies no device (DHCP reassigns it; `arp_spoof` reports the
claimed address), so such an alert never quarantines anything. For `arp_spoof` the address
is not recorded either: it is the victim's, not the spoofer's.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.config import AutoQuarantine
from gateway.netset import NetworkSet
from gateway.store import DeviceObservation, InvalidRecord, NotFound, QuarantineRecord, Store
from gateway.store import _validate as check
from gateway.store._alert_doc import AlertDocument, validate

ACTION = "alert.auto-quarantine"
ACTOR_PREFIX = "auto-quarantine:"
MAX_REASON = 500  # characters of "<rule.id>: <message>"
_MAX_ACTOR = 128  # the store's limit on an actor name
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_NOT_OWN_ADDRESS = frozenset({"arp_spoof"})  # source.ip is the address claimed, not owned


@dataclass(frozen=True, slots=True)
class QuarantineOrder:
    """What one alert asks the store to do."""

    alert_id: str
    rule_id: str
    severity: int
    device: DeviceObservation  # recorded if the inventory does not have the device
    reason: str
    until: datetime
    exempt: str | None = None  # "device" or "network": the configuration spares it


@dataclass(frozen=True, slots=True)
class AutoQuarantined:
    """A quarantine one alert started."""

    alert_id: str
    rule_id: str
    device_id: str
    quarantine_id: int
    until: datetime | None
    device_created: bool  # the device was added to the inventory for it


def reason_of(rule_id: str, message: str) -> str:
    """``"<rule.id>: <message>"`` on one line, at most MAX_REASON characters."""
    text = _CONTROL.sub(" ", f"{rule_id}: {message}".strip()).strip()
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def actor_of(principal: str) -> str:
    """``auto-quarantine:<principal>``, shortened with a hash past the store's limit."""
    name = ACTOR_PREFIX + principal
    if len(name) <= _MAX_ACTOR:
        return name
    digest = hashlib.sha256(principal.encode()).hexdigest()[:16]
    return name[:_MAX_ACTOR - 24] + "#sha256:" + digest


def decide(config: AutoQuarantine | None, alert: AlertDocument, *, ingester: bool,
           now: datetime) -> QuarantineOrder | None:
    """The quarantine `alert` calls for under `config`, or None.

    `ingester` says whether the caller posted as an alert ingester (its certificate is in
    `control.ingesters`); `now` starts the quarantine's duration.
    """
    if config is None or not config.enabled or (config.ingesters_only and not ingester):
        return None
    if alert.severity < config.min_severity:
        return None
    if config.rules and alert.rule_id not in config.rules:
        return None
    device_id = alert.device_id or alert.source_mac
    if device_id is None:
        return None
    own_ip = alert.source_ip if alert.rule_id not in _NOT_OWN_ADDRESS else None
    observation = DeviceObservation(
        id=device_id, seen_at=alert.timestamp, mac=alert.source_mac,
        ips=(own_ip,) if own_ip is not None else ())
    return QuarantineOrder(alert_id=alert.id, rule_id=alert.rule_id, severity=alert.severity,
                           device=observation, reason=reason_of(alert.rule_id, alert.message),
                           until=now + timedelta(seconds=config.duration_seconds),
                           exempt=exemption(config, alert, own_ip))


def _device_key(name: str) -> str:
    """A MAC in the store's canonical form, any other device id as it is."""
    try:
        return check.mac(name)
    except InvalidRecord:
        return name


@functools.lru_cache(maxsize=8)
def _exempt_sets(devices: tuple[str, ...],
                 networks: tuple[str, ...]) -> tuple[frozenset[str], NetworkSet]:
    return frozenset(map(_device_key, devices)), NetworkSet(networks)


def exemption(config: AutoQuarantine, alert: AlertDocument,
              own_ip: str | None) -> str | None:
    """Why the configuration spares the host `alert` names ("device", "network"), or None.

    The device is matched by `device.id` and `source.mac` (MACs in any notation); the
    network by the host's own address (`own_ip`: the alert's source.ip unless that is an
    address claimed) and by the address of an ``ip:<address>`` device (a host behind a
    router, named by the monitor by its address).
    """
    if not config.exempt_devices and not config.exempt_networks:
        return None
    devices, networks = _exempt_sets(config.exempt_devices, config.exempt_networks)
    names = (alert.device_id, alert.source_mac)
    if any(name is not None and _device_key(name) in devices for name in names):
        return "device"
    addresses = [own_ip]
    if alert.device_id is not None and alert.device_id.startswith("ip:"):
        addresses.append(alert.device_id[3:])
    if any(address is not None and address in networks for address in addresses):
        return "network"
    return None


def _could_match(config: AutoQuarantine, document: Mapping[str, object]) -> bool:
    # a cheap look before the full validation, so a large batch of minor alerts costs
    # nothing extra; anything unexpected goes on to `validate`
    event, rule = document.get("event"), document.get("rule")
    severity = event.get("severity") if isinstance(event, Mapping) else None
    if isinstance(severity, int) and severity < config.min_severity:
        return False
    rule_id = rule.get("id") if isinstance(rule, Mapping) else None
    return not (config.rules and isinstance(rule_id, str) and rule_id not in config.rules)


def orders(config: AutoQuarantine | None, documents: Iterable[Mapping[str, object]], *,
           ingester: bool, now: datetime) -> list[QuarantineOrder]:
    """The orders of a request's alerts, in order.

    An alert that does not validate gives no order: the store refuses it at ingest.
    """
    if config is None or not config.enabled or (config.ingesters_only and not ingester):
        return []
    found: list[QuarantineOrder] = []
    for document in documents:
        if not _could_match(config, document):
            continue
        try:
            alert = validate(document)
        except InvalidRecord:
            continue
        order = decide(config, alert, ingester=ingester, now=now)
        if order is not None:
            found.append(order)
    return found


def _handled(store: Store, alert_id: str) -> bool:
    page = store.audit.list(target=f"alert:{alert_id}", action=ACTION, limit=1)
    return bool(page.items)


def apply(store: Store, ordered: Iterable[QuarantineOrder], *, principal: str,
          now: datetime) -> list[AutoQuarantined]:
    """Carry out the orders of alerts not acted on before (call once the alerts are
    stored); returns the quarantines started. A device already quarantined (also by an
    earlier order of the same request) is not quarantined again."""
    done: list[AutoQuarantined] = []
    by = actor_of(principal)
    for order in ordered:
        if _handled(store, order.alert_id):
            continue
        active: list[QuarantineRecord] = []
        if order.exempt is not None:  # the inventory and the quarantines stay untouched
            created, quarantine = False, None
            skipped: str | None = f"exempt-{order.exempt}"
        else:
            created, active, quarantine, skipped = _act(store, order, by, principal, now)
        store.audit.record(by, ACTION, f"alert:{order.alert_id}", {
            "device_id": order.device.id, "rule_id": order.rule_id,
            "severity": order.severity, "device_created": created,
            "quarantine_id": None if quarantine is None else quarantine.id,
            "already_quarantined": [q.id for q in active],
            "skipped": skipped,
        })
        if quarantine is not None:
            done.append(AutoQuarantined(
                alert_id=order.alert_id, rule_id=order.rule_id, device_id=order.device.id,
                quarantine_id=quarantine.id, until=quarantine.until, device_created=created))
    return done


def _act(store: Store, order: QuarantineOrder, by: str, principal: str, now: datetime
         ) -> tuple[bool, list[QuarantineRecord], QuarantineRecord | None, str | None]:
    """Record the device if missing and quarantine it unless that is already done or an
    officer trusts it: (device created, active quarantines, new quarantine, why skipped)."""
    device_id = order.device.id
    try:
        trusted = store.devices.get(device_id).trust == "trusted"
        created = False
    except NotFound:
        _record, created = store.devices.upsert(order.device, by=principal)
        trusted = False
    # not released and not expired: one this very request started (its `since` is the
    # store's clock, a moment after `now`) counts too
    active = [q for q in store.quarantines.history(device_id)
              if q.released_at is None and (q.until is None or q.until > now)]
    # an officer's `trusted` verdict exempts the device from automatic quarantine, as
    # the monitor's own response does; only an officer quarantines it then
    quarantine = None if active or trusted else store.quarantine(
        device_id, order.reason, by, until=order.until)
    return created, active, quarantine, "trusted" if trusted and not active else None
