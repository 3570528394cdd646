"""Shared helpers for the chart tests: paths, values files, and a Helm renderer.

Rendering uses the real Helm engine and nothing of ours: the `helm` binary when it is on
PATH, else the `helm_python` bindings (helm-python-sdk, Helm's Go SDK through a C ABI)
when they are importable. With neither, the render tests skip and say so.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "zonegate"
EXAMPLES = CHART / "examples"
ZONES_JSON = ROOT / "policies" / "data" / "zones.json"
RELEASE = "zg"
NAMESPACE = "zonegate"

NO_HELM = (
    "helm is not installed: no `helm` binary on PATH and the helm-python-sdk package "
    "(helm_python) is not importable, so the chart cannot be linted or rendered"
)


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def default_values() -> dict[str, Any]:
    return load_yaml(CHART / "values.yaml")


def schema() -> dict[str, Any]:
    data = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def merged(overrides: dict[str, Any]) -> dict[str, Any]:
    """The chart defaults with `overrides` merged in the way Helm coalesces values."""
    return deep_merge(default_values(), overrides)


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


@dataclass(frozen=True)
class Manifest:
    """One rendered Kubernetes object and the template it came from."""

    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


class RenderError(Exception):
    """Helm refused the values or a template failed; the message is Helm's."""


class HelmRenderer:
    """`helm template` and `helm lint` through whichever real Helm is available."""

    def __init__(self) -> None:
        self.binary = shutil.which("helm")
        self._sdk: Any = None
        if self.binary is None:
            try:
                import helm_python  # type: ignore[import-not-found,unused-ignore]
            except ImportError:
                return
            self._sdk = helm_python

    @property
    def available(self) -> bool:
        return self.binary is not None or self._sdk is not None

    def render(self, overrides: dict[str, Any] | None = None) -> list[Manifest]:
        if self.binary is not None:
            return self._render_binary(overrides or {})
        return self._render_sdk(overrides or {})

    def lint_errors(self, overrides: dict[str, Any] | None = None) -> list[str]:
        """Messages of severity warning or error from `helm lint --strict`."""
        if self.binary is not None:
            with _values_file(overrides or {}) as path:
                proc = subprocess.run(
                    [self.binary, "lint", str(CHART), "--strict", "-n", NAMESPACE, "-f", path],
                    capture_output=True, text=True, check=False,
                )
            return [] if proc.returncode == 0 else [proc.stdout + proc.stderr]
        report = self._sdk.lint(str(CHART), overrides or None, strict=True, namespace=NAMESPACE)
        return [
            f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2
        ] + list(report["errors"])

    def _render_binary(self, overrides: dict[str, Any]) -> list[Manifest]:
        assert self.binary is not None
        with _values_file(overrides) as path:
            proc = subprocess.run(
                [self.binary, "template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", path],
                capture_output=True, text=True, check=False,
            )
        if proc.returncode != 0:
            raise RenderError(proc.stderr.strip())
        return parse_template_output(proc.stdout)

    def _render_sdk(self, overrides: dict[str, Any]) -> list[Manifest]:
        chart = self._sdk.Chart.load(str(CHART))
        try:
            out = chart.render(overrides or None, name=RELEASE, namespace=NAMESPACE,
                               is_install=True)
        except self._sdk.HelmError as exc:
            raise RenderError(str(exc)) from None
        manifests: list[Manifest] = []
        for source, text in sorted(out.items()):
            if source.endswith("NOTES.txt"):
                continue
            manifests.extend(documents(source, text))
        return manifests


def parse_template_output(stream: str) -> list[Manifest]:
    """Split `helm template` output into objects, each with its `# Source:` template."""
    manifests: list[Manifest] = []
    for chunk in re.split(r"^---[ \t]*$", stream, flags=re.MULTILINE):
        found = re.search(r"^# Source: (\S+)", chunk, flags=re.MULTILINE)
        manifests.extend(documents(found[1] if found else "", chunk))
    return manifests


def documents(source: str, text: str) -> Iterator[Manifest]:
    """The objects of one rendered template (empty documents dropped)."""
    for doc in yaml.safe_load_all(text):
        if doc:
            assert isinstance(doc, dict), f"{source}: a document that is not a mapping"
            yield Manifest(source, doc)


@contextmanager
def _values_file(values: dict[str, Any]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "values.yaml"
        path.write_text(yaml.safe_dump(values), encoding="utf-8")
        yield str(path)


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def one(manifests: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    found = [m.body for m in manifests if m.kind == kind and m.name == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]
