"""The listener's TLS context: server certificate, and client certificates off, optional
or required against the client CA (with the CRL when one is configured)."""

from __future__ import annotations

import ssl

from gateway.config import TLSConfig
from gateway.ingress.errors import IngressSetupError


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
