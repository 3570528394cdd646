"""Monitor configuration: validated YAML, unknown keys rejected with file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_monitor_config
from monitor.errors import MonitorConfigError


def test_defaults_without_a_file() -> None:
    cfg = load_monitor_config(None)
    assert cfg.detectors.port_scan_horizontal.hosts == 25
    assert cfg.detectors.port_scan_horizontal.window_seconds == 300
    assert cfg.detectors.port_scan_vertical.ports == 15
    assert cfg.detectors.telnet_bruteforce.ports == (23, 2323)


def test_overrides(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("learn_seconds: 600\ngateway_ips: [10.0.0.1]\n"
                    "trusted_devices: ['AA-BB-CC-DD-EE-FF']\n"
                    "detectors:\n  dns_dga: {min_entropy: 3.8}\n"
                    "  rogue_dhcp: {allowed_servers: ['10.0.0.1']}\n"
                    "response:\n  quarantine: {min_severity: 70, rules: [arp_spoof]}\n")
    cfg = load_monitor_config(path)
    assert cfg.learn_seconds == 600
    assert cfg.trusted_devices == ("aa:bb:cc:dd:ee:ff",)
    assert cfg.detectors.dns_dga.min_entropy == 3.8
    assert cfg.response.quarantine.rules == ("arp_spoof",)


@pytest.mark.parametrize(("text", "message"), [
    ("detectors:\n  port_scan_vertical: {portz: 5}\n",
     "detectors.port_scan_vertical.portz: unknown key"),
    ("bogus: 1\n", "bogus: unknown key"),
    ("detectors:\n  port_scan_vertical: {ports: 1}\n",
     "detectors.port_scan_vertical.ports: Input should be greater than or equal to 2"),
    ("gateway_ips: [10.0.0.300]\n", "gateway_ips.0: Value error, not an IP address"),
    ("trusted_devices: [nope]\n", "trusted_devices.0: Value error, not a MAC address"),
    ("local_networks: [10.0.0.0/33]\n", "not an IP network"),
    ("detectors:\n  volume_spike: {alpha: 2}\n", "detectors.volume_spike.alpha"),
    ("- a list\n", "top level must be a mapping"),
    ("key: [unclosed\n", "not valid YAML"),
])
def test_invalid(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MonitorConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_monitor_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MonitorConfigError, match="cannot read"):
        load_monitor_config(tmp_path / "absent.yaml")
