"""Rendering helpers shared by the test_render_* modules (a real Helm, cached per scenario)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from gateway.config import GatewayConfig, parse_config
from tests.helm._chart import (
    NO_HELM,
    RELEASE,
    HelmRenderer,
    Manifest,
    example_files,
    load_yaml,
    one,
)

FULL = f"{RELEASE}-zonegate"
SCENARIOS: list[tuple[str, dict[str, Any]]] = [("defaults", {})] + [
    (path.stem, load_yaml(path)) for path in example_files()
]
SCENARIO_IDS = [name for name, _ in SCENARIOS]


@functools.cache
def renderer() -> HelmRenderer:
    return HelmRenderer()


def need_helm() -> HelmRenderer:
    """The renderer, or a skip that says Helm is not installed."""
    found = renderer()
    if not found.available:
        pytest.skip(NO_HELM)
    return found


@functools.cache
def rendered(name: str) -> tuple[Manifest, ...]:
    overrides = dict(SCENARIOS)[name]
    return tuple(renderer().render(overrides))


def render(helm: HelmRenderer, overrides: dict[str, Any] | None = None) -> list[Manifest]:
    return helm.render(overrides or {})


def config_of(manifests: list[Manifest] | tuple[Manifest, ...]) -> GatewayConfig:
    configmap = one(list(manifests), "ConfigMap", f"{FULL}-config")
    return parse_config(configmap["data"]["zonegate.yaml"], "rendered zonegate.yaml")


def pod_specs(manifests: list[Manifest] | tuple[Manifest, ...]) -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {
        m.name: m.body["spec"]["template"]["spec"]
        for m in manifests
        if m.kind in ("Deployment", "DaemonSet")
    }
    return specs


def container_named(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in spec["containers"] if c["name"] == name]
    assert len(found) == 1, f"container {name}"
    return found[0]


def network_policies(
    manifests: list[Manifest] | tuple[Manifest, ...],
) -> dict[str, dict[str, Any]]:
    return {m.name: m.body for m in manifests if m.kind == "NetworkPolicy"}
