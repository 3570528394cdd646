"""`zonegate egress run`: assemble the guard from the configuration and run mitmproxy.

Everything is checked before the proxy listens (fail closed at start): the interception
CA matches its key and chains to the root, the policy compiles and its tests pass, the
inventory and quarantine files parse (or the store opens, with `device_trust: store`), the
alert sink URL is an http(s) URL and its client certificate, CA bundle and token load.

With `device_trust: store` the quarantines come from the store, as for the ingress
(`gateway.ingress.devices.StoreDeviceSource` over `gateway.store.trust.StoreTrustSource`):
a snapshot refreshed every `trust_refresh_seconds` on the proxy's event loop; until the
first snapshot loads every terminal is refused (503), and when the store becomes
unreachable the last snapshot stays in force.

The CRL in `client_ca_dir` is re-read when it changes (`crl_refresh_seconds`, with the
ingress's `CRLWatch`): a new file that does not parse, is not signed by the CA or is older
than the CRL in force is logged and the CRL in force stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mitmproxy import ctx, exceptions, options
from mitmproxy.tools.dump import DumpMaster

from classify import Classifier
from gateway.config import EgressConfig, GatewayConfig
from gateway.egress.addon import EgressGuard, GuardSettings
from gateway.egress.alerts import AlertDispatcher
from gateway.egress.dlp import OutboundInspector
from gateway.egress.errors import EgressError
from gateway.egress.identify import InventoryIndex, TerminalIdentifier
from gateway.egress.interception import interception_pem, make_confdir
from gateway.identity.mtls import CertificateAuthenticator
from gateway.ingress.crl_watch import CRLWatch
from gateway.ingress.devices import DeviceTrustSource, QuarantineFileSource, StoreDeviceSource
from gateway.ingress.logs import JSONFormatter
from gateway.ingress.polling import Poller
from gateway.pdp import build_engine
from gateway.pdp.port import PDPError
from gateway.store import Store, StoreError
from gateway.store.trust import StoreTrustSource
from monitor.errors import MonitorError
from monitor.sinks.http import HttpSink, SinkCredentials
from pki.errors import PKIError
from pki.verify import CertificateVerifier

Mode = Literal["regular", "transparent"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line overrides of the `egress:` section."""

    mode: Mode | None = None
    listen: str | None = None  # host:port; port 0 picks a free one


def egress_section(config: GatewayConfig) -> EgressConfig:
    """The `egress:` section, or a clear error naming what is missing."""
    if config.egress is None:
        raise EgressError("the configuration has no 'egress:' section (see docs/egress.md)")
    return config.egress


def open_store_trust(config: GatewayConfig, egress: EgressConfig
                     ) -> tuple[Store, StoreTrustSource]:
    """The store and its quarantine snapshot source (started later, on the proxy's loop)."""
    try:
        store = Store.open(config.store)
    except StoreError as exc:
        raise EgressError(f"store: {exc}") from None
    trust = StoreTrustSource(store.quarantines, interval=egress.trust_refresh_seconds,
                             trust_any_device_id=True)
    return store, trust


def alert_sink(egress: EgressConfig) -> HttpSink | None:
    """The control plane's alert intake, with the proxy's client credentials, if set."""
    if egress.alerts_url is None:
        return None
    credentials = SinkCredentials(cert=egress.alerts_cert, key=egress.alerts_key,
                                  ca=egress.alerts_ca, token_file=egress.alerts_token_file)
    try:
        return HttpSink(egress.alerts_url, egress.alerts_spool, credentials=credentials)
    except MonitorError as exc:
        raise EgressError(f"egress.alerts_url: {exc}") from None


def client_verifier(config: GatewayConfig, egress: EgressConfig) -> CertificateVerifier | None:
    """The verifier of terminals' client certificates (None without `client_ca_dir`)."""
    if egress.client_ca_dir is None:
        return None
    try:
        return CertificateVerifier.from_ca_dir(egress.client_ca_dir, config.trust_domain)
    except PKIError as exc:
        raise EgressError(f"egress.client_ca_dir: {exc}") from None


def build_guard(config: GatewayConfig, egress: EgressConfig, mode: Mode, *,
                devices: DeviceTrustSource | None = None,
                verifier: CertificateVerifier | None = None) -> EgressGuard:
    """The addon with its engine, identifier, inspector and alert dispatcher.

    `devices` is the quarantine source when it is not the configured file (the store);
    `verifier` the client-certificate verifier when the caller keeps it (to reload its
    CRL), else one is built from `client_ca_dir`.
    """
    policy = config.policy.model_copy(update={"decision": egress.decision})
    try:
        engine = build_engine(policy, opa_timeout_seconds=config.policy.opa_timeout_seconds)
    except PDPError as exc:
        raise EgressError(f"policy: {exc}") from None
    verifier = verifier or client_verifier(config, egress)
    certificates = CertificateAuthenticator(verifier) if verifier is not None else None
    quarantine: DeviceTrustSource | None = devices
    if quarantine is None and egress.quarantine_file is not None:
        quarantine = QuarantineFileSource(egress.quarantine_file)
    inventory = InventoryIndex(egress.inventory) if egress.inventory is not None else None
    if inventory is not None:
        inventory.lookup("0.0.0.0")  # noqa: S104 - a probe: a broken file fails the start
    sink = alert_sink(egress)
    alerts = AlertDispatcher(ndjson=egress.alerts_out, sink=sink) \
        if sink is not None or egress.alerts_out is not None else None
    return EgressGuard(
        engine=engine,
        identifier=TerminalIdentifier(certificates=certificates, inventory=inventory,
                                      quarantine=quarantine),
        inspector=OutboundInspector(Classifier.default()), alerts=alerts,
        settings=GuardSettings(mode=mode, dlp=egress.dlp, max_body_bytes=egress.max_body_bytes),
    )


