"""The IdP's YAML configuration and password hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.idp import (
    DevIdP,
    IdPConfigError,
    IdPError,
    demo_config,
    hash_password,
    load_idp_config,
    parse_idp_config,
    verify_password,
)

HASH = hash_password("pw-123", n=2**10)


def test_demo_config_has_the_demo_cast() -> None:
    config = demo_config()
    assert set(config.users) == {"analyst", "officer", "doctor", "engineer"}
    assert config.users["doctor"].clearance == "L4"
    assert config.users["engineer"].groups == ("transport",)
    assert "client_credentials" in config.clients["zonegate"].grants


@pytest.mark.parametrize(("text", "message"), [
    ("users: [", r"^idp\.yaml:1: "),  # YAML syntax: names the line
    ("- a\n- b\n", "top level must be a mapping"),
    ("surprise: 1\n", "surprise: unknown key"),
    ("algorithm: HS256\n", "algorithm"),
    ("algorithm: none\n", "algorithm"),
    ("token_ttl: 5\n", "token_ttl"),
    ("users:\n  bob:\n    password_hash: plaintext\n", "users.bob.password_hash: must be a scrypt"),
    (f"users:\n  bob:\n    password_hash: '{HASH}'\n    clearance: L9\n",
     "users.bob.clearance: must be one of"),
    (f"users:\n  'bad name!':\n    password_hash: '{HASH}'\n", "not a valid user or client name"),
    ("clients:\n  c:\n    secret: short\n", "clients.c.secret"),
    ("clients:\n  c:\n    secret: long-enough-secret-1\n    grants: [implicit]\n",
     "clients.c.grants.0"),
    ("clients:\n  c:\n    secret: long-enough-secret-1\n    scopes: ['a b']\n", "clients.c.scopes"),
])
def test_bad_config(text: str, message: str) -> None:
    with pytest.raises(IdPConfigError, match=message):
        parse_idp_config(text, "idp.yaml")


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(IdPConfigError, match=r"^idp\.yaml:\d+: "):
        parse_idp_config("users:\n  bob: [\n", "idp.yaml")


@pytest.mark.parametrize("content", [b"\xff\xfe", None], ids=["not-utf8", "missing"])
def test_unreadable_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "idp.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IdPConfigError, match=str(path)):
        load_idp_config(path)


def test_password_hash_round_trip() -> None:
    assert verify_password("pw-123", HASH)
    assert not verify_password("pw-124", HASH)
    assert hash_password("pw-123", n=2**10) != HASH  # salted


@pytest.mark.parametrize("encoded", [
    "", "scrypt", "pbkdf2$1$2$3$AAAA$AAAA", "scrypt$1000$8$1$AAAAAAAAAAA=$" + "A" * 44,
    "scrypt$16384$8$1$!!!$AAAA", "scrypt$16384$8$1$AAAAAAAAAAA=$AAAA",
    "scrypt$4194304$8$1$AAAAAAAAAAA=$" + "A" * 43 + "=",
])
def test_malformed_hash_never_matches(encoded: str) -> None:
    assert not verify_password("", encoded)


def test_mint_refuses_unknown_identities() -> None:
    idp = DevIdP(demo_config())
    with pytest.raises(IdPError, match="no such user"):
        idp.mint(user="mallory")
    with pytest.raises(IdPError, match="configured user or client"):
        idp.mint(client="nobody")
