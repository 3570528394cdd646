"""DESIGN.md layering: monitor imports nothing of ours but itself, and only
monitor/capture.py imports scapy at top level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "monitor"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _all_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_module_layering(path: Path) -> None:
    imports = _all_imports(path)
    assert not imports & {"gateway", "classify", "pki"}
    if path.name != "capture.py":
        assert "scapy" not in _top_level_imports(path)


def test_scapy_is_confined_to_capture() -> None:
    users = [p.name for p in MODULES if "scapy" in _all_imports(p)]
    assert users == ["capture.py"]
