"""The optional `egress:` section of the gateway configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config, parse_config
from gateway.errors import ConfigError

MINIMAL = "trust_domain: city.example\negress:\n  ca: {cert: e.crt, key: e.key}\n  root: root.crt\n"


def test_absent_by_default() -> None:
    assert parse_config("trust_domain: city.example\n").egress is None


def test_defaults() -> None:
    egress = parse_config(MINIMAL).egress
    assert egress is not None
    assert (egress.listen, egress.mode, egress.dlp, egress.decision) == (
        "127.0.0.1:8080", "regular", "block", "zonegate/egress/decision")
    assert egress.max_body_bytes == 1 << 20
    assert egress.client_ca_dir is None and egress.alerts_url is None


def test_relative_paths_are_taken_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(MINIMAL + "  inventory: inv.json\n  client_ca_dir: pki\n"
                    "  alerts_out: /var/log/egress.ndjson\n")
    egress = load_config(path).egress
    assert egress is not None
    assert egress.ca.cert == tmp_path / "e.crt" and egress.ca.key == tmp_path / "e.key"
    assert egress.root == tmp_path / "root.crt"
    assert egress.inventory == tmp_path / "inv.json"
    assert egress.client_ca_dir == tmp_path / "pki"
    assert egress.alerts_spool == tmp_path / "egress-alerts.spool"
    assert egress.alerts_out == Path("/var/log/egress.ndjson")


@pytest.mark.parametrize(("extra", "message"), [
    ("  mode: socks\n", "egress.mode: Input should be 'regular' or 'transparent'"),
    ("  dlp: redact\n", "egress.dlp: Input should be 'block' or 'mask'"),
    ("  listen: 8080\n", "egress.listen"),
    ("  listen: 'h:99999'\n", "egress.listen: must be host:port"),
    ("  max_body_bytes: 10\n", "egress.max_body_bytes"),
    ("  alerts_url: ftp://x\n", "egress.alerts_url: must be an http:// or https:// URL"),
    ("  colour: red\n", "egress.colour: unknown key"),
])
def test_invalid(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(MINIMAL + extra, "gw.yaml")


def test_ca_needs_cert_and_key() -> None:
    with pytest.raises(ConfigError, match=r"egress\.ca\.key: Field required"):
        parse_config("trust_domain: t\negress:\n  ca: {cert: e.crt}\n  root: r\n")
