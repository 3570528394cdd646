"""The chart rendered without Helm, by tests/helm/_gotemplate.py, the way `helm template`
would: values merged over the defaults, checked against values.schema.json, then every
template executed with Helm's built-in objects (.Values, .Release, .Chart, .Template).
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]

from tests.helm._chart import (
    CHART,
    NAMESPACE,
    RELEASE,
    Manifest,
    RenderError,
    documents,
    load_yaml,
    merged,
    schema,
)
from tests.helm._gotemplate import Renderer, TemplateError, floats

BASE = f"{CHART.name}/templates"


@functools.cache
def _renderer() -> Renderer:
    sources = {f"{BASE}/{path.name}": path.read_text(encoding="utf-8")
               for path in sorted((CHART / "templates").iterdir())
               if path.suffix in (".yaml", ".tpl", ".txt")}
    return Renderer(sources)


def _chart_object() -> dict[str, Any]:
    meta = load_yaml(CHART / "Chart.yaml")
    return {"Name": meta["name"], "Version": meta["version"],
            "AppVersion": meta.get("appVersion", ""), "Description": meta.get("description")}


def _schema_errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema(), format_checker=jsonschema.FormatChecker())
    # Helm names the place as a JSON pointer: at '/monitor/alertsUrl'
    return [f"at '/{'/'.join(str(p) for p in error.absolute_path)}': {error.message}"
            for error in validator.iter_errors(values)]


def render_local(overrides: dict[str, Any] | None = None) -> list[Manifest]:
    """Every object the chart renders for `overrides`; RenderError as Helm would refuse."""
    values = _prune(merged(overrides or {}))
    errors = _schema_errors(values)
    if errors:
        raise RenderError("values don't meet the specifications of the schema(s): "
                          + "; ".join(errors))
    data = {
        "Values": floats(values),
        "Release": {"Name": RELEASE, "Namespace": NAMESPACE, "Service": "Helm",
                    "IsInstall": True, "IsUpgrade": False, "Revision": 1},
        "Chart": _chart_object(),
        "Template": {"BasePath": BASE},
        "Capabilities": {},
    }
    renderer = _renderer()
    manifests: list[Manifest] = []
    for name in sorted(renderer.templates):
        if name.endswith((".tpl", "NOTES.txt")):
            continue
        try:
            text = renderer.render(name, {**data, "Template": {**data["Template"],
                                                               "Name": name}})
        except TemplateError as exc:
            raise RenderError(f"{name}: {exc}") from None
        manifests.extend(documents(name, text))
    return manifests


def render_notes(overrides: dict[str, Any] | None = None) -> str:
    """NOTES.txt for `overrides` (printed by `helm install`)."""
    values = _prune(merged(overrides or {}))
    data = {"Values": floats(values), "Chart": _chart_object(),
            "Release": {"Name": RELEASE, "Namespace": NAMESPACE, "Service": "Helm"},
            "Template": {"BasePath": BASE}}
    return _renderer().render(f"{BASE}/NOTES.txt", data)


def _prune(node: dict[str, Any]) -> dict[str, Any]:
    """A `key: null` in a values file deletes the key, as Helm's coalescing does."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if value is None:
            continue
        out[key] = _prune(value) if isinstance(value, dict) else value
    return out
