"""`zonegate serve --role ingress`: assemble the real components, serve until a signal.

With `workers > 1` the parent starts that many worker processes, each binding the same
address with SO_REUSEPORT; each worker keeps its own audit chain (`audit.w<N>.jsonl`),
because one hash chain cannot have two writers.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import logging
import os
import signal
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import classify
from gateway.audit import AuditCheckpointer
from gateway.audit.checkpointer import start_checkpoints
from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.identity import build_authenticator, build_chain_verifier
from gateway.ingress.app import (
    build_gateway,
    default_inspector,
    open_audit,
    start_listener,
    zone_table,
)
from gateway.ingress.crl_fetch import CRLFetch
from gateway.ingress.decision_index import DecisionIndexWriter
from gateway.ingress.devices import StoreDeviceSource
from gateway.ingress.errors import IngressSetupError
from gateway.ingress.options import GatewayRuntimeOptions
from gateway.ingress.polling import Poller
from gateway.ingress.tls import server_context, tls_pollers
from gateway.ingress.tokencache import CachedAuthenticator
from gateway.metrics import GatewayMetrics
from gateway.pdp import build_pdp
from gateway.pdp.decision_log import DEFAULT_MASK
from gateway.store import Store
from gateway.store._backend import redact
from gateway.store.errors import MigrationError, StoreError
from gateway.store.trust import StoreTrustSource
from pki.verify import CertificateVerifier

_log = logging.getLogger("zonegate.ingress")


def worker_audit_path(path: Path, index: int) -> Path:
    """The audit file of worker `index` (1-based)."""
    return path.with_name(f"{path.stem}.w{index}{path.suffix}")


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


async def serve_ingress(config: GatewayConfig, options: GatewayRuntimeOptions, *,
                        ca_dir: Path | None = None, decision_log: Path | None = None,
                        reuse_port: bool = False,
                        stop: asyncio.Event | None = None) -> None:
    """Run one ingress worker until SIGTERM/SIGINT (or `stop` is set)."""
    zone_table(config, options)  # refuse a bad zone table before loading anything heavy
    metrics = GatewayMetrics()
    if ca_dir is None and config.tls is not None and config.tls.client_ca is not None:
        ca_dir = config.tls.client_ca.parent
    needs_ca = config.tls is not None and (config.tls.client_cert != "off"
                                           or bool(config.tls.trusted_xfcc_from))
    token_hits, token_misses = (metrics.cache.labels("token", "hit"),
                                metrics.cache.labels("token", "miss"))
    verifier = build_chain_verifier(config, ca_dir if needs_ca else None)
    authenticator = CachedAuthenticator(
        build_authenticator(config, verifier),
        on_lookup=lambda hit: (token_hits if hit else token_misses).inc())
    ssl_context = server_context(config.tls) if config.tls is not None else None
    pollers: list[Poller] = []
    if config.tls is not None and ssl_context is not None:
        pollers = tls_pollers(config.tls, ssl_context, verifier, metrics)
    crl_fetch = _crl_fetch(config, ssl_context,
                           verifier if isinstance(verifier, CertificateVerifier) else None,
                           metrics)
    if crl_fetch is not None and config.tls is not None:
        pollers.append(functools.partial(crl_fetch.run, config.tls.crl_fetch_seconds))
    policy = config.policy
    # the decision log and the decision index erase the same input fields
    log_mask = (*DEFAULT_MASK, *policy.decision_log_mask)
    key = None
    if policy.verification_key is not None:
        try:
            key = policy.verification_key.read_bytes()
        except OSError as exc:
            raise ConfigError(f"policy.verification_key ({policy.verification_key}): "
                              f"cannot read: {exc.strerror}") from None
    pdp = build_pdp(policy, verification_key=key,
                    opa_timeout_seconds=policy.opa_timeout_seconds,
                    cache_ttl_seconds=policy.cache_ttl_seconds,
                    decision_log=decision_log or policy.decision_log,
                    log_mask=log_mask,
                    reload_interval_seconds=policy.reload_interval_seconds,
                    registry=metrics.registry)
    audit = open_audit(options, metrics)
    gateway = None
    listener = None
    background: list[asyncio.Task[None]] = []
    store = None
    trust = None
    index = None
    checkpoints: AuditCheckpointer | None = None
    try:
        await pdp.start()
        devices = None
        if config.ingress.device_trust == "store":
            store = await _open_store(config)
            trust = await _store_trust(store, config)
            devices = StoreDeviceSource(trust)
        if config.ingress.indexes_decisions:
            store = store or await _open_store(config)
            index = await _decision_index(store, config, metrics, log_mask)
        # the chain's durable tip, anchored off the log from a thread of its own
        checkpoint_errors = metrics.audit_checkpoint_errors
        checkpoints = start_checkpoints(
            audit, file=config.ingress.audit_checkpoints,
            store_audit=store.audit if store is not None else None,
            interval=config.ingress.audit_checkpoint_seconds,
            errors=lambda sink: checkpoint_errors.labels(sink).inc())
        for sink in checkpoints.sink_names:  # exported at 0, not only after a failure
            checkpoint_errors.labels(sink)
        gateway = build_gateway(config, options, authenticator=authenticator,
                                engine=pdp.engine, inspector=default_inspector(metrics),
                                audit=audit, metrics=metrics, devices=devices,
                                decision_index=index)
        if crl_fetch is not None:  # revocations the mounted file may not have yet
            await crl_fetch.check()
        host, port = _host_port(config.listen.ingress)
        listener = await start_listener(gateway, host, port, ssl_context=ssl_context,
                                        reuse_port=reuse_port)
        scheme = "https" if ssl_context is not None else "http"
        frozen = freeze_startup_heap()
        _log.info("listening", extra={"url": f"{scheme}://{config.listen.ingress}",
                                      "pid": os.getpid(), "zones": len(config.zones),
                                      "event_loop": type(asyncio.get_running_loop()).__module__,
                                      "classify": classify.NATIVE_MODE,
                                      "gc_frozen_objects": frozen,
                                      "policy_revision": pdp.engine.revision,
                                      "audit_log": str(options.audit_log)})
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        background = [asyncio.create_task(poll(stop)) for poll in pollers]
        await stop.wait()
        for task in background:
            await task
        _log.info("stopping", extra={"pid": os.getpid()})
    finally:
        for task in background:
            if not task.done():
                task.cancel()
        if crl_fetch is not None:
            await crl_fetch.close()
        if listener is not None:
            await listener.stop()
        if gateway is not None:
            await gateway.close()
        await pdp.close()
        if index is not None:
            await asyncio.to_thread(index.close)  # what is queued is written first
        if trust is not None:
            await trust.close()
        await asyncio.to_thread(audit.close)
        if checkpoints is not None:  # after the `shutdown` record, before the store goes
            await asyncio.to_thread(checkpoints.close)
        if store is not None:
            store.close()
        await authenticator.close()


def _crl_fetch(config: GatewayConfig, context: ssl.SSLContext | None,
               verifier: CertificateVerifier | None, metrics: GatewayMetrics) -> CRLFetch | None:
    """The `tls.crl_url` poller, or None when none is configured."""
    tls = config.tls
    if tls is None or tls.crl_url is None:
        return None
    if verifier is None:
        raise ConfigError("tls.crl_url is set but no client certificate verifier was built")
    return CRLFetch(tls.crl_url, verifier=verifier, context=context,
                    server_ca=tls.crl_url_ca or tls.client_ca, reloads=metrics.crl_reloads,
                    last_success=metrics.crl_last_reload, next_update=metrics.crl_next_update)


def freeze_startup_heap() -> int:
    """Move everything built at startup out of the cyclic garbage collector's sight.

    The modules, the policy engine, classify's catalog and compiled patterns live as long
    as the process, yet every full collection walked them all: about 140,000 objects, an
    80 ms pause every 10-20 s under load (measured with `gc.callbacks`), which alone put
    about 1 % of requests 80 ms late. After `gc.freeze()` full collections see only what
    requests allocate (under 2,000 objects; 0.5 ms at most). Returns the objects frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def _open_store(config: GatewayConfig) -> Store:
    """Open `store:`; one that cannot even be opened (a bad URL) is a start-up error."""
    try:
        return await asyncio.to_thread(Store.open, config.store)
    except StoreError as exc:
        raise ConfigError(f"store ({redact(config.store)}): {exc}") from None


