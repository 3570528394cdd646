"""An async JWKS cache for one issuer: discovery, TTL, single-flight refetch, stale keys.

Rules (why they matter):

- Keys are fetched lazily and kept `ttl` seconds. A refresh that fails keeps the keys we
  have (an IdP outage must not log everybody out) and is not retried before `cooldown`;
  stale keys are dropped `max_stale` seconds after their TTL ran out (then: fail closed).
- A token naming an unknown `kid` may trigger one refetch, at most once per `cooldown`
  seconds, behind a single-flight lock: a flood of made-up kids costs at most one fetch
  per cooldown, never one per request.
- Only asymmetric signing keys are kept (`kty` EC, RSA or OKP; `use` absent or `sig`);
  symmetric (`oct`) keys are dropped so an HS* token can never find a key.
- Responses are size-capped and parsed defensively; a malformed key set is a fetch error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from gateway.identity.errors import InvalidCredentials, JWKSFetchError

__all__ = ["JWKSCache", "KeySetStats", "LazySession"]

_LOG = logging.getLogger(__name__)
_MAX_BODY = 256 * 1024
_MAX_KEYS = 64
_ASYMMETRIC = frozenset({"EC", "RSA", "OKP"})

Clock = Callable[[], float]


class LazySession:
    """One aiohttp client session, created on first use inside the running loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        """The session (created now if needed)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "zonegate-jwks"})
        return self._session

    async def close(self) -> None:
        """Close the session if one was created."""
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(slots=True)
class KeySetStats:
    """Counters for operators and tests."""

    fetches: int = 0
    failures: int = 0
    discovery_fetches: int = 0


def _parse_key_set(body: object, source: str) -> dict[str, dict[str, object]]:
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise JWKSFetchError(f"{source}: not a JWK set (no 'keys' list)")
    keys: dict[str, dict[str, object]] = {}
    for entry in body["keys"][:_MAX_KEYS]:
        if not isinstance(entry, dict):
            continue
        kid, kty, use = entry.get("kid"), entry.get("kty"), entry.get("use", "sig")
        if not isinstance(kid, str) or not kid or kty not in _ASYMMETRIC or use != "sig":
            continue
        keys[kid] = {str(k): v for k, v in entry.items() if k not in ("d", "p", "q", "dp",
                                                                         "dq", "qi", "k")}
    return keys


class JWKSCache:
    """The signing keys of one issuer, fetched over HTTP and cached."""

    def __init__(
        self,
        session: aiohttp.ClientSession | LazySession,
        *,
        issuer: str,
        jwks_uri: str | None = None,
        ttl: float = 300.0,
        cooldown: float = 10.0,
        timeout: float = 5.0,
        max_stale: float = 86400.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._session = session
        self._issuer = issuer
        self._jwks_uri = jwks_uri
        self._ttl = ttl
        self._cooldown = cooldown
        self._max_stale = max_stale
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._keys: dict[str, dict[str, object]] = {}
        self._prepared: dict[tuple[str, str], PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._generation = 0  # bumps on every attempt; single-flight waiters check it
        self._lock = asyncio.Lock()
        self.stats = KeySetStats()

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids currently held (possibly stale)."""
        return tuple(self._keys)

    async def key(self, kid: str, algorithm: str) -> PyJWK:
        """Return the verification key for `kid` prepared for `algorithm`.

        Raises InvalidCredentials("unknown-key") when the issuer does not publish `kid`
        (after at most one rate-limited refetch), ("jwks-unavailable") when no key set
        was ever obtained, ("key-mismatch") when the key cannot be used with `algorithm`.
        """
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at >= self._ttl:
            await self._refresh(reason="ttl")
            if (self._fetched_at is not None
                    and self._clock() - self._fetched_at >= self._ttl + self._max_stale):
                _LOG.error("JWKS of %s unreachable for too long; dropping %d stale key(s)",
                           self._issuer, len(self._keys))
                self._keys, self._prepared, self._fetched_at = {}, {}, None
        if kid not in self._keys:
            await self._refresh(reason="unknown-kid")
        jwk = self._keys.get(kid)
        if jwk is None:
            if self._fetched_at is None:
                raise InvalidCredentials(
                    "jwks-unavailable", f"the signing keys of {self._issuer} cannot be fetched"
                )
            raise InvalidCredentials("unknown-key", f"{self._issuer} publishes no key {kid!r}")
        return self._prepare(kid, jwk, algorithm)

    def _prepare(self, kid: str, jwk: Mapping[str, object], algorithm: str) -> PyJWK:
        cached = self._prepared.get((kid, algorithm))
        if cached is not None:
            return cached
        declared = jwk.get("alg")
        if declared is not None and declared != algorithm:
            raise InvalidCredentials(
                "key-mismatch", f"key {kid!r} is for {declared}, the token says {algorithm}"
            )
        try:
            prepared = PyJWK(dict(jwk), algorithm=algorithm)
        except (PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidCredentials(
                "key-mismatch", f"key {kid!r} cannot verify {algorithm}: {exc}"
            ) from None
        self._prepared[(kid, algorithm)] = prepared
        return prepared

    async def _refresh(self, *, reason: str) -> None:
        """Fetch the key set unless one was attempted within the cooldown (single flight)."""
        seen = self._generation
        async with self._lock:
            if self._generation != seen:
                return  # somebody fetched while we waited; use their result
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._cooldown:
                return
            self._attempted_at = now
            self._generation += 1
            try:
                keys = await self._fetch()
            except JWKSFetchError as exc:
                self.stats.failures += 1
                _LOG.warning("JWKS refresh for %s (%s) failed, keeping %d stale key(s): %s",
                             self._issuer, reason, len(self._keys), exc)
                return
            # a prepared key survives only if its kid still maps to the same JWK
            old = self._keys
            self._prepared = {k: v for k, v in self._prepared.items()
                              if k[0] in keys and old.get(k[0]) == keys[k[0]]}
            self._keys = keys
            self._fetched_at = self._clock()

    async def _fetch(self) -> dict[str, dict[str, object]]:
        uri = self._jwks_uri or await self._discover()
        self.stats.fetches += 1
        return _parse_key_set(await self._get_json(uri), uri)

    async def _discover(self) -> str:
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.stats.discovery_fetches += 1
        document = await self._get_json(url)
        if not isinstance(document, dict):
            raise JWKSFetchError(f"{url}: not a discovery document")
        if document.get("issuer") != self._issuer:
            raise JWKSFetchError(
                f"{url}: names issuer {document.get('issuer')!r}, expected {self._issuer!r}"
            )
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise JWKSFetchError(f"{url}: no usable jwks_uri")
        self._jwks_uri = uri
        return uri

    async def _get_json(self, url: str) -> object:
        try:
            session = self._session if isinstance(self._session, aiohttp.ClientSession) \
                else self._session.get()
            async with session.get(url, timeout=self._timeout,
                                         allow_redirects=False) as response:
                if response.status != 200:
                    raise JWKSFetchError(f"{url}: HTTP {response.status}")
                body = await response.content.read(_MAX_BODY + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise JWKSFetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        if len(body) > _MAX_BODY:
            raise JWKSFetchError(f"{url}: response larger than {_MAX_BODY} bytes")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise JWKSFetchError(f"{url}: not JSON") from None
