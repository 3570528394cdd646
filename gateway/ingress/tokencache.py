"""A short cache of verified identities in front of the Authenticator port.

Verifying an ES256 token costs far more than the rest of the request's identity work, and
a client presents the same token on request after request (Envoy's jwt_authn keeps such a
cache too). Only successful verifications of requests that carry a token are cached, keyed
on a SHA-256 of everything presented (token, certificate, XFCC, peer address), and an
entry lives at most `ttl` seconds and never past the token's own `exp`. Failures are never
cached. So a key removed from the issuer's JWKS stops being honoured within `ttl`.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.identity.types import Authenticated, Authenticator, Presented


def _key(presented: Presented) -> bytes:
    digest = hashlib.sha256()
    for part in (presented.authorization or "", presented.xfcc or "", presented.peer_ip):
        data = part.encode("utf-8", "surrogateescape")
        digest.update(len(data).to_bytes(4, "big") + data)
    for der in (presented.peer_cert_der or b"", *presented.peer_chain_der):
        digest.update(len(der).to_bytes(4, "big") + der)
    return digest.digest()


class CachedAuthenticator:
    """Authenticator port with a bounded, short-lived cache of successes."""

    def __init__(self, inner: Authenticator, *, ttl: float = 30.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.time,
                 on_lookup: Callable[[bool], None] | None = None) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._on_lookup = on_lookup
        self._entries: OrderedDict[bytes, tuple[float, Authenticated]] = OrderedDict()

    async def authenticate(self, presented: Presented) -> Authenticated:
        """The inner verdict, from the cache while a previous success is still fresh."""
        if not presented.authorization:
            return await self._inner.authenticate(presented)
        key = _key(presented)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key)
            self._report(True)
            return entry[1]
        self._report(False)
        result = await self._inner.authenticate(presented)
        exp = result.token_claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool) and exp > now:
            self._entries[key] = (min(now + self._ttl, float(exp)), result)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return result

    def _report(self, hit: bool) -> None:
        if self._on_lookup is not None:
            self._on_lookup(hit)

    async def close(self) -> None:
        """Close the inner authenticator."""
        await self._inner.close()
