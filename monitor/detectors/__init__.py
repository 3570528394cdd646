"""The detectors, one small module per concern; `build_detectors` makes the enabled ones."""

from __future__ import annotations

from monitor.detectors.base import DetectorContext
from monitor.detectors.baseline import Beaconing, NewDestination, VolumeSpike
from monitor.detectors.bruteforce import SshBruteforce, TelnetBruteforce
from monitor.detectors.credentials import CleartextCredentials
from monitor.detectors.dnsmon import DnsDga, DnsTunnel
from monitor.detectors.iot import CoapAmplification, ModbusWrite, Mqtt
from monitor.detectors.l2 import ArpSpoof, RogueDhcp
from monitor.detectors.scan import PortScan


def build_detectors(ctx: DetectorContext) -> list[object]:
    """Instantiate the detectors whose rules are enabled in the configuration."""
    d = ctx.config.detectors
    out: list[object] = []
    if d.port_scan_horizontal.enabled or d.port_scan_vertical.enabled:
        out.append(PortScan(ctx))
    table: list[tuple[bool, type]] = [
        (d.telnet_bruteforce.enabled, TelnetBruteforce),
        (d.ssh_bruteforce.enabled, SshBruteforce),
        (d.new_destination.enabled, NewDestination),
        (d.beaconing.enabled, Beaconing),
        (d.volume_spike.enabled, VolumeSpike),
        (d.dns_dga.enabled, DnsDga),
        (d.dns_tunnel.enabled, DnsTunnel),
        (d.arp_spoof.enabled, ArpSpoof),
        (d.rogue_dhcp.enabled, RogueDhcp),
        (d.mqtt_anonymous.enabled or d.mqtt_wildcard_subscribe.enabled, Mqtt),
        (d.coap_amplification.enabled, CoapAmplification),
        (d.modbus_write.enabled, ModbusWrite),
        (d.cleartext_credentials.enabled, CleartextCredentials),
    ]
    out.extend(cls(ctx) for enabled, cls in table if enabled)
    return out


__all__ = ["DetectorContext", "build_detectors"]
