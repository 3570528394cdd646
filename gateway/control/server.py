"""`serve_control`: the control plane on uvicorn at `listen.control`; `run`, the blocking
entry of `zonegate serve --role control|all`.

TLS comes from the config's `tls:` section (the same server certificate, client CA and
CRL as the ingress, each reloaded while running as the ingress does:
gateway/ingress/crl_watch.py and cert_watch.py). uvicorn does not put the client
certificate in the ASGI scope, so `ClientCertificateH11` (uvicorn's h11 protocol, one
instance per connection) publishes the verified peer certificate as the ASGI TLS
extension (`scope["extensions"]["tls"]`), which is where `AccessControl` reads it: that
is how the monitor authenticates with mTLS.

A `ShadowSweep` thread compares the shadow policy candidate, while one is set, with the
decisions the gateways write to the store's decision index (live shadow mode).

With `control.publish_bundle` the active policy bundle is written there at start-up (and
by the policy routes after each activation or rollback), signed with
`control.bundle_signing_key` when one is set; a key that cannot sign stops the start.

Signals belong to the caller: one stop event ends every server of the process, so
`--role all` runs the ingress and the control plane in one event loop and stops both on
the first SIGTERM (or when either fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.config import ControlConfig, GatewayConfig
from gateway.control.app import build_app
from gateway.control.errors import ControlSetupError
from gateway.control.policy_service import PolicyService
from gateway.control.routes.policies import shadow_sweep_of
from gateway.errors import ConfigError
from gateway.identity import build_authenticator, build_chain_verifier
from gateway.pdp.port import BundleError
from gateway.store import Store, StoreError
from pki.passphrase import resolve_passphrase

if TYPE_CHECKING:
    from gateway.identity.mtls import ChainVerifier

log = logging.getLogger("zonegate.control")
IngressTask = Callable[[asyncio.Event], Coroutine[object, object, None]]
_MAX_HEADER_BLOCK = 32 * 1024


class _WithPeerCertificate:
    """ASGI wrapper for one TLS connection: adds the peer certificate to each scope."""

    def __init__(self, app: ASGIApp, pem: str, version: int | None) -> None:
        self.app = app
        self._tls = {"client_cert_chain": [pem], "tls_version": version,
                     "server_cert": None, "client_cert_name": None,
                     "client_cert_error": None, "cipher_suite": None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = self._tls
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class ClientCertificateH11(H11Protocol):
    """uvicorn's h11 protocol that also hands the TLS peer certificate to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return
        der = ssl_object.getpeercert(binary_form=True)
        if der:  # the handshake verified it against tls.client_ca
            version = _TLS_VERSIONS.get(ssl_object.version() or "")
            wrapped = _WithPeerCertificate(cast(ASGIApp, self.app),
                                           ssl.DER_cert_to_PEM_cert(der), version)
            self.app = cast(type(self.app), wrapped)  # type: ignore[misc]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # the caller's stop event ends the server; uvicorn must not take the signals over
        yield


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def bind(address: str) -> socket.socket:
    """A listening TCP socket on `host:port` (ControlSetupError when it cannot bind)."""
    host, port = _host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=512)
    except OSError as exc:
        raise ControlSetupError(f"listen.control ({address}): cannot listen: "
                                f"{exc.strerror or exc}") from None


def _ssl_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """The listener's context, built at start-up so that a bad file fails the start."""
    if config.tls is None:
        return None
    # imported here: gateway.ingress pulls in the data plane
    from gateway.ingress.tls import server_context

    return server_context(config.tls)


def _file_watchers(config: GatewayConfig, context: ssl.SSLContext | None,
                   verifier: ChainVerifier | None, stop: asyncio.Event,
                   ) -> list[asyncio.Task[None]]:
    """Reload the CRLs and the server certificate while running, as the ingress does.

    Without them a monitor certificate revoked through this API still posted alerts, once
    the loaded CRL passed its nextUpdate every client certificate was refused, and a day
    after start (24 h certificates) the control plane served an expired certificate.
    """
    from gateway.ingress.tls import tls_pollers

    if config.tls is None or context is None:
        return []
    return [asyncio.create_task(poll(stop))
            for poll in tls_pollers(config.tls, context, verifier)]


def _read_optional(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} ({path}): cannot read: {exc.strerror}") from None


def _bundle_signing_key(control: ControlConfig) -> bytes | None:
    """The PEM of `control.bundle_signing_key`, refused at start-up (not at the first
    activation) when it cannot sign: encrypted, not a private key, or a curve other than
    P-256 (ES256) and not RSA (RS256)."""
    pem = _read_optional(control.bundle_signing_key, "control.bundle_signing_key")
    if pem is None:
        return None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"control.bundle_signing_key ({control.bundle_signing_key}): not an "
                          "unencrypted PEM private key") from None
    usable = isinstance(key, rsa.RSAPrivateKey) or (
        isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1))
    if not usable:
        raise ConfigError(f"control.bundle_signing_key ({control.bundle_signing_key}): "
                          "must be an EC P-256 (ES256) or RSA (RS256) key")
    return pem


