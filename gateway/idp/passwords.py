"""Password hashes for the dev IdP's demo users: scrypt, self-describing, constant-time check.

Format: ``scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`` (32-byte key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "is_password_hash", "verify_password"]

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """Hash `password` with a fresh random salt."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN,
                         maxmem=_MAXMEM)
    return "$".join(("scrypt", str(n), str(r), str(p), base64.b64encode(salt).decode(),
                     base64.b64encode(key).decode()))


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if n < 2**10 or n > 2**20 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        return None
    if len(salt) < 8 or len(key) != _DKLEN:
        return None
    return n, r, p, salt, key


def is_password_hash(encoded: str) -> bool:
    """Whether `encoded` is a well-formed hash this module can check."""
    return _parse(encoded) is not None


def verify_password(password: str, encoded: str) -> bool:
    """Check `password` against `encoded` in constant time; a malformed hash never matches."""
    parsed = _parse(encoded)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                               dklen=_DKLEN, maxmem=_MAXMEM)
    return hmac.compare_digest(candidate, key)
