"""The gateway's signed `X-Zonegate-Assertion` (ES256 JWT) and its JWKS.

Upstreams verify it with the public key at `/.well-known/zonegate/jwks.json`: aud is the
zone, sub/roles/clearance say who the gateway let through, decision_id ties it to the
audit record, and it lives five minutes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.identity.types import Subject
from gateway.ingress.errors import IngressSetupError

ASSERTION_TTL = 300
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AssertionSigner:
    """Signs assertions with one P-256 key; `kid` is the key's RFC 7638 thumbprint."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, issuer: str) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise IngressSetupError("the assertion signing key must be an EC P-256 key")
        self._key = key
        self.issuer = issuer
        numbers = key.public_key().public_numbers()
        self._public_jwk = {
            "kty": "EC", "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
        thumb = json.dumps(self._public_jwk, sort_keys=True, separators=(",", ":"))
        self.kid = _b64(hashlib.sha256(thumb.encode()).digest())
        # the JOSE header never changes: encode it once (what pyjwt would write, keys sorted)
        header = json.dumps({"alg": "ES256", "kid": self.kid, "typ": "JWT"},
                            separators=(",", ":"), sort_keys=True)
        self._header_b64 = _b64(header.encode())

    @classmethod
    def generate(cls, issuer: str) -> AssertionSigner:
        """A signer with a fresh key (held in memory only)."""
        return cls(ec.generate_private_key(ec.SECP256R1()), issuer)

    @classmethod
    def from_pem(cls, path: Path, issuer: str) -> AssertionSigner:
        """Load an unencrypted PKCS#8 or SEC1 P-256 private key."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngressSetupError(f"{path}: cannot read the signing key: {exc.strerror}") \
                from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise IngressSetupError(f"{path}: not an unencrypted PEM private key: {exc}") \
                from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise IngressSetupError(f"{path}: the signing key must be an EC P-256 key")
        return cls(key, issuer)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS document."""
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def mint(self, *, zone: str, subject: Subject, decision_id: str, now: int) -> str:
        """A five-minute assertion for one forwarded request (a compact ES256 JWS).

        Encoded here rather than by `jwt.encode`, whose generic path costs about as much
        as the signature itself on every forwarded request.
        """
        claims = {
            "iss": self.issuer, "aud": zone, "sub": subject.id or "anonymous",
            "iat": now, "nbf": now, "exp": now + ASSERTION_TTL,
            "roles": list(subject.roles), "clearance": subject.clearance,
            "authenticated": subject.authenticated, "decision_id": decision_id,
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{self._header_b64}.{payload}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), _ECDSA_SHA256))
        # JWS (RFC 7518 3.4): R and S as two fixed-length 32-byte big-endian integers
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
