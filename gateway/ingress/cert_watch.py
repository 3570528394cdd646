"""Reload the listener's own certificate and key when their files change.

pki/ issues 24-hour certificates, and Kubernetes updates a mounted Secret in place, so a
server that loaded `tls.cert` once served an expired certificate a day after it started.
`CertificateWatch.check` (every `tls.cert_refresh_seconds`) stats both files; when one
changed it copies the pair to a private temporary directory, loads the copy into a scratch
SSLContext first (a certificate beside a key it does not match, as in the middle of a
renewal, or one already expired, never reaches the live context), then into the live one.
OpenSSL takes the context's certificate when each connection starts, so new connections
get the new certificate and open ones keep theirs.

A failed reload is logged (`certificate reload failed`) and counted
(`zonegate_tls_certificate_reloads_total{result="error"}`), the certificate in force stays,
and the pair is tried again when either file changes. `zonegate_tls_certificate_expiry_
timestamp_seconds` is the notAfter of the certificate in force, for an alert before it
lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from prometheus_client import Counter, Gauge

from gateway.ingress.errors import CertificateReloadError
from gateway.ingress.polling import every, file_stamp

_log = logging.getLogger("zonegate.ingress.tls")


def not_after(cert: Path) -> datetime:
    """The notAfter of the first certificate in a PEM file."""
    try:
        leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    except (OSError, ValueError, IndexError) as exc:
        raise CertificateReloadError(f"{cert}: not a PEM certificate: {exc}") from None
    return leaf.not_valid_after_utc


class CertificateWatch:
    """Puts a changed `cert`/`key` pair in force in `context`, or keeps the one in force."""

    def __init__(self, context: ssl.SSLContext, cert: Path, key: Path, *,
                 reloads: Counter | None = None, expiry: Gauge | None = None) -> None:
        self._context = context
        self._cert, self._key = cert, key
        self._reloads = reloads
        self._expiry = expiry
        self._seen = (file_stamp(cert), file_stamp(key))
        self._export(cert)

    def _export(self, cert: Path) -> None:
        if self._expiry is None:
            return
        # the context loaded it at start, so it parsed then; if not now, keep the gauge
        with contextlib.suppress(CertificateReloadError):
            self._expiry.set(not_after(cert).timestamp())

    def check(self) -> bool:
        """Reload when either file changed since the last look; True when one was loaded."""
        seen = (file_stamp(self._cert), file_stamp(self._key))
        if seen == self._seen or None in seen:
            return False  # unchanged, or a file missing for now (the pair in force stays)
        self._seen = seen
        try:
            expires = self._load()
        except CertificateReloadError as exc:
            if self._reloads is not None:
                self._reloads.labels("error").inc()
            _log.error("certificate reload failed; the certificate in force stays",
                       extra={"cert": str(self._cert), "error": str(exc)})
            return False
        if self._reloads is not None:
            self._reloads.labels("ok").inc()
        if self._expiry is not None:
            self._expiry.set(expires.timestamp())
        _log.info("certificate reloaded", extra={"cert": str(self._cert),
                                                 "not_after": expires.isoformat()})
        return True

    def _load(self) -> datetime:
        # one copy of the pair is checked and loaded, so a file replaced between the two
        # loads cannot slip an unchecked pair into the live context
        private = Path(tempfile.mkdtemp(prefix="zonegate-tls-"))
        try:
            cert, key = private / "cert.pem", private / "key.pem"
            try:
                shutil.copyfile(self._cert, cert)
                shutil.copyfile(self._key, key)
            except OSError as exc:
                raise CertificateReloadError(f"cannot read: {exc}") from None
            expires = not_after(cert)
            if expires <= datetime.now(UTC):
                raise CertificateReloadError(
                    f"{self._cert}: expired at {expires:%Y-%m-%dT%H:%M:%SZ}")
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise CertificateReloadError(
                    f"{self._cert} / {self._key}: cannot load: {exc}") from None
            try:
                self._context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:  # the scratch load passed: unexpected
                raise CertificateReloadError(f"the live context refused it: {exc}") from None
            return expires
        finally:
            shutil.rmtree(private, ignore_errors=True)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Check every `interval` seconds until `stop` is set."""
        await every(interval, stop, self.check)
