"""`ingress.audit_checkpoint_seconds` and `ingress.audit_checkpoints` (contract 2 extension)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.checkpointer import default_checkpoint_path
from gateway.config import load_config, parse_config
from gateway.errors import ConfigError


def test_defaults() -> None:
    config = parse_config("trust_domain: city.example\n")
    assert config.ingress.audit_checkpoint_seconds == 10.0
    assert config.ingress.audit_checkpoints is None
    assert default_checkpoint_path(Path("/var/lib/zg/audit.w1.jsonl")) == Path(
        "/var/lib/zg/audit.w1.jsonl.checkpoints")


def test_the_file_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("trust_domain: city.example\n"
                    "ingress: {audit_checkpoints: ship/cp.jsonl, audit_checkpoint_seconds: 2}\n")
    config = load_config(path)
    assert config.ingress.audit_checkpoints == tmp_path / "ship" / "cp.jsonl"
    assert config.ingress.audit_checkpoint_seconds == 2.0


@pytest.mark.parametrize(("ingress", "message"), [
    ("{audit_checkpoint_seconds: 0}", "ingress.audit_checkpoint_seconds"),
    ("{audit_checkpoint_seconds: 7200}", "ingress.audit_checkpoint_seconds"),
    ("{audit_checkpoint_seconds: often}", "ingress.audit_checkpoint_seconds"),
    ("{audit_checkpoints: [a, b]}", "ingress.audit_checkpoints"),
    ("{audit_checkpoint: x}", "ingress.audit_checkpoint: unknown key"),
])
def test_bad_values_name_the_field(ingress: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"trust_domain: city.example\ningress: {ingress}\n", "x.yaml")
