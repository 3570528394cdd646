"""The ingress data plane's exception tree.

    IngressError
    ├── RequestRejected      a request the gateway refuses before policy (400/413/431)
    │   └── AmbiguousPath    a path whose meaning depends on who decodes it (400)
    ├── DeviceTrustUnavailable  the quarantine source cannot be read (fail closed: 503)
    ├── CRLFetchError        `tls.crl_url` gave no CRL we can put in force (the old one stays)
    ├── CertificateReloadError  a renewed tls.cert/tls.key cannot be served (the old stays)
    └── IngressSetupError    the listener, TLS or signing key cannot be set up
"""

from __future__ import annotations

from gateway.errors import GatewayError


class IngressError(GatewayError):
    """Base of the data plane's errors."""


class RequestRejected(IngressError):
    """The request is refused before policy; `status` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class AmbiguousPath(RequestRejected):
    """Encoded slash, backslash, NUL, overlong UTF-8, double encoding, escaping dot segment."""


class DeviceTrustUnavailable(IngressError):
    """The device trust source cannot answer; every request is refused until it can."""


class CRLFetchError(IngressError):
    """A fetch of `tls.crl_url` failed: transport, status, size, parse, signer or age."""


class CertificateReloadError(IngressError):
    """A changed `tls.cert`/`tls.key` pair cannot be served: unreadable, mismatched, expired."""


class IngressSetupError(IngressError):
    """The gateway cannot start: bad TLS files, signing key, audit log or zone table."""
