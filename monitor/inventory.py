"""The ledger of sensing terminals: one DeviceRecord per MAC (or per IP without a MAC).

Records what Zeek's known-hosts/services and IoT Sentinel's fingerprinting keep: first and
last seen, vendor from OUI, DHCP hostname / vendor class / option-55 fingerprint, mDNS and
SSDP names, protocols and services, peers, byte and packet rates, the learned baseline and
the trust state. It survives restarts as a JSON file written atomically
(temp + fsync + rename); a malformed file raises InventoryError and is never overwritten.

A MAC whose frames carry other hosts' source addresses is a router, not a terminal: one that
sent from a `gateway_ips` address, is listed in `routers.macs`, or sent from
`routers.min_source_ips` distinct IPv4 addresses (or IPv6 /64 prefixes; unspecified and
link-local sources not counted) within `routers.window_seconds`. The flag is sticky and
saved (`"router": true`); a router's record keeps only its gateway IPs, so neither the
IP index nor a quarantine ever gives a routed host's address to the router.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import InventoryError
from monitor.model import Packet
from monitor.oui import is_multicast, vendor_for

TRUST_STATES = ("trusted", "unknown", "quarantined")
_MAX_IPS = 16
_MAX_NAMES = 16
_MAX_SET = 256
_MAX_SOURCES = 32  # recent source addresses tracked per MAC until it is known as a router
FORMAT_VERSION = 1

BucketListener = Callable[["DeviceRecord", int, float], None]


@dataclass(slots=True)
class DeviceRecord:
    """One terminal. `baseline` holds destination keys learned in the learning window."""

    device_id: str
    mac: str | None
    first_seen: float
    last_seen: float
    ips: set[str] = field(default_factory=set)
    vendor: str | None = None
    dhcp_hostname: str | None = None
    dhcp_vendor_class: str | None = None
    dhcp_fingerprint: str | None = None
    names: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    peers: set[str] = field(default_factory=set)
    bytes_out: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    packets_in: int = 0
    rate_bytes: float = 0.0
    rate_packets: float = 0.0
    trust: str = "unknown"
    quarantine_reason: str | None = None
    baseline: set[str] = field(default_factory=set)
    baselined: bool = False
    router: bool = False
    sources: dict[str, float] = field(default_factory=dict)  # source IP -> last seen
    bucket_start: float = -1.0
    bucket_bytes: int = 0
    bucket_packets: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "device_id": self.device_id, "mac": self.mac,
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "ips": sorted(self.ips), "vendor": self.vendor,
            "dhcp": {"hostname": self.dhcp_hostname, "vendor_class": self.dhcp_vendor_class,
                     "fingerprint": self.dhcp_fingerprint},
            "names": sorted(self.names), "protocols": sorted(self.protocols),
            "services": sorted(self.services), "peers": sorted(self.peers),
            "bytes_out": self.bytes_out, "packets_out": self.packets_out,
            "bytes_in": self.bytes_in, "packets_in": self.packets_in,
            "rate_bytes_per_s": round(self.rate_bytes, 3),
            "rate_packets_per_s": round(self.rate_packets, 3),
            "trust": self.trust, "quarantine_reason": self.quarantine_reason,
            "baselined": self.baselined, "baseline": sorted(self.baseline),
            "router": self.router,
        }

    @classmethod
    def from_json(cls, raw: object, where: str) -> DeviceRecord:
        if not isinstance(raw, dict):
            raise InventoryError(f"{where}: must be an object")
        try:
            dhcp = raw.get("dhcp") or {}
            if not isinstance(dhcp, dict):
                raise TypeError("dhcp must be an object")
            rec = cls(
                device_id=_str(raw["device_id"]), mac=_opt_str(raw.get("mac")),
                first_seen=float(raw["first_seen"]), last_seen=float(raw["last_seen"]),
                ips=_str_set(raw.get("ips", [])), vendor=_opt_str(raw.get("vendor")),
                dhcp_hostname=_opt_str(dhcp.get("hostname")),
                dhcp_vendor_class=_opt_str(dhcp.get("vendor_class")),
                dhcp_fingerprint=_opt_str(dhcp.get("fingerprint")),
                names=_str_set(raw.get("names", [])),
                protocols=_str_set(raw.get("protocols", [])),
                services=_str_set(raw.get("services", [])),
                peers=_str_set(raw.get("peers", [])),
                bytes_out=int(raw.get("bytes_out", 0)),
                packets_out=int(raw.get("packets_out", 0)),
                bytes_in=int(raw.get("bytes_in", 0)), packets_in=int(raw.get("packets_in", 0)),
                rate_bytes=float(raw.get("rate_bytes_per_s", 0.0)),
                rate_packets=float(raw.get("rate_packets_per_s", 0.0)),
                trust=_str(raw.get("trust", "unknown")),
                quarantine_reason=_opt_str(raw.get("quarantine_reason")),
                baseline=_str_set(raw.get("baseline", [])),
                baselined=bool(raw.get("baselined", False)),
                router=bool(raw.get("router", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InventoryError(f"{where}: {exc}") from None
        if rec.trust not in TRUST_STATES:
            raise InventoryError(f"{where}.trust: must be one of {', '.join(TRUST_STATES)}")
        return rec


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _str_set(value: object) -> set[str]:
    if not isinstance(value, list):
        raise TypeError("expected a list of strings")
    return {_str(v) for v in value}


class Inventory:
    """Devices by id, and the IP-to-device index, updated from every packet."""

    def __init__(self, local_networks: Iterable[str], *, max_devices: int = 100_000,
                 max_peers: int = 64, bucket_seconds: float = 60.0,
                 trusted: Iterable[str] = ()) -> None:
        self.devices: dict[str, DeviceRecord] = {}
        self.by_ip: dict[str, str] = {}
        self._nets = [ipaddress.ip_network(n) for n in local_networks]
        self._local_cache: dict[str, bool] = {}
        self.max_devices = max_devices
        self.max_peers = max_peers
        self.bucket_seconds = bucket_seconds
        self.trusted = set(trusted)
        self.gateways: frozenset[str] = frozenset()
        self.router_macs: frozenset[str] = frozenset()
        self.router_min_sources = 3
        self.router_window = 3600.0
        self.refused_devices = 0
        self._bucket_listeners: list[BucketListener] = []

    def configure_routers(self, gateways: Iterable[str], macs: Iterable[str] = (),
                          min_sources: int = 3, window_seconds: float = 3600.0) -> None:
        """Set how routers are told from terminals; applies to records already loaded."""
        self.gateways = frozenset(gateways)
        self.router_macs = frozenset(macs)
        self.router_min_sources = min_sources
        self.router_window = window_seconds
        for rec in self.devices.values():
            if not rec.router and (rec.mac in self.router_macs
                                   or not self.gateways.isdisjoint(rec.ips)):
                self.mark_router(rec)

    def on_bucket(self, listener: BucketListener) -> None:
        """Call `listener(device, bytes, seconds)` when a device's traffic bucket closes."""
        self._bucket_listeners.append(listener)

    def is_local(self, ip: str) -> bool:
        known = self._local_cache.get(ip)
        if known is None:
            if len(self._local_cache) > 65536:
                self._local_cache.clear()
            try:
                addr = ipaddress.ip_address(ip)
                known = any(addr in n for n in self._nets)
            except ValueError:
                known = False
            self._local_cache[ip] = known
        return known

    def observe(self, pkt: Packet) -> DeviceRecord | None:
        """Account one packet; returns the sending device (created on first sight)."""
        mac = pkt.src_mac
        ts = pkt.ts
        size = pkt.length
        if mac is not None:
            rec = self.devices.get(mac)
            if rec is None:
                if is_multicast(mac) or mac == "00:00:00:00:00:00":
                    rec = None
                else:
                    rec = self._create(mac, mac, ts)
        elif pkt.src_ip is not None and self.is_local(pkt.src_ip):
            did = "ip:" + pkt.src_ip
            rec = self.devices.get(did) or self._create(did, None, ts)
        else:
            rec = None
        if rec is not None:
            rec.last_seen = ts
            rec.bytes_out += size
            rec.packets_out += 1
            if ts - rec.bucket_start >= self.bucket_seconds:
                self._roll(rec, ts)
            rec.bucket_bytes += size
            rec.bucket_packets += 1
            ip = pkt.src_ip
            if ip is not None:
                if not rec.router and mac is not None:
                    sources = rec.sources
                    if ip in sources:
                        sources[ip] = ts
                    else:
                        self._new_source(rec, ip, ts)
                if ip not in rec.ips and len(rec.ips) < _MAX_IPS and self.is_local(ip) \
                        and (not rec.router or ip in self.gateways):
                    rec.ips.add(ip)
                    self.by_ip[ip] = rec.device_id
        dst = pkt.dst_mac
        if dst is not None:
            peer = self.devices.get(dst)
            if peer is not None:
                peer.bytes_in += size
                peer.packets_in += 1
        return rec

    def _create(self, device_id: str, mac: str | None, ts: float) -> DeviceRecord | None:
        if len(self.devices) >= self.max_devices:
            self.refused_devices += 1
            return None
        rec = DeviceRecord(device_id, mac, ts, ts, vendor=vendor_for(mac) if mac else None,
                           bucket_start=ts)
        if mac is not None and mac in self.trusted:
            rec.trust = "trusted"
        if mac is not None and mac in self.router_macs:
            rec.router = True
        self.devices[device_id] = rec
        return rec

    def _new_source(self, rec: DeviceRecord, ip: str, ts: float) -> None:
        if ip in self.gateways:
            self.mark_router(rec)
            return
        sources = rec.sources
        if len(sources) >= _MAX_SOURCES:
            cutoff = ts - self.router_window
            for old in [k for k, seen in sources.items() if seen < cutoff]:
                del sources[old]
            if len(sources) >= _MAX_SOURCES:
                self.mark_router(rec)
                return
        sources[ip] = ts
        if len(sources) >= self.router_min_sources \
                and self._distinct_sources(rec, ts) >= self.router_min_sources:
            self.mark_router(rec)

    def _distinct_sources(self, rec: DeviceRecord, now: float) -> int:
        """The larger of: recent IPv4 source addresses, recent IPv6 source /64 prefixes."""
        cutoff = now - self.router_window
        v4 = 0
        v6: set[bytes] = set()
        for ip, seen in rec.sources.items():
            if seen < cutoff or not counts_as_source(ip):
                continue
            if ":" in ip:
                v6.add(ipaddress.IPv6Address(ip).packed[:8])
            else:
                v4 += 1
        return max(v4, len(v6))

    def mark_router(self, rec: DeviceRecord) -> None:
        """Take `rec` for a router: forget the routed hosts' addresses it was given."""
        rec.router = True
        rec.sources.clear()
        for ip in [i for i in rec.ips if i not in self.gateways]:
            rec.ips.discard(ip)
            if self.by_ip.get(ip) == rec.device_id:
                del self.by_ip[ip]

    def recent_ips(self, rec: DeviceRecord, now: float) -> list[str]:
        """The local addresses `rec` sent from within the router window before `now`."""
        cutoff = now - self.router_window
        return sorted(ip for ip, seen in rec.sources.items()
                      if seen >= cutoff and ip in rec.ips)

    def _roll(self, rec: DeviceRecord, ts: float) -> None:
        if rec.bucket_start >= 0:
            span = self.bucket_seconds
            rec.rate_bytes = 0.7 * rec.rate_bytes + 0.3 * rec.bucket_bytes / span
            rec.rate_packets = 0.7 * rec.rate_packets + 0.3 * rec.bucket_packets / span
            missed = min(int((ts - rec.bucket_start) // span) - 1, 60)
            for listener in self._bucket_listeners:
                listener(rec, rec.bucket_bytes, rec.bucket_start)
                for i in range(max(missed, 0)):
                    listener(rec, 0, rec.bucket_start + (i + 1) * span)
            steps = (ts - rec.bucket_start) // span
            rec.bucket_start += steps * span
        else:
            rec.bucket_start = ts
        rec.bucket_bytes = 0
        rec.bucket_packets = 0

    def flush_buckets(self) -> None:
        """Close every open traffic bucket (end of capture)."""
        for rec in self.devices.values():
            if rec.bucket_packets:
                for listener in self._bucket_listeners:
                    listener(rec, rec.bucket_bytes, rec.bucket_start)
                rec.bucket_bytes = 0
                rec.bucket_packets = 0

    def device_for(self, mac: str | None, ip: str | None) -> DeviceRecord | None:
        if mac is not None:
            rec = self.devices.get(mac)
            if rec is not None:
                return rec
        if ip is not None:
            did = self.by_ip.get(ip)
            if did is not None:
                return self.devices.get(did)
        return None

    def add_peer(self, rec: DeviceRecord, peer: str) -> None:
        if len(rec.peers) < self.max_peers:
            rec.peers.add(peer)

    @staticmethod
    def add_bounded(values: set[str], value: str, limit: int = _MAX_SET) -> None:
        if len(values) < limit:
            values.add(value)

    @staticmethod
    def add_name(rec: DeviceRecord, name: str) -> None:
        if len(rec.names) < _MAX_NAMES:
            rec.names.add(name)

    def save(self, path: Path) -> None:
        """Write the inventory atomically (temp + fsync + rename)."""
        doc = {"version": FORMAT_VERSION,
               "devices": [r.to_json() for r in self.devices.values()]}
        write_atomically(path, json.dumps(doc, indent=1).encode("utf-8"), InventoryError)

    def load(self, path: Path) -> None:
        """Merge a saved inventory; a missing file is an empty inventory."""
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise InventoryError(f"{path}: not a readable inventory: {exc}") from None
        if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION \
                or not isinstance(raw.get("devices"), list):
            raise InventoryError(f"{path}: expected {{'version': 1, 'devices': [...]}}")
        for i, item in enumerate(raw["devices"]):
            rec = DeviceRecord.from_json(item, f"{path}: devices[{i}]")
            rec.bucket_start = -1.0
            self.devices[rec.device_id] = rec
            for ip in rec.ips:
                self.by_ip[ip] = rec.device_id


def counts_as_source(ip: str) -> bool:
    """False for the unspecified and link-local sources every host may use besides its own."""
    if ip in ("0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        return False
    return not ip.startswith("169.254.") and ip[:3].lower() not in ("fe8", "fe9", "fea", "feb")


def write_atomically(path: Path, data: bytes, error: type[Exception]) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(f"{path}: cannot write: {exc.strerror or exc}") from None