async def _decision_index(store: Store, config: GatewayConfig, metrics: GatewayMetrics,
                          mask: tuple[str, ...]) -> DecisionIndexWriter:
    """Start the writer of the store's decision index.

    A store that is down or not migrated does not stop the gateway (it enforces without
    the index); the error is logged now, and every decision it costs is counted.
    """
    try:
        await asyncio.to_thread(store.check_schema)
    except (MigrationError, StoreError) as exc:
        _log.error("decision index: %s; decisions are dropped (and counted) until the "
                   "store is fixed", exc)
    index = DecisionIndexWriter(store.decisions, metrics,
                                queue_size=config.ingress.decision_index_queue,
                                mask=mask)
    index.start()
    return index


async def _store_trust(store: Store, config: GatewayConfig) -> StoreTrustSource:
    """Load the first quarantine snapshot (refreshed from then on).

    A store that cannot be read yet is no start-up error: requests then get 503 until
    the first snapshot loads, and /readyz says why.
    """
    trust = StoreTrustSource(store.quarantines, interval=config.ingress.trust_refresh_seconds,
                             trust_any_device_id=True, devices=store.devices)
    await trust.start()
    if trust.snapshot is None:
        _log.warning("device trust not loaded yet; answering 503 until it is",
                     extra={"error": trust.last_error})
    return trust


