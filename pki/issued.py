"""A freshly issued leaf certificate and how it is written out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from pki.durable import atomic_write
from pki.errors import OutputExists, PKIError
from pki.inventory import InventoryEntry
from pki.pem import certificate_pem, chain_pem
from pki.spiffe import SpiffeId

__all__ = ["IssuedCertificate"]


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A freshly issued leaf; `key_pem` is None when the key came from a CSR."""

    certificate: x509.Certificate
    intermediate: x509.Certificate
    spiffe_id: SpiffeId
    entry: InventoryEntry
    key_pem: bytes | None

    @property
    def serial(self) -> int:
        """The certificate's serial number."""
        return self.certificate.serial_number

    @property
    def certificate_pem(self) -> bytes:
        """The leaf alone, PEM."""
        return certificate_pem(self.certificate)

    @property
    def chain_pem(self) -> bytes:
        """Leaf then intermediate, PEM (what a TLS peer presents; the root stays out)."""
        return chain_pem([self.certificate, self.intermediate])

    def write(
        self,
        cert_out: Path,
        *,
        key_out: Path | None = None,
        chain_out: Path | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write the certificate, the key (0600) and the full chain to the given paths."""
        if self.key_pem is not None and key_out is None:
            raise PKIError("a key was generated, so a key output path is required")
        outputs = [(cert_out, self.certificate_pem, 0o644)]
        if key_out is not None and self.key_pem is not None:
            outputs.insert(0, (key_out, self.key_pem, 0o600))
        if chain_out is not None:
            outputs.append((chain_out, self.chain_pem, 0o644))
        for path, _, _ in outputs:
            if not overwrite and path.exists():
                raise OutputExists(f"{path} exists; refusing to overwrite it (use --force)")
        for path, data, mode in outputs:
            atomic_write(path, data, mode=mode, overwrite=overwrite)
