"""Fixtures for the PKI tests: a fresh CA per test (key generation takes milliseconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pki.authority import CertificateAuthority

TRUST_DOMAIN = "city.example"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "ca", TRUST_DOMAIN)


@pytest.fixture
def foreign_ca(tmp_path: Path) -> CertificateAuthority:
    """Another CA for the same trust domain: same names, different keys."""
    return CertificateAuthority.init(tmp_path / "foreign", TRUST_DOMAIN)
