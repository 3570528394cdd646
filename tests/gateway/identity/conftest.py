"""Fixtures: a real dev IdP on loopback, a controllable clock, a real CA from pki/."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.config import parse_config
from gateway.identity import GatewayAuthenticator, IssuerOptions, build_authenticator
from gateway.idp import DevIdP, demo_config
from pki.authority import CertificateAuthority
from pki.verify import CertificateVerifier


class FakeClock:
    """A monotonic clock the test moves by hand (cache TTL and cooldown)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def idp() -> AsyncIterator[DevIdP]:
    async with DevIdP.start(demo_config(), "127.0.0.1", 0) as server:
        yield server


def gateway_yaml(issuer: str, *, jwks_uri: str | None = None, extra: str = "") -> str:
    lines = ["trust_domain: city.example", "identity:", "  oidc:",
             f"    - issuer: {issuer}", "      audience: zonegate"]
    if jwks_uri is not None:
        lines.append(f"      jwks_uri: {jwks_uri}")
    return "\n".join(lines) + "\n" + extra


MakeAuth = Callable[..., GatewayAuthenticator]


@pytest.fixture
async def make_auth(clock: FakeClock) -> AsyncIterator[MakeAuth]:
    """Build authenticators against an issuer; all are closed after the test."""
    built: list[GatewayAuthenticator] = []

    def make(issuer: str, *, jwks_uri: str | None = None, options: IssuerOptions | None = None,
             extra: str = "", certificates: object = None) -> GatewayAuthenticator:
        config = parse_config(gateway_yaml(issuer, jwks_uri=jwks_uri, extra=extra))
        auth = build_authenticator(
            config, certificates,  # type: ignore[arg-type]
            issuer_options={issuer: options} if options else None, clock=clock,
        )
        built.append(auth)
        return auth

    yield make
    for auth in built:
        await auth.close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def reassemble(token: str, *, header: dict[str, object] | None = None,
               payload: dict[str, object] | None = None, signature: str | None = None) -> str:
    """Rebuild a token with a replaced header, payload or signature (no re-signing)."""
    h, p, s = token.split(".")
    return ".".join((b64json(header) if header is not None else h,
                     b64json(payload) if payload is not None else p,
                     s if signature is None else signature))


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return result


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Workload:
    cert_der: bytes
    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes
    spiffe_id: str


@dataclass(frozen=True)
class LocalCA:
    directory: Path
    authority: CertificateAuthority

    def issue(self, zone: str, kind: str, name: str, **kwargs: object) -> Workload:
        issued = self.authority.issue(zone=zone, kind=kind, name=name,  # type: ignore[arg-type]
                                      **kwargs)  # type: ignore[arg-type]
        assert issued.key_pem is not None
        return Workload(issued.certificate.public_bytes(Encoding.DER), issued.certificate_pem,
                        issued.key_pem, issued.chain_pem, issued.spiffe_id.uri)

    def verifier(self) -> CertificateVerifier:
        return CertificateVerifier.from_ca_dir(self.directory, "city.example")


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    directory = tmp_path_factory.mktemp("ca") / "ca"
    authority = CertificateAuthority.init(directory, "city.example")
    return LocalCA(directory, authority)


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    directory = tmp_path_factory.mktemp("other") / "ca"
    return LocalCA(directory, CertificateAuthority.init(directory, "city.example"))
