"""Fetch the CA's CRL over HTTP(S) (`tls.crl_url`) and put it in force while running.

A gateway in a cluster reads its CRL from a mounted Secret, so without this it learned of
a revocation only when an operator copied the control plane's CRL into that Secret. With
`tls.crl_url` (the control plane's public `/crl.pem`) each gateway asks for the CRL once
before it listens and then every `tls.crl_fetch_seconds`:

* the body is read within a timeout and up to pki/'s CRL size bound; a redirect, a status
  other than 200 or a longer body is a failed fetch;
* pki/'s verifier puts it in force only when our CA signed it and it is not older than
  the CRL in force (`CertificateVerifier.install_crl`). The transport is never trusted
  for authenticity, so plain HTTP inside a cluster can neither forge a CRL nor roll a
  revocation back; HTTPS is verified against `tls.crl_url_ca` (default `tls.client_ca`);
* only then is it added to the handshake's SSLContext, through a private temporary file
  because OpenSSL loads CRLs from files only. OpenSSL uses the newest current CRL of an
  issuer, so the context and the verifier agree.

A failed fetch keeps the CRL in force, is logged and counted
(`zonegate_crl_reloads_total{check="fetch",result="error"}`) and is retried at the next
interval. A CRL in force that passes its nextUpdate with no fresh one makes both checks
refuse every client certificate (fail closed); `zonegate_crl_next_update_timestamp_seconds`
lets an alert fire before that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import time
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import serialization
from prometheus_client import Counter, Gauge

from gateway.ingress.crl_watch import export_next_update
from gateway.ingress.errors import CRLFetchError
from gateway.ingress.polling import every
from pki.crl import MAX_CRL_BYTES, load_crl
from pki.errors import PKIError
from pki.verify import CertificateVerifier

_log = logging.getLogger("zonegate.ingress.crl")
TIMEOUT_SECONDS = 10.0


class CRLFetch:
    """Polls one CRL URL and puts each newer CRL in force in the verifier and the context."""

    def __init__(self, url: str, *, verifier: CertificateVerifier,
                 context: ssl.SSLContext | None, server_ca: Path | None,
                 reloads: Counter, last_success: Gauge, next_update: Gauge,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self._verifier = verifier
        self._context = context
        self._server_ca = server_ca
        self._reloads = reloads
        self._last_success = last_success
        self._next_update = next_update
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls: ssl.SSLContext | bool = False
            if self.url.startswith("https://"):
                tls = ssl.create_default_context(
                    cafile=str(self._server_ca) if self._server_ca is not None else None)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls, limit=1), timeout=self._timeout,
                auto_decompress=False)
        return self._session

    async def fetch(self) -> bool:
        """Fetch once; True when a newer CRL was put in force, False when it already was.

        Raises CRLFetchError naming what went wrong; the CRL in force then stays.
        """
        body = await self._download()
        try:
            crl = load_crl(body, self.url)
            if not self._verifier.install_crl(crl, self.url):
                return False
        except PKIError as exc:
            raise CRLFetchError(str(exc)) from None
        if self._context is not None:
            _add_to_context(self._context, crl.public_bytes(serialization.Encoding.PEM))
        return True

    async def _download(self) -> bytes:
        try:
            async with self._client().get(self.url, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise CRLFetchError(f"{self.url}: HTTP {resp.status}")
                if (resp.content_length or 0) > MAX_CRL_BYTES:
                    raise CRLFetchError(f"{self.url}: larger than {MAX_CRL_BYTES} bytes")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > MAX_CRL_BYTES:
                        raise CRLFetchError(f"{self.url}: larger than {MAX_CRL_BYTES} bytes")
                return bytes(body)
        except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            raise CRLFetchError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        except TimeoutError:
            raise CRLFetchError(f"{self.url}: no answer within "
                                f"{self._timeout.total:g} s") from None

    async def check(self) -> bool:
        """`fetch`, logged and counted; never raises. True when a newer CRL is in force."""
        try:
            installed = await self.fetch()
        except CRLFetchError as exc:
            self._reloads.labels("fetch", "error").inc()
            _log.error("crl fetch failed; the CRL in force stays",
                       extra={"crl_url": self.url, "error": str(exc)})
            return False
        if installed:
            self._reloads.labels("fetch", "ok").inc()
            self._last_success.set(time.time())
            _log.info("crl fetched", extra={"crl_url": self.url})
        export_next_update(self._verifier, self._next_update)
        return installed

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Fetch every `interval` seconds until `stop` is set."""
        await every(interval, stop, self.check)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _add_to_context(context: ssl.SSLContext, pem: bytes) -> None:
    """Add a CRL to the context's store; `cadata` takes certificates only, so a file."""
    fd, name = tempfile.mkstemp(prefix="zonegate-crl-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        context.load_verify_locations(cafile=name)
    finally:
        Path(name).unlink()
