"""Data-plane settings: limits, timeouts, files and per-zone response handling.

`from_config` takes them from the configuration file (its `ingress:` and `segments:`
sections and each zone's `dlp` and `forward_authorization`); `zonegate serve` then applies
its command-line flags on top with `dataclasses.replace`. Every field has a safe default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.audit import SyncMode
from gateway.config import GatewayConfig
from gateway.ingress.routing import DLPMode


@dataclass(frozen=True, slots=True)
class GatewayRuntimeOptions:
    """Limits, timeouts and per-zone response handling of the ingress data plane."""

    audit_log: Path = Path("zonegate-audit.jsonl")
    audit_sync: SyncMode = "background"
    quarantine_file: Path | None = None
    signing_key: Path | None = None  # None: a fresh P-256 key per process
    segments: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> CIDRs
    # response DLP
    dlp_max_bytes: int = 1 << 20
    dlp_mode: dict[str, DLPMode] = field(default_factory=dict)  # zone -> mask|block
    forward_authorization: frozenset[str] = frozenset()  # zones that get Authorization
    # request limits (aiohttp's own hard limits sit above these and answer 400)
    max_body_bytes: int = 10 << 20
    max_header_bytes: int = 16 << 10
    max_headers: int = 100
    # timeouts in seconds
    keepalive_timeout: float = 75.0  # also bounds a client that never finishes its headers
    body_timeout: float = 30.0  # reading the request body
    send_timeout: float = 60.0  # one write to a client that does not read
    pdp_timeout: float = 2.0
    upstream_connect_timeout: float = 5.0
    upstream_timeout: float = 30.0  # to response headers
    upstream_read_timeout: float = 30.0  # between body chunks
    upstream_connections: int = 256
    # rate limiting
    rate_limit_keys: int = 100_000
    rate_limit_burst_seconds: float = 10.0

    def mode_for(self, zone: str) -> DLPMode:
        """The DLP mode of a zone (mask unless configured to block)."""
        return self.dlp_mode.get(zone, "mask")


def from_config(config: GatewayConfig, config_dir: Path) -> GatewayRuntimeOptions:
    """The runtime options a configuration file sets (paths already resolved)."""
    ingress = config.ingress
    return GatewayRuntimeOptions(
        audit_log=ingress.audit_log or config_dir / "zonegate-audit.jsonl",
        audit_sync=ingress.audit_sync,
        quarantine_file=ingress.quarantine_file,
        signing_key=ingress.signing_key,
        segments=dict(config.segments),
        dlp_max_bytes=ingress.dlp_max_bytes,
        dlp_mode={zone.name: zone.dlp for zone in config.zones if zone.dlp != "mask"},
        forward_authorization=frozenset(
            zone.name for zone in config.zones if zone.forward_authorization),
        max_body_bytes=ingress.max_body_bytes,
        max_header_bytes=ingress.max_header_bytes,
        max_headers=ingress.max_headers,
        keepalive_timeout=ingress.keepalive_timeout,
        body_timeout=ingress.body_timeout,
        send_timeout=ingress.send_timeout,
        pdp_timeout=ingress.pdp_timeout,
        upstream_connect_timeout=ingress.upstream_connect_timeout,
        upstream_timeout=ingress.upstream_timeout,
        upstream_read_timeout=ingress.upstream_read_timeout,
    )