def run_workers(argv: list[str], workers: int, *, has_signing_key: bool) -> int:
    """Start `workers` copies of this command as SO_REUSEPORT workers; wait for them.

    Without a configured signing key the workers share one fresh key (in a private
    temporary file removed on exit): assertions from any worker verify against the JWKS
    served by any other.
    """
    with tempfile.TemporaryDirectory(prefix="zonegate-") as private:
        if not has_signing_key:
            key_path = Path(private) / "assertion.key"
            key = ec.generate_private_key(ec.SECP256R1())
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
            argv = [*argv, "--signing-key", str(key_path)]
        return _supervise(argv, workers)


def _supervise(argv: list[str], workers: int) -> int:
    children: list[subprocess.Popen[bytes]] = []
    for index in range(1, workers + 1):
        args = [sys.executable, "-c", "from gateway.cli import console_main; console_main()",
                *argv, "--workers", "1", "--worker-index", str(index)]
        children.append(subprocess.Popen(args))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max((abs(code) for code in codes), default=0)


def worker_options(options: GatewayRuntimeOptions, index: int | None) -> GatewayRuntimeOptions:
    """Options of one worker: its own audit chain when there are several."""
    if index is None:
        return options
    return replace(options, audit_log=worker_audit_path(options.audit_log, index))


def run(config: GatewayConfig, options: GatewayRuntimeOptions, *, ca_dir: Path | None,
        decision_log: Path | None, reuse_port: bool) -> None:
    """Blocking entry for the CLI; raises GatewayError subclasses for setup failures."""
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve_ingress(config, options, ca_dir=ca_dir, decision_log=decision_log,
                                     reuse_port=reuse_port))
    except OSError as exc:
        raise IngressSetupError(f"cannot serve: {exc.strerror or exc}") from None


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when uvloop is installed, else None (asyncio's own loop).

    uvloop is optional, as in uvicorn's `--loop auto`, and not a dependency: measured on
    the data plane it cut the CPU per streamed request by about 17 %, with no measurable
    change when response DLP dominates (docs/gateway.md, Performance).
    """
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
