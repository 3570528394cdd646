"""The dev IdP's signing keys and their rotation.

Rotation is safe for verifiers that cache the key set: `rotate(lead)` publishes a new key at
once but signs with it only `lead` seconds later, so caches pick it up before any token
names it; the old key stays published until every token it signed has expired (token TTL
plus a grace minute). Key ids are RFC 7638 thumbprints.

Public JWKs are serialised here, not with authlib's `as_dict`: Authlib 1.6.12 writes EC
coordinates as minimal big-endian integers, so about one P-256 key in 128 gets a 31-byte
`x` or `y`, which RFC 7518 §6.2.1.2 forbids and strict verifiers (PyJWT) reject.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from authlib.jose import JsonWebKey, Key
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["KeyRing", "SigningKey", "generate_key", "public_members", "thumbprint"]

Algorithm = Literal["ES256", "RS256"]
_GRACE = 60.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int, size: int | None = None) -> str:
    return _b64(value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big"))


_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def public_members(key: Key) -> dict[str, str]:
    """The required public JWK members (RFC 7638 §3.2), EC coordinates full length."""
    public = key.get_public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        numbers = public.public_numbers()
        return {"crv": _CURVES[public.curve.name], "kty": "EC",
                "x": _uint(numbers.x, size), "y": _uint(numbers.y, size)}
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        return {"e": _uint(rsa_numbers.e), "kty": "RSA", "n": _uint(rsa_numbers.n)}
    raise TypeError(f"unsupported key type {type(public).__name__}")


def thumbprint(key: Key) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of the public key."""
    canonical = json.dumps(public_members(key), sort_keys=True, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key pair and the moment it starts signing."""

    kid: str
    key: Key
    active_from: float

    def public_jwk(self, algorithm: str) -> dict[str, object]:
        """The public JWK as published (with kid, alg, use)."""
        jwk: dict[str, object] = dict(public_members(self.key))
        jwk.update({"kid": self.kid, "alg": algorithm, "use": "sig"})
        return jwk


def generate_key(algorithm: Algorithm) -> Key:
    """A fresh private key for `algorithm` (P-256 for ES256, RSA-2048 for RS256)."""
    if algorithm == "ES256":
        return JsonWebKey.generate_key("EC", "P-256", is_private=True)
    return JsonWebKey.generate_key("RSA", 2048, is_private=True)


class KeyRing:
    """The published keys, the current signing key, and rotation."""

    def __init__(self, algorithm: Algorithm, *, token_ttl: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.algorithm = algorithm
        self._token_ttl = token_ttl
        self._clock = clock
        self._keys: list[SigningKey] = [self._new(active_from=clock())]
        self.rotations = 0

    def _new(self, *, active_from: float) -> SigningKey:
        key = generate_key(self.algorithm)
        return SigningKey(kid=thumbprint(key), key=key, active_from=active_from)

    def rotate(self, lead: float) -> SigningKey:
        """Publish a new key now; it signs from `lead` seconds on."""
        if lead < 0:
            raise ValueError("the rotation lead cannot be negative")
        key = self._new(active_from=self._clock() + lead)
        self._keys.append(key)
        self.rotations += 1
        return key

    def signing_key(self) -> SigningKey:
        """The newest key whose activation time has come."""
        now = self._clock()
        self._prune(now)
        return max((k for k in self._keys if k.active_from <= now),
                   key=lambda k: k.active_from)

    def published(self) -> tuple[SigningKey, ...]:
        """Every key a verifier may need: pending, signing, and retiring ones."""
        self._prune(self._clock())
        return tuple(self._keys)

    def jwks(self) -> dict[str, object]:
        """The public JWK set document."""
        return {"keys": [k.public_jwk(self.algorithm) for k in self.published()]}

    def _prune(self, now: float) -> None:
        ordered = sorted(self._keys, key=lambda k: k.active_from)
        keep: list[SigningKey] = []
        for index, key in enumerate(ordered):
            successor = ordered[index + 1] if index + 1 < len(ordered) else None
            if successor is not None and now >= successor.active_from + self._token_ttl + _GRACE:
                continue  # every token this key signed has expired
            keep.append(key)
        self._keys = keep