def _split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise EgressError(f"--listen must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def mitmproxy_options(egress: EgressConfig, confdir: Path, mode: Mode,
                      listen: tuple[str, int]) -> dict[str, object]:
    """mitmproxy's options for the egress proxy (the only place they are set)."""
    opts: dict[str, object] = {
        "confdir": str(confdir), "listen_host": listen[0], "listen_port": listen[1],
        "mode": [mode],
        # no upstream connection before the policy allowed a request
        "connection_strategy": "lazy",
        # terminals are not on loopback; the guard decides who may pass
        "block_global": False,
        "request_client_cert": egress.client_ca_dir is not None,
        "ssl_insecure": False,
        # the guard refuses bodies above max_body_bytes with its JSON 413; mitmproxy's own
        # limit is the backstop for chunked bodies that would otherwise be read without end
        "body_size_limit": str(2 * egress.max_body_bytes),
        "http3": False,
    }
    if egress.upstream_ca is not None:
        opts["ssl_verify_upstream_trusted_ca"] = str(egress.upstream_ca)
    return opts


class _Ready:
    """Reports the bound addresses once mitmproxy listens."""

    def __init__(self, mode: Mode, announce: Callable[[str], None]) -> None:
        self._mode = mode
        self._announce = announce

    def running(self) -> None:
        server = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        for host, port, *_ in server.listen_addrs():
            self._announce(f"zonegate egress: listening on {host}:{port} ({self._mode})")


async def _serve(opts: dict[str, object], guard: EgressGuard, mode: Mode,
                 announce: Callable[[str], None], trust: StoreTrustSource | None,
                 crl: Poller | None = None) -> None:
    stop = asyncio.Event()
    watcher = asyncio.create_task(crl(stop)) if crl is not None else None
    try:
        if trust is not None:
            # the first snapshot before the proxy listens, then refreshed on this loop
            await trust.start()
            try:
                await _serve_proxy(opts, guard, mode, announce)
            finally:
                await trust.close()
        else:
            await _serve_proxy(opts, guard, mode, announce)
    finally:
        stop.set()
        if watcher is not None:
            await watcher


async def _serve_proxy(opts: dict[str, object], guard: EgressGuard, mode: Mode,
                       announce: Callable[[str], None]) -> None:
    # the options exist once the default addons registered them
    master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
    try:
        master.options.update(**opts)  # type: ignore[no-untyped-call]
    except (KeyError, exceptions.OptionsError) as exc:
        raise EgressError(f"mitmproxy refused the options: {exc}") from None
    master.addons.add(guard, _Ready(mode, announce))  # type: ignore[no-untyped-call]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, master.shutdown)
    await master.run()


def _crl_log_to_stderr() -> None:
    """Print the CRL watch's records on stderr as JSON lines, as the ingress does.

    mitmproxy takes what reaches the root logger into its own event log, which `egress
    run` does not print, so a CRL that failed to reload would go unseen.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    crl_log = logging.getLogger("zonegate.ingress.crl")
    crl_log.handlers[:] = [handler]
    crl_log.propagate = False
    crl_log.setLevel(logging.INFO)


def run(config: GatewayConfig, run_options: RunOptions,
        announce: Callable[[str], None]) -> dict[str, int]:
    """Run the egress proxy until SIGTERM/SIGINT; returns the guard's counters."""
    egress = egress_section(config)
    mode: Mode = run_options.mode or egress.mode
    listen = _split_listen(run_options.listen or egress.listen)
    pem = interception_pem(egress)
    store, trust = open_store_trust(config, egress) if egress.device_trust == "store" \
        else (None, None)
    try:
        verifier = client_verifier(config, egress)
        guard = build_guard(config, egress, mode,
                            devices=StoreDeviceSource(trust) if trust is not None else None,
                            verifier=verifier)
        # a terminal revoked with `zonegate pki revoke` is refused from the next look on,
        # and a CRL re-signed by `zonegate pki crl` keeps the others from going stale
        crl = functools.partial(CRLWatch(context=None, context_crl=None, verifier=verifier).run,
                                egress.crl_refresh_seconds) if verifier is not None else None
        confdir = make_confdir(pem)
        logging.getLogger("zonegate.egress").setLevel(logging.INFO)
        _crl_log_to_stderr()
        try:
            asyncio.run(_serve(mitmproxy_options(egress, confdir, mode, listen), guard, mode,
                               announce, trust, crl))
        finally:
            shutil.rmtree(confdir, ignore_errors=True)
            if guard.alerts is not None:
                guard.alerts.close()
    finally:
        if store is not None:
            store.close()
    return dict(guard.counts)
