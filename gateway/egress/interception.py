"""The interception CA as mitmproxy wants it: one PEM of key, CA certificate and root.

mitmproxy reads ``<confdir>/mitmproxy-ca.pem`` (private key, then the CA certificate, then
any further chain certificates), signs a leaf for every intercepted site with that key, and
sends the chain after the leaf. Our CA is the root-signed subordinate from
`pki.subordinate` (pathLen 0), so terminals need to trust only our root. The confdir is a
fresh private directory (0700, file 0600) that the runner removes on exit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.config import EgressConfig
from gateway.egress.errors import EgressError

CA_FILE = "mitmproxy-ca.pem"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EgressError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def interception_pem(config: EgressConfig, passphrase: bytes | None = None) -> bytes:
    """Key + CA certificate + root, checked: the key matches, the CA may sign, the root
    signed it."""
    try:
        key = serialization.load_pem_private_key(_read(config.ca.key, "CA key"), passphrase)
    except (TypeError, ValueError):
        raise EgressError(f"{config.ca.key}: not a readable PEM private key "
                          "(encrypted keys need the passphrase)") from None
    try:
        ca = x509.load_pem_x509_certificate(_read(config.ca.cert, "CA certificate"))
        roots = x509.load_pem_x509_certificates(_read(config.root, "root certificate"))
    except ValueError:
        raise EgressError(f"{config.ca.cert} or {config.root}: not PEM certificates") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != ca.public_key():
        raise EgressError(f"{config.ca.key} does not belong to {config.ca.cert}")
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise EgressError(f"{config.ca.cert} is not a CA certificate; make one with "
                          "`zonegate egress issue-ca`")
    if not any(_signed_by(ca, root) for root in roots):
        raise EgressError(f"{config.ca.cert} was not issued by the root in {config.root}")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    certs = [ca, *roots]
    return key_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def make_confdir(pem: bytes) -> Path:
    """A new private directory holding mitmproxy-ca.pem; the caller removes it."""
    confdir = Path(tempfile.mkdtemp(prefix="zonegate-egress-"))
    fd = os.open(confdir / CA_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return confdir
