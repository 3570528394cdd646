"""The rule catalog (DESIGN.md contract 5): ids, names and MITRE ATT&CK techniques."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """One detection rule as it appears in alerts."""

    id: str
    name: str
    techniques: tuple[str, ...]
    tactic: str


RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("port_scan_horizontal", "Horizontal port scan (one port, many hosts)", ("T1046",),
         "Discovery"),
    Rule("port_scan_vertical", "Vertical port scan (many ports, one host)", ("T1046",),
         "Discovery"),
    Rule("telnet_bruteforce", "Telnet brute force / Mirai-style scanning", ("T1110.001",),
         "Credential Access"),
    Rule("ssh_bruteforce", "SSH brute force", ("T1110.001", "T1021.004"), "Credential Access"),
    Rule("new_destination", "Connection outside the device's learned baseline", ("T1071",),
         "Command and Control"),
    Rule("dns_dga", "Algorithmically generated domain lookups", ("T1568.002",),
         "Command and Control"),
    Rule("dns_tunnel", "DNS tunnelling", ("T1071.004", "T1048"), "Exfiltration"),
    Rule("volume_spike", "Traffic volume far above the device's baseline", ("T1048", "T1498"),
         "Exfiltration"),
    Rule("beaconing", "Regular-interval connections to an unlearned destination",
         ("T1071", "T1029"), "Command and Control"),
    Rule("arp_spoof", "ARP spoofing (IP-to-MAC binding changed)", ("T1557.002",),
         "Credential Access"),
    Rule("rogue_dhcp", "DHCP server not on the allow list", ("T1557.003",),
         "Credential Access"),
    Rule("mqtt_anonymous", "MQTT broker accepted an anonymous session", ("T1078",),
         "Initial Access"),
    Rule("mqtt_wildcard_subscribe", "MQTT wildcard subscription ('#', '$SYS/#')", ("T1119",),
         "Collection"),
    Rule("coap_amplification", "CoAP reflection/amplification", ("T1498.002",), "Impact"),
    Rule("modbus_write", "Modbus write from a host not learned as a master",
         ("T0855", "T0836"), "Impair Process Control"),
    Rule("cleartext_credentials", "Credentials sent in cleartext", ("T1040", "T1552"),
         "Credential Access"),
)}

RULESET = "zonegate-monitor"
