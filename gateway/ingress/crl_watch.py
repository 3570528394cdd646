"""Keep the CRLs a running gateway checks current (`tls.crl_refresh_seconds`).

Two places check revocation: OpenSSL during the handshake (`tls.crl` loaded into the
listener's SSLContext with `VERIFY_CRL_CHECK_LEAF`) and pki/'s verifier afterwards (the
CA directory's `crl.pem`, or `tls.crl`). Both read their file once at start-up, so without
this a certificate revoked with `zonegate pki revoke` stayed accepted until a restart, and
once the loaded CRL passed its next-update every client certificate was refused.

`CRLWatch.check` stats the files and reloads what changed:

* the verifier swaps its CRL with `reload_crl` (the previous one stays in force when the
  new file does not parse, is not signed by our CA, or is older than the CRL in force,
  which may have come from `tls.crl_url`: gateway/ingress/crl_fetch.py);
* the SSLContext gets the new CRL added with `load_verify_locations`: a running listener
  cannot swap its context, and OpenSSL picks, among the CRLs of one issuer that are
  current, the one with the latest `lastUpdate` (`get_crl_sk`), so the newest file wins.
  The file is parsed by pki/ first, so a broken file never reaches the store. Each reload
  adds one CRL to the context's store: a few KB per CRL the CA publishes.

A failed reload is logged and counted (`zonegate_crl_reloads_total{result="error"}`) and
retried at the next change of the file; nothing is ever made more permissive by a failure.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import datetime
from pathlib import Path
from typing import Protocol

from prometheus_client import Counter, Gauge

from gateway.ingress.polling import FileStamp, every, file_stamp
from pki.crl import load_crl
from pki.errors import PKIError

_log = logging.getLogger("zonegate.ingress.crl")


class ReloadableCRL(Protocol):
    """The part of `pki.verify.CertificateVerifier` that reloads its CRL."""

    crl_path: Path | None

    def reload_crl(self, crl_path: Path | None = None) -> None:
        """Re-read the CRL file and swap it in; raise on any error, keeping the old one."""
        ...

    def crl_next_update(self) -> datetime | None:
        """The earliest nextUpdate among the CRLs in force."""
        ...


def export_next_update(verifier: ReloadableCRL, gauge: Gauge | None) -> None:
    """Set `gauge` (zonegate_crl_next_update_timestamp_seconds) from the CRLs in force."""
    when = verifier.crl_next_update()
    if gauge is not None and when is not None:
        gauge.set(when.timestamp())


class CRLWatch:
    """Reloads the handshake's and the verifier's CRL when their files change."""

    def __init__(self, *, context: ssl.SSLContext | None, context_crl: Path | None,
                 verifier: ReloadableCRL | None, reloads: Counter | None = None,
                 last_success: Gauge | None = None,
                 next_update: Gauge | None = None) -> None:
        """Watch `context_crl` for `context` and the verifier's own CRL file; the metrics
        are optional (the egress proxy exports none). `next_update` is set at once."""
        self._context = context
        self._context_crl = context_crl if context is not None else None
        self._verifier = verifier if verifier is not None and verifier.crl_path else None
        self._reloads = reloads
        self._last_success = last_success
        self._next_update = next_update
        self._seen: dict[str, FileStamp | None] = {}
        for name, path in self._files():
            self._seen[name] = file_stamp(path)
        if self._verifier is not None:
            export_next_update(self._verifier, next_update)

    def _files(self) -> list[tuple[str, Path]]:
        files = []
        if self._context_crl is not None:
            files.append(("handshake", self._context_crl))
        if self._verifier is not None and self._verifier.crl_path is not None:
            files.append(("verifier", self._verifier.crl_path))
        return files

    @property
    def watching(self) -> bool:
        """Whether there is any CRL file to watch."""
        return bool(self._files())

    def check(self) -> list[str]:
        """Reload each CRL whose file changed since the last look; returns what reloaded."""
        reloaded = []
        for name, path in self._files():
            stamp = file_stamp(path)
            if stamp is None or stamp == self._seen.get(name):
                continue  # a missing file keeps the CRL in force (fail closed)
            try:
                self._reload(name, path)
            except (OSError, PKIError, ssl.SSLError) as exc:
                if self._reloads is not None:
                    self._reloads.labels(name, "error").inc()
                _log.error("crl reload failed; the previous CRL stays in force",
                           extra={"crl": str(path), "check": name, "error": str(exc)})
            else:
                if self._reloads is not None and self._last_success is not None:
                    self._reloads.labels(name, "ok").inc()
                    self._last_success.set(time.time())
                _log.info("crl reloaded", extra={"crl": str(path), "check": name})
                reloaded.append(name)
            # a failed file is retried when it changes again, not on every tick
            self._seen[name] = stamp
        return reloaded

    def _reload(self, name: str, path: Path) -> None:
        if name == "verifier":
            if self._verifier is not None:
                self._verifier.reload_crl(path)
                export_next_update(self._verifier, self._next_update)
            return
        load_crl(path.read_bytes(), str(path))  # parse it ourselves before OpenSSL sees it
        if self._context is not None:
            self._context.load_verify_locations(cafile=path)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Check every `interval` seconds until `stop` is set."""
        await every(interval, stop, self.check)  # a stat per file; a parse on a change