def _publish_active(store: Store, control: ControlConfig, signing_key: bytes | None) -> None:
    """Write the revision in force to `control.publish_bundle` now, so that a control plane
    restarted on an empty volume republishes it before the next activation."""
    path = control.publish_bundle
    if path is None:
        return
    try:
        published = PolicyService(store, publish_path=path, signing_key=signing_key,
                                  key_id=control.bundle_key_id).publish()
    except BundleError as exc:  # the message names the file and the reason
        raise ConfigError(f"control.publish_bundle: {exc}") from None
    if published is not None:
        log.info("published the active policy bundle to %s", published)


async def serve_control(config: GatewayConfig, *, audit_log: Path | None = None,
                        store: Store | None = None, sock: socket.socket | None = None,
                        stop: asyncio.Event | None = None,
                        handle_signals: bool = True) -> None:
    """Serve the control plane until `stop` is set (or SIGTERM/SIGINT with
    `handle_signals`).

    `store` defaults to `Store.open(config.store)` (closed on return); its schema must be
    at head (`zonegate store migrate`). `sock` is an already listening socket (tests bind
    port 0); by default `listen.control` is bound. Raises ControlSetupError, ConfigError,
    StoreError or PKIError when the configuration cannot be served.
    """
    control = config.control
    own_store = store is None
    opened = store if store is not None else Store.open(config.store)
    try:
        await asyncio.to_thread(opened.check_schema)
        signing_key = _bundle_signing_key(control)
        await asyncio.to_thread(_publish_active, opened, control, signing_key)
        passphrase = (resolve_passphrase(env=control.ca_passphrase_env)
                      if control.ca_passphrase_env else None)
        tls = config.tls
        verifies_certs = tls is not None and (tls.client_cert != "off"
                                              or bool(tls.trusted_xfcc_from))
        client_ca_dir = control.ca_dir or (tls.client_ca.parent if tls is not None
                                           and tls.client_ca is not None else None)
        if control.ingesters and not verifies_certs:
            log.warning("control.ingesters is set but tls.client_cert is off: the monitor "
                        "cannot authenticate with its certificate")
        context = _ssl_context(config)
        verifier = build_chain_verifier(config, client_ca_dir if verifies_certs else None)
        authenticator = build_authenticator(config, verifier)
        stop = stop or asyncio.Event()
        watchers = _file_watchers(config, context, verifier, stop)
        try:
            app = build_app(
                config, store=opened, authenticator=authenticator, ca_dir=control.ca_dir,
                ca_passphrase=passphrase, audit_log=audit_log,
                ingesters=frozenset(control.ingesters),
                verification_key=_read_optional(config.policy.verification_key,
                                                "policy.verification_key"),
                bundle_signing_key=signing_key, bundle_key_id=control.bundle_key_id,
                publish_bundle=control.publish_bundle,
            )
            listener = sock if sock is not None else bind(config.listen.control)
            sweep = shadow_sweep_of(app)  # live shadow mode over the decision index
            try:  # a shadow set before a restart is compared again
                await asyncio.to_thread(sweep.service.restore_shadow)
            except StoreError as exc:
                log.error("cannot read whether a policy shadow was set: %s", exc)
            sweep.start()
            server = _Server(uvicorn.Config(
                app, http=ClientCertificateH11, lifespan="off", log_config=None,
                access_log=False, proxy_headers=False, server_header=False,
                ssl_context_factory=(lambda _config, _default: context)
                if context is not None else None,
                timeout_keep_alive=30, h11_max_incomplete_event_size=_MAX_HEADER_BLOCK,
            ))
            try:
                await _run_until(server, listener, stop, handle_signals,
                                 "https" if context is not None else "http")
            finally:
                await asyncio.to_thread(sweep.stop)
        finally:
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await authenticator.close()
    finally:
        if own_store:
            opened.close()


async def _run_until(server: uvicorn.Server, listener: socket.socket, stop: asyncio.Event,
                     handle_signals: bool, scheme: str) -> None:
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    host, port = listener.getsockname()[:2]
    log.info("control plane listening on %s://%s:%s", scheme,
             f"[{host}]" if ":" in host else host, port)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving  # re-raises what ended the server, if it failed
        log.info("control plane stopped")


def run(config: GatewayConfig, *, audit_log: Path | None,
        ingress: IngressTask | None = None) -> None:
    """Blocking entry for the CLI: the control plane, and with `ingress` the data plane in
    the same event loop, until SIGTERM/SIGINT. If either fails, both stop and the error is
    raised (a GatewayError subclass for setup failures)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(serve_control(config, audit_log=audit_log, stop=stop,
                                                   handle_signals=False))]
        if ingress is not None:
            tasks.append(asyncio.create_task(ingress(stop)))
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    try:
        asyncio.run(main())
    except OSError as exc:
        raise ControlSetupError(f"cannot serve: {exc.strerror or exc}") from None
