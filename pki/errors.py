"""The PKI's exception tree; every error names what is wrong and where.

    PKIError
    ├── InvalidArgument           a value given by the caller is unusable (duration, serial, …)
    ├── CAExists                  `init` would overwrite an existing CA
    ├── CANotFound                the directory holds no CA (or misses one of its files)
    ├── CACorrupt                 a CA file exists but cannot be used (bad PEM, bad JSON, …)
    ├── UnsafeKeyFile             a private key file is readable by group or others
    ├── PassphraseError           passphrase missing, unreadable, empty or wrong
    ├── IssuanceRefused           the issuing policy forbids what was asked
    │   ├── CSRInvalid            the CSR cannot be parsed or its signature does not verify
    │   └── RenewalRefused        the certificate to renew is unknown, revoked or too old
    ├── SerialNotFound            no certificate with that serial in the inventory
    ├── AlreadyRevoked            the certificate was revoked before
    ├── OutputExists              an output file exists and --force was not given
    ├── CRLError                  a CRL cannot be parsed or is not signed by our CA
    └── VerificationError         a certificate is not acceptable (each has a stable `code`)
        ├── MalformedCertificate      "malformed-certificate"
        ├── UntrustedChain            "untrusted-chain"
        ├── BadSignature              "bad-signature"
        ├── CertificateExpired        "cert-expired"
        ├── CertificateNotYetValid    "cert-not-yet-valid"
        ├── CertificateRevoked        "cert-revoked"
        ├── CRLUnavailable            "crl-unavailable"
        ├── CRLStale                  "crl-stale"
        ├── LeafIsCA                  "leaf-is-ca"
        ├── BadKeyUsage               "bad-key-usage"
        ├── NotClientCertificate      "not-client-cert"
        ├── NotServerCertificate      "not-server-cert"
        ├── ServerNameMismatch        "server-name-mismatch"
        ├── MissingSpiffeId           "missing-spiffe-id"
        ├── MultipleUriSans           "multiple-uri-sans"
        ├── BadSpiffeId               "bad-spiffe-id"
        └── WrongTrustDomain          "wrong-trust-domain"
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyRevoked",
    "BadKeyUsage",
    "BadSignature",
    "BadSpiffeId",
    "CACorrupt",
    "CAExists",
    "CANotFound",
    "CRLError",
    "CRLStale",
    "CRLUnavailable",
    "CSRInvalid",
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "InvalidArgument",
    "IssuanceRefused",
    "LeafIsCA",
    "MalformedCertificate",
    "MissingSpiffeId",
    "MultipleUriSans",
    "NotClientCertificate",
    "NotServerCertificate",
    "OutputExists",
    "PKIError",
    "PassphraseError",
    "RenewalRefused",
    "SerialNotFound",
    "ServerNameMismatch",
    "UnsafeKeyFile",
    "UntrustedChain",
    "VerificationError",
    "WrongTrustDomain",
]


class PKIError(Exception):
    """Base of every error the PKI raises on purpose."""


class InvalidArgument(PKIError):
    """A value given by the caller cannot be used; the message names it."""


class CAExists(PKIError):
    """`init` refuses to overwrite an existing CA."""


class CANotFound(PKIError):
    """The directory is not a CA directory, or one of its files is missing."""


class CACorrupt(PKIError):
    """A CA file exists but cannot be used."""


class UnsafeKeyFile(PKIError):
    """A private key file is readable or writable by group or others."""


class PassphraseError(PKIError):
    """The key passphrase is missing, unreadable, empty or wrong."""


class IssuanceRefused(PKIError):
    """The issuing policy forbids what was asked; the message says which rule."""


class CSRInvalid(IssuanceRefused):
    """The certificate signing request cannot be parsed or its signature does not verify."""


class RenewalRefused(IssuanceRefused):
    """The certificate to renew is not ours, is revoked, or expired beyond the grace period."""


class SerialNotFound(PKIError):
    """No certificate with that serial number is in the inventory."""


class AlreadyRevoked(PKIError):
    """The certificate was already revoked."""


class OutputExists(PKIError):
    """An output file exists and overwriting was not asked for."""


class CRLError(PKIError):
    """A CRL cannot be parsed, or it is not signed by one of our CAs."""


class VerificationError(PKIError):
    """A certificate is not acceptable.

    `code` is a stable kebab-case reason (it goes into logs and policy input); `detail` is
    the human explanation. `str(error)` is `"<code>: <detail>"`.
    """

    code: ClassVar[str] = "verification-failed"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.code}: {detail}")
        self.detail = detail


class MalformedCertificate(VerificationError):
    """The bytes are not a certificate (garbage PEM or DER)."""

    code = "malformed-certificate"


class UntrustedChain(VerificationError):
    """The certificate does not chain to our root."""

    code = "untrusted-chain"


class BadSignature(VerificationError):
    """The certificate names our CA but its signature does not verify (tampered)."""

    code = "bad-signature"


class CertificateExpired(VerificationError):
    """The validation time is after notAfter."""

    code = "cert-expired"


class CertificateNotYetValid(VerificationError):
    """The validation time is before notBefore."""

    code = "cert-not-yet-valid"


class CertificateRevoked(VerificationError):
    """The certificate's serial is on our CRL."""

    code = "cert-revoked"


class CRLUnavailable(VerificationError):
    """No CRL from the issuing CA is loaded, so revocation cannot be checked (fail closed)."""

    code = "crl-unavailable"


class CRLStale(VerificationError):
    """The issuing CA's CRL is past its nextUpdate (fail closed)."""

    code = "crl-stale"


class LeafIsCA(VerificationError):
    """A leaf certificate asserts basicConstraints cA=true."""

    code = "leaf-is-ca"


class BadKeyUsage(VerificationError):
    """KeyUsage is missing digitalSignature, or grants certificate or CRL signing."""

    code = "bad-key-usage"


class NotClientCertificate(VerificationError):
    """The certificate has no clientAuth extended key usage."""

    code = "not-client-cert"


class NotServerCertificate(VerificationError):
    """The certificate has no serverAuth extended key usage, or no DNS/IP name to check."""

    code = "not-server-cert"


class ServerNameMismatch(VerificationError):
    """The server name asked for is not among the certificate's DNS/IP names."""

    code = "server-name-mismatch"


class MissingSpiffeId(VerificationError):
    """The certificate carries no URI SAN."""

    code = "missing-spiffe-id"


class MultipleUriSans(VerificationError):
    """The certificate carries more than one URI SAN (an X509-SVID has exactly one)."""

    code = "multiple-uri-sans"


class BadSpiffeId(VerificationError):
    """The URI SAN is not a well-formed SPIFFE ID of our path shape."""

    code = "bad-spiffe-id"


class WrongTrustDomain(VerificationError):
    """The SPIFFE ID belongs to another trust domain."""

    code = "wrong-trust-domain"
