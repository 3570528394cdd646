"""Remake the small crafted pcaps in this folder and expected.json (the rules each raises).

    .venv/bin/python -m tests.vectors.monitor.make_vectors

The packets come from tests/monitor/scenarios.py, so the vectors and the unit tests agree.
"""

from __future__ import annotations

import json
from pathlib import Path

from scapy.utils import PcapNgWriter, wrpcap

from tests.monitor import scenarios as s

HERE = Path(__file__).resolve().parent

VECTORS = {
    "mirai_scan.pcap": (s.mirai_syn() + s.horizontal_scan(),
                        ["port_scan_horizontal", "telnet_bruteforce"]),
    "iot_protocols.pcap": (s.mqtt_session(None, topic=b"#") + s.coap_reflection()
                           + s.modbus("10.0.0.99", write=True),
                           ["coap_amplification", "modbus_write", "mqtt_anonymous",
                            "mqtt_wildcard_subscribe"]),
    "cleartext.pcapng": (s.telnet_login() + s.ftp_login() + s.http_request(auth=True),
                         ["cleartext_credentials"]),
    "l2_attacks.pcap": ([s.dhcp_offer("10.0.0.1"), s.dhcp_offer("10.0.0.66", s.T0 + 1),
                         *s.arp_spoof_gateway()], ["arp_spoof", "rogue_dhcp"]),
    "dns_abuse.pcap": (s.dga_lookups() + s.dns_long_label(), ["dns_dga", "dns_tunnel"]),
    "benign_cdn_heartbeat.pcap": (s.cdn_lookalike() + s.mqtt_heartbeat(), []),
}


def main() -> None:
    expected: dict[str, list[str]] = {}
    for name, (packets, rules) in VECTORS.items():
        packets = sorted(packets, key=lambda p: float(p.time))
        path = HERE / name
        if name.endswith(".pcapng"):
            with PcapNgWriter(str(path)) as writer:
                writer.write(packets)
        else:
            wrpcap(str(path), packets)
        expected[name] = sorted(rules)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
