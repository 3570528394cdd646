"""Alerts POSTed to the control plane; spooled to disk while it is unreachable, none lost.

Each alert is POSTed as one JSON document. When a POST fails (connection refused, timeout,
5xx), the alert is appended (fsynced) to the spool file and no further POST is tried until
`retry_seconds` have passed; then the spool is replayed in order before new alerts, and
rewritten atomically with whatever is still undelivered. The replay does not wait for the
next alert: the monitor polls the sink about once a second (`poll`), so a quiet capture
still empties its spool once the control plane is back.

An answer of 400, 413 or 422 is a permanent refusal of that one alert (the control plane
will never take it): it is moved, fsynced, to the dead-letter file `<spool>.rejected` and
reported in `last_error` and `rejected`, so it neither is lost nor blocks the alerts behind
it. Any other refusal (401/403 while a certificate or token is renewed, 404, 429, 5xx) is
taken as passing: the alert stays in the spool and is tried again.

The control plane admits a machine client by its client certificate (mTLS: a pki/-issued
certificate whose SPIFFE ID is in `control.ingesters`) or by an OIDC bearer token.
`SinkCredentials` carries both: the certificate and key, the CA bundle that verifies the
control plane's server certificate, and a file holding a token (re-read before each POST,
so whatever renews it only rewrites the file). The certificate, key and CA bundle are
loaded again when their files change (`ClientTLS`), so a renewal in place needs no
restart. Credentials need an https:// URL: a
certificate or a token is never offered over plain HTTP. Replaying an alert the control
plane already stored is harmless: its ingest is idempotent by alert id.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from monitor.alerts import Incident
from monitor.errors import AlertSinkError
from monitor.sinks.ndjson import append_durably


@dataclass(frozen=True, slots=True)
class SinkCredentials:
    """How the sink authenticates to the control plane and verifies it (all optional)."""

    cert: Path | None = None  # client certificate chain (PEM), e.g. `zonegate pki issue`
    key: Path | None = None  # its private key (PEM)
    ca: Path | None = None  # CA bundle for the server certificate; None: the system store
    token_file: Path | None = None  # a bearer token, re-read before each POST

    def configured(self) -> bool:
        """True when some credential or trust anchor is set."""
        return any(v is not None for v in (self.cert, self.key, self.ca, self.token_file))


def client_context(creds: SinkCredentials) -> ssl.SSLContext:
    """The TLS client context: server verified against `creds.ca`, our certificate offered.

    Raises AlertSinkError naming the file that cannot be used.
    """
    if (creds.cert is None) != (creds.key is None):
        raise AlertSinkError("a client certificate needs both --alerts-cert and --alerts-key")
    try:
        context = ssl.create_default_context(
            cafile=str(creds.ca) if creds.ca is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise AlertSinkError(f"{creds.ca}: cannot load the CA bundle: {_why(exc)}") from None
    if creds.cert is not None and creds.key is not None:
        try:
            context.load_cert_chain(str(creds.cert), str(creds.key))
        except (OSError, ssl.SSLError) as exc:
            raise AlertSinkError(f"{creds.cert} / {creds.key}: cannot load the client "
                                 f"certificate: {_why(exc)}") from None
    return context


def _stamp(creds: SinkCredentials) -> tuple[tuple[int, int, int] | None, ...]:
    """What identifies each file's content cheaply: inode (a renewal replaced it), size
    and modification time (it was rewritten in place)."""
    stamps: list[tuple[int, int, int] | None] = []
    for path in (creds.cert, creds.key, creds.ca):
        try:
            st = path.stat() if path is not None else None
        except OSError:
            st = None
        stamps.append((st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None)
    return tuple(stamps)


class ClientTLS:
    """The client context, rebuilt when the certificate, key or CA bundle file changes.

    pki/ certificates live 24 h, so the monitor's is renewed in place while it runs; with
    the context loaded once, alerts stopped reaching the control plane a day after start.
    A pair that does not load (a renewal half written) keeps the context in force and is
    tried again at the next use until it loads.
    """

    def __init__(self, creds: SinkCredentials) -> None:
        self._creds = creds
        self._stamp = _stamp(creds)
        self._context = client_context(creds)  # unusable at start: a config error
        self.error: str | None = None

    def current(self) -> ssl.SSLContext:
        """The context to connect with: the newest files that load."""
        stamp = _stamp(self._creds)
        if stamp != self._stamp:
            try:
                self._context = client_context(self._creds)
            except AlertSinkError as exc:
                self.error = f"{exc}; the previous credentials stay in use"
            else:
                self._stamp, self.error = stamp, None
        return self._context


def read_token(path: Path) -> str:
    """The bearer token in `path` (surrounding whitespace ignored); AlertSinkError if none."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertSinkError(f"{path}: cannot read the token: {exc}") from None
    if not token or any(c.isspace() for c in token):
        raise AlertSinkError(f"{path}: must hold exactly one bearer token")
    return token


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return str(exc.strerror or exc)


