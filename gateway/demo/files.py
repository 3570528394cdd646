"""The files the demo's real commands read and write, all in the state folder.

`gateway.yaml` is an ordinary configuration (DESIGN.md contract 2): what the demo runs is
exactly what a user would run by hand with `zonegate serve --config gateway.yaml`.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from gateway.demo.credentials import MONITOR_SPIFFE_ID, TRUST_DOMAIN, DemoCredentials
from gateway.demo.errors import DemoError
from gateway.demo.ports import DemoPorts

# The demo's loopback is the government network: every zone in policies/ admits gov-net.
SEGMENTS = {"gov-net": ["127.0.0.0/8"]}
ZONE_LEVELS = {"health": "L4", "transport": "L2", "citizen": "L5", "open": "L1"}
# How often the gateway re-reads the store's quarantines (ingress.trust_refresh_seconds).
TRUST_REFRESH_SECONDS = 0.5
# What quarantines a device: the monitor's own response (its quarantine file) and the
# control plane's `control.auto_quarantine`, which is what the gateway enforces, agree.
QUARANTINE_MIN_SEVERITY = 80
QUARANTINE_SECONDS = 3600
# On loopback the terminals are 127.0.0.12/13; the monitor must count them as local.
MONITOR_CONFIG = {
    "local_networks": ["127.0.0.0/8"],
    "gateway_ips": ["127.0.0.1"],
    "response": {"quarantine": {"min_severity": QUARANTINE_MIN_SEVERITY,
                                "duration_seconds": QUARANTINE_SECONDS}},
}


@dataclass(frozen=True, slots=True)
class StateFiles:
    """Where everything lives under the state folder."""

    root: Path

    @property
    def pki(self) -> Path:
        """Certificates and keys; the CA is in pki/ca."""
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        """One log per child process."""
        return self.root / "logs"

    @property
    def gateway_config(self) -> Path:
        """The gateway's configuration (also used by the control plane)."""
        return self.root / "gateway.yaml"

    @property
    def segments(self) -> Path:
        """Network segments (input.source.zone)."""
        return self.root / "segments.json"

    @property
    def audit_log(self) -> Path:
        """The gateway's hash-chained audit log."""
        return self.root / "audit.jsonl"

    @property
    def decision_log(self) -> Path:
        """OPA-shaped decision log."""
        return self.root / "decisions.jsonl"

    @property
    def quarantine(self) -> Path:
        """The monitor's own quarantine decisions (informational: the gateway enforces the
        store's, which the control plane writes from the monitor's alerts)."""
        return self.root / "quarantine.json"

    @property
    def alerts_spool(self) -> Path:
        """Alerts the control plane has not taken yet (the monitor replays them)."""
        return self.root / "alerts.spool"

    @property
    def monitor_config(self) -> Path:
        """The monitor's configuration."""
        return self.root / "monitor.yaml"

    @property
    def alerts(self) -> Path:
        """The monitor's ECS alerts (NDJSON)."""
        return self.root / "alerts.ndjson"

    @property
    def inventory(self) -> Path:
        """The monitor's device inventory."""
        return self.root / "inventory.json"

    @property
    def store_url(self) -> str:
        """The SQLite store shared by the demo, the gateway and the control plane."""
        return f"sqlite:///{(self.root / 'zonegate.db').resolve()}"


def shipped_capture() -> Path:
    """The capture the monitor replays (gateway/demo/data/edge.pcap)."""
    return Path(str(resources.files("gateway.demo").joinpath("data/edge.pcap")))


def shipped_policies() -> Path:
    """The policies/ bundle root shipped with zonegate (a namespace package: no __init__)."""
    spec = importlib.util.find_spec("policies")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(location) / "authz.rego").is_file():
            return Path(location)
    raise DemoError("the shipped policies/ bundle (policies/authz.rego) is not installed")


def write_gateway_config(files: StateFiles, *, ports: DemoPorts, issuer: str, jwks_uri: str,
                         upstreams: dict[str, str], credentials: DemoCredentials) -> None:
    """Write gateway.yaml (contract 2) and segments.json."""
    config = {
        "trust_domain": TRUST_DOMAIN,
        "listen": {"ingress": f"127.0.0.1:{ports.gateway}",
                   "control": f"127.0.0.1:{ports.control}"},
        "tls": {
            "cert": str(credentials.server_cert), "key": str(credentials.server_key),
            "client_ca": str(credentials.ca_bundle), "client_cert": "optional",
            "crl": str(credentials.crl),
        },
        "identity": {"oidc": [{"issuer": issuer, "audience": "zonegate",
                               "jwks_uri": jwks_uri, "algorithms": ["ES256"]}]},
        "policy": {"engine": "embedded", "bundle": str(shipped_policies())},
        "zones": [
            {"name": zone, "prefix": f"/zones/{zone}/", "upstream": url,
             "level": ZONE_LEVELS[zone]}
            for zone, url in upstreams.items()
        ],
        "segments": SEGMENTS,
        # the gateway enforces the store's quarantines (refreshed in the background)
        "ingress": {"device_trust": "store", "trust_refresh_seconds": TRUST_REFRESH_SECONDS},
        # the monitor's client certificate may post alerts to the control plane, and its
        # severe alerts quarantine their device there (the monitor's threshold)
        "control": {"ca_dir": str(credentials.ca_dir), "ingesters": [MONITOR_SPIFFE_ID],
                    "auto_quarantine": {"min_severity": QUARANTINE_MIN_SEVERITY,
                                        "duration_seconds": QUARANTINE_SECONDS,
                                        # what the monitor spares, the control plane spares
                                        "exempt_networks": MONITOR_CONFIG["gateway_ips"]}},
        "store": files.store_url,
    }
    files.gateway_config.write_text(
        "# written by `zonegate demo`; run it yourself with\n"
        f"#   zonegate serve --config {files.gateway_config} --role ingress\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    files.segments.write_text(json.dumps(SEGMENTS, indent=1) + "\n", encoding="utf-8")


def write_monitor_config(files: StateFiles) -> None:
    """Write monitor.yaml."""
    files.monitor_config.write_text(
        "# written by `zonegate demo`\n" + yaml.safe_dump(MONITOR_CONFIG, sort_keys=False),
        encoding="utf-8")


def serve_args(files: StateFiles, role: str) -> list[str]:
    """The `zonegate serve` arguments the demo runs (also printed for the user)."""
    args = ["serve", "--config", str(files.gateway_config), "--role", role]
    if role == "ingress":
        args += ["--audit-log", str(files.audit_log), "--decision-log", str(files.decision_log)]
    return args


def monitor_args(files: StateFiles, capture: Path, *, control_url: str | None = None,
                 credentials: DemoCredentials | None = None) -> list[str]:
    """The `zonegate monitor run` arguments of the replay; with `control_url` the alerts
    are also POSTed to the control plane with the monitor's certificate (mTLS)."""
    args = ["monitor", "run", "--pcap", str(capture), "--config", str(files.monitor_config),
            "--quarantine-file", str(files.quarantine), "--alerts-out", str(files.alerts),
            "--inventory", str(files.inventory), "--no-live-table"]
    if control_url is not None and credentials is not None:
        args += ["--alerts-url", f"{control_url}/api/alerts", "--spool", str(files.alerts_spool),
                 "--alerts-cert", str(credentials.monitor_cert),
                 "--alerts-key", str(credentials.monitor_key),
                 "--alerts-ca", str(credentials.ca_bundle)]
    return args
