"""The chart's files, checked without Helm: Chart.yaml, template syntax, and the config keys.

These do not render anything (test_render_local.py renders with tests/helm/_gotemplate.py,
the test_render_* modules with a real Helm); they catch what can be seen in the files
themselves.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from gateway.config import GatewayConfig
from tests.helm._chart import CHART, ROOT, example_files, load_yaml

TEMPLATES = sorted((CHART / "templates").iterdir())
YAML_TEMPLATES = [p for p in TEMPLATES if p.suffix == ".yaml"]
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_OPENERS = ("if ", "range ", "with ", "define ", "block ")


def _chart() -> dict[str, object]:
    return load_yaml(CHART / "Chart.yaml")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("apiVersion", "v2"),
        ("name", "zonegate"),
        ("type", "application"),
        ("kubeVersion", ">=1.27.0-0"),
    ],
)
def test_chart_yaml_field(field: str, expected: str) -> None:
    assert _chart()[field] == expected


def test_chart_name_is_its_directory() -> None:
    assert _chart()["name"] == CHART.name


def test_chart_version_is_semver() -> None:
    version = str(_chart()["version"])
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?", version)


def test_app_version_is_the_package_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert _chart()["appVersion"] == pyproject["project"]["version"]


def test_chart_has_the_files_helm_expects() -> None:
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", ".helmignore",
                 "templates/_helpers.tpl", "templates/NOTES.txt"):
        assert (CHART / name).is_file(), name


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_delimiters_balance(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    position = 0
    while (start := text.find("{{", position)) != -1:
        close = text.find("}}", start + 2)
        assert close != -1, f"{template.name}: action at offset {start} is never closed"
        nested = text.find("{{", start + 2, close)
        assert nested == -1, f"{template.name}: '{{{{' inside the action at offset {start}"
        position = close + 2
    assert "}}" not in text[position:], f"{template.name}: '}}}}' after the last action"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_blocks_balance(template: Path) -> None:
    depth = 0
    for action in _ACTION.findall(template.read_text(encoding="utf-8")):
        if action.startswith("/*"):
            continue
        if action.startswith(_OPENERS):
            depth += 1
        elif action == "end":
            depth -= 1
            assert depth >= 0, f"{template.name}: 'end' without an opening block"
    assert depth == 0, f"{template.name}: {depth} block(s) never closed with 'end'"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_has_no_tabs(template: Path) -> None:
    assert "\t" not in template.read_text(encoding="utf-8")


def _defined() -> set[str]:
    text = (CHART / "templates" / "_helpers.tpl").read_text(encoding="utf-8")
    return set(re.findall(r'\{\{-?\s*define\s+"([^"]+)"', text))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_include_is_defined(template: Path) -> None:
    used = set(re.findall(r'include\s+"([^"]+)"', template.read_text(encoding="utf-8")))
    assert used <= _defined(), f"undefined: {sorted(used - _defined())}"


@pytest.mark.parametrize("template", YAML_TEMPLATES, ids=lambda p: p.name)
def test_every_object_is_namespaced_and_labelled(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    objects = len(re.findall(r"^kind: ", text, re.MULTILINE))
    assert objects >= 1
    assert len(re.findall(r"^  namespace: ", text, re.MULTILINE)) == objects
    assert len(re.findall(r'include "zonegate.labels"', text)) == objects


def _config_block() -> list[str]:
    lines = (CHART / "templates" / "configmap.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("  zonegate.yaml: |") + 1
    return lines[start:]


def _field_names(model: type[BaseModel], into: set[str]) -> set[str]:
    for name, info in model.model_fields.items():
        into.add(name)
        stack: list[object] = [info.annotation]
        while stack:
            hint = stack.pop()
            if isinstance(hint, type) and issubclass(hint, BaseModel):
                _field_names(hint, into)
            stack.extend(typing.get_args(hint))
    return into


def test_config_template_writes_only_keys_the_config_model_knows() -> None:
    # contract 2 and its extensions (gateway/config.py): the gateway refuses unknown keys,
    # so a misspelt key here is an outage
    known = _field_names(GatewayConfig, set())
    written = set()
    for line in _config_block():
        match = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_-]+):(\s|$)", line)
        if match:
            written.add(match[1])
    assert written, "no keys found in the config template"
    assert written <= known, f"not in contract 2: {sorted(written - known)}"


def test_config_template_writes_every_section() -> None:
    # ingress: quarantines from the store and the shared assertion key; control: the bundle
    # signing key, the CA and the ingesters; segments: the policy's source networks
    written = {m[1] for line in _config_block() if (m := re.match(r"^    ([a-z_]+):", line))}
    assert written == {"trust_domain", "listen", "tls", "identity", "policy", "zones",
                       "segments", "ingress", "control", "store"}


@pytest.mark.parametrize(("section", "key"), [
    ("ingress", "device_trust"), ("ingress", "trust_refresh_seconds"),
    ("ingress", "signing_key"), ("ingress", "audit_log"), ("control", "ingesters"),
    ("control", "bundle_signing_key"), ("control", "bundle_key_id"), ("control", "ca_dir"),
])
def test_config_template_writes_the_wiring_key(section: str, key: str) -> None:
    lines = _config_block()
    start = lines.index(f"    {section}:")
    body = []
    for line in lines[start + 1:]:
        if re.match(r"^    [a-z_]+:", line):
            break
        body.append(line)
    assert any(re.match(rf"^\s+{key}:", line) for line in body), f"{section}.{key}"


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_is_a_mapping_with_a_usage_line(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict)
    assert f"-f helm/zonegate/examples/{path.name}" in path.read_text(encoding="utf-8")


def test_there_are_several_examples() -> None:
    assert len(example_files()) >= 3
