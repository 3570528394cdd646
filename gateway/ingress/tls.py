"""The listener's TLS context: server certificate, and client certificates off, optional
or required against the client CA (with the CRL when one is configured); and the pollers
that keep it current while it runs (a renewed certificate, a new CRL)."""

from __future__ import annotations

import functools
import ssl

from gateway.config import TLSConfig
from gateway.identity.mtls import ChainVerifier
from gateway.ingress.cert_watch import CertificateWatch
from gateway.ingress.crl_watch import CRLWatch
from gateway.ingress.errors import IngressSetupError
from gateway.ingress.polling import Poller
from gateway.metrics import GatewayMetrics
from pki.verify import CertificateVerifier


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    """Build the server SSLContext (TLS 1.2+); raise IngressSetupError naming the file."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise IngressSetupError(
            f"tls.cert/tls.key ({tls.cert}, {tls.key}): cannot load: {exc}") from None
    if tls.client_cert == "off":
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        context.load_verify_locations(cafile=tls.client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise IngressSetupError(f"tls.client_ca ({tls.client_ca}): cannot load: {exc}") \
            from None
    if tls.crl is not None:
        try:
            context.load_verify_locations(cafile=tls.crl)
        except (OSError, ssl.SSLError) as exc:
            raise IngressSetupError(f"tls.crl ({tls.crl}): cannot load: {exc}") from None
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.verify_mode = (ssl.CERT_REQUIRED if tls.client_cert == "required"
                           else ssl.CERT_OPTIONAL)
    return context


def tls_pollers(tls: TLSConfig, context: ssl.SSLContext, verifier: ChainVerifier | None,
                metrics: GatewayMetrics | None = None) -> list[Poller]:
    """What keeps a running listener's TLS current: its certificate, renewed in place
    (`tls.cert_refresh_seconds`), and its CRLs, the handshake's and the verifier's
    (`tls.crl_refresh_seconds`). Built when the context is, so that they compare the files
    with what the context loaded; `metrics` (the ingress's) count the reloads.
    """
    renewals = CertificateWatch(
        context, tls.cert, tls.key,
        reloads=metrics.tls_cert_reloads if metrics is not None else None,
        expiry=metrics.tls_cert_expiry if metrics is not None else None)
    pollers: list[Poller] = [functools.partial(renewals.run, tls.cert_refresh_seconds)]
    crls = CRLWatch(
        context=context, context_crl=tls.crl,
        verifier=verifier if isinstance(verifier, CertificateVerifier) else None,
        reloads=metrics.crl_reloads if metrics is not None else None,
        last_success=metrics.crl_last_reload if metrics is not None else None,
        next_update=metrics.crl_next_update if metrics is not None else None)
    if crls.watching:
        pollers.append(functools.partial(crls.run, tls.crl_refresh_seconds))
    return pollers
