"""Build the data plane from a configuration and run its listener."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from aiohttp import web

from classify import Classifier
from gateway.audit import AuditLog, Recovery
from gateway.config import GatewayConfig
from gateway.identity.types import Authenticator
from gateway.ingress.assertion import AssertionSigner
from gateway.ingress.decision_index import DecisionIndexWriter
from gateway.ingress.devices import DeviceTrustSource, NoQuarantine, QuarantineFileSource
from gateway.ingress.dlp import CachingInspector, MaskingInspector, ResponseInspector
from gateway.ingress.errors import IngressSetupError
from gateway.ingress.options import GatewayRuntimeOptions
from gateway.ingress.routing import ZoneRoute, ZoneTable
from gateway.ingress.server import IngressGateway
from gateway.metrics import GatewayMetrics
from gateway.pdp.port import PolicyEngine

_log = logging.getLogger("zonegate.ingress")


def zone_table(config: GatewayConfig, options: GatewayRuntimeOptions) -> ZoneTable:
    """The zone table of a configuration, with the per-zone runtime options applied."""
    names = {zone.name for zone in config.zones}
    unknown = (set(options.dlp_mode) | set(options.forward_authorization)) - names
    if unknown:
        raise IngressSetupError(f"runtime options name unknown zone(s): {sorted(unknown)}")
    return ZoneTable(
        ZoneRoute.from_config(zone, dlp_mode=options.mode_for(zone.name),
                              forward_authorization=zone.name in options.forward_authorization)
        for zone in config.zones
    )


def device_source(options: GatewayRuntimeOptions) -> DeviceTrustSource:
    """The quarantine file when configured, else no quarantine."""
    if options.quarantine_file is None:
        return NoQuarantine()
    return QuarantineFileSource(options.quarantine_file)


def open_audit(options: GatewayRuntimeOptions, metrics: GatewayMetrics) -> AuditLog:
    """Open the audit log; a recovery is logged and counted."""

    def recovered(info: Recovery) -> None:
        metrics.audit_recoveries.inc()
        _log.warning(
            "audit log was not closed cleanly; chain continued with a recovery record",
            extra={"audit_log": str(options.audit_log), "last_seq": info.last_seq,
                   "torn_bytes": info.torn_bytes})

    return AuditLog.open(options.audit_log, sync=options.audit_sync, on_recovery=recovered)


def default_inspector(metrics: GatewayMetrics | None = None) -> ResponseInspector:
    """Response DLP with classify/'s default catalog and a small verdict cache."""
    inspector = MaskingInspector(Classifier.default())
    if metrics is None:
        return CachingInspector(inspector)
    hits, misses = metrics.cache.labels("dlp", "hit"), metrics.cache.labels("dlp", "miss")

    def lookup(hit: bool) -> None:
        (hits if hit else misses).inc()

    return CachingInspector(inspector, on_lookup=lookup)


def build_gateway(config: GatewayConfig, options: GatewayRuntimeOptions, *,
                  authenticator: Authenticator, engine: PolicyEngine | None,
                  inspector: ResponseInspector, audit: AuditLog | None = None,
                  metrics: GatewayMetrics | None = None,
                  signer: AssertionSigner | None = None,
                  devices: DeviceTrustSource | None = None,
                  decision_index: DecisionIndexWriter | None = None) -> IngressGateway:
    """Assemble one data-plane instance from its configuration and collaborators.

    `decision_index` (started and closed by the caller) receives every policy decision.
    """
    metrics = metrics or GatewayMetrics()
    issuer = f"https://gateway.{config.trust_domain}"
    if signer is None:
        signer = (AssertionSigner.from_pem(options.signing_key, issuer)
                  if options.signing_key is not None else AssertionSigner.generate(issuer))
    tls = config.tls
    return IngressGateway(
        zones=zone_table(config, options), authenticator=authenticator, engine=engine,
        devices=devices or device_source(options), inspector=inspector, signer=signer,
        audit=audit or open_audit(options, metrics), metrics=metrics, options=options,
        trusted_proxies=tls.trusted_xfcc_from if tls is not None else (),
        tls=tls is not None, decision_index=decision_index,
        metrics_from=config.ingress.metrics_from)


@dataclass(slots=True)
class Listener:
    """A running listener; `port` is the bound port (useful with port 0)."""

    runner: web.ServerRunner
    host: str
    port: int

    async def stop(self) -> None:
        """Stop accepting and close connections."""
        await self.runner.cleanup()


async def start_listener(gateway: IngressGateway, host: str, port: int, *,
                         ssl_context: ssl.SSLContext | None = None,
                         reuse_port: bool = False) -> Listener:
    """Bind and serve `gateway` on host:port (0 picks a free port)."""
    runner = web.ServerRunner(gateway.web_server(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_port=reuse_port,
                       backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise IngressSetupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = runner.addresses[0]
    return Listener(runner=runner, host=host, port=int(bound[1]))