_PERMANENT = frozenset({400, 413, 422})  # the control plane will never take this alert


class HttpSink:
    """POST alerts to `url`; spool in `spool_path` when it cannot."""

    def __init__(self, url: str, spool_path: Path, *, timeout: float = 2.0,
                 retry_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 credentials: SinkCredentials | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AlertSinkError(f"--alerts-url must be an http(s) URL, got {url!r}")
        creds = credentials or SinkCredentials()
        if creds.configured() and parts.scheme != "https":
            raise AlertSinkError(f"client certificates, CA bundles and tokens need an https:// "
                                 f"--alerts-url, got {url!r}")
        self._tls = ClientTLS(creds) if parts.scheme == "https" else None
        self._token_file = creds.token_file
        if self._token_file is not None:
            read_token(self._token_file)  # unreadable or empty at start: a config error
        self.url = url
        self.spool_path = spool_path
        self._timeout = timeout
        self._retry = retry_seconds
        self._clock = clock
        self._next_try = 0.0
        self.delivered = 0
        self.spooled = 0
        self.rejected = 0
        self.last_error: str | None = None
        self._backlog = spool_path.exists()  # something may wait in the spool

    @property
    def credentials_error(self) -> str | None:
        """Why renewed credentials do not load (the previous ones stay in use), else None."""
        return self._tls.error if self._tls is not None else None

    @property
    def rejected_path(self) -> Path:
        """The dead-letter file of alerts the control plane refused for good."""
        return self.spool_path.with_name(self.spool_path.name + ".rejected")

    def poll(self) -> None:
        """Replay the spool when the back-off has passed (the monitor calls this ~1/s)."""
        if self._backlog and self._clock() >= self._next_try:
            self.replay()

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        if self._clock() >= self._next_try and self.replay() and self._post(body):
            return
        self._spool(body)

    def replay(self) -> bool:
        """Deliver the spooled alerts in order; True when the spool is empty afterwards."""
        try:
            raw = self.spool_path.read_bytes()
        except FileNotFoundError:
            self._backlog = False
            return True
        except OSError as exc:
            raise AlertSinkError(f"{self.spool_path}: cannot read spool: {exc}") from None
        lines = [line for line in raw.split(b"\n") if line.strip()]
        sent = 0
        for line in lines:
            if not self._post(line):
                break
            sent += 1
        if sent == 0 and lines:
            return False
        rest = lines[sent:]
        self._backlog = bool(rest)
        tmp = self.spool_path.with_name(self.spool_path.name + ".tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(b"".join(line + b"\n" for line in rest))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.spool_path)
        except OSError as exc:
            raise AlertSinkError(f"{self.spool_path}: cannot rewrite spool: {exc}") from None
        return not rest

    def _post(self, body: bytes) -> bool:
        """POST one alert; True when it needs no more delivery (stored, or dead-lettered)."""
        headers = {"Content-Type": "application/json", "User-Agent": "zonegate-monitor"}
        if self._token_file is not None:
            try:
                headers["Authorization"] = f"Bearer {read_token(self._token_file)}"
            except AlertSinkError as exc:
                # the token is being renewed, or was removed: keep the alert, try later
                self.last_error = str(exc)
                self._next_try = self._clock() + self._retry
                return False
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url, data=body, method="POST", headers=headers)
        context = self._tls.current() if self._tls is not None else None
        try:
            with urllib.request.urlopen(request, timeout=self._timeout,  # noqa: S310
                                        context=context) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            self.last_error = f"HTTP {exc.code}"
            exc.close()
            if exc.code in _PERMANENT:
                self._dead_letter(body, exc.code)
                return True
            self._next_try = self._clock() + self._retry
            return False
        except (urllib.error.URLError, OSError) as exc:
            self.last_error = str(getattr(exc, "reason", exc))
            self._next_try = self._clock() + self._retry
            return False
        self.delivered += 1
        return True

    def _spool(self, body: bytes) -> None:
        self._append(self.spool_path, body)
        self._backlog = True
        self.spooled += 1

    def _dead_letter(self, body: bytes, status: int) -> None:
        self._append(self.rejected_path, body)
        self.rejected += 1
        self.last_error = f"HTTP {status}: the control plane refused an alert for good; " \
                          f"kept in {self.rejected_path}"

    @staticmethod
    def _append(path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise AlertSinkError(f"{path}: cannot open: {exc}") from None
        try:
            append_durably(fd, body + b"\n", path)
        finally:
            os.close(fd)

    def pending(self) -> int:
        """How many alerts wait in the spool."""
        try:
            return sum(1 for line in self.spool_path.read_bytes().split(b"\n") if line.strip())
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        if self.spool_path.exists():
            self._next_try = 0.0
            self.replay()
