"""Workloads rendered by a real Helm: security defaults, probes, the sidecar, the monitor."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm._chart import (
    HelmRenderer,
    by_kind,
    one,
)
from tests.helm._render import (
    FULL,
    SCENARIO_IDS,
    container_named,
    pod_specs,
    render,
    rendered,
)


@pytest.mark.parametrize("name", SCENARIO_IDS)
def test_pods_are_locked_down(helm: HelmRenderer, name: str) -> None:
    specs = pod_specs(rendered(name))
    assert specs
    for pod, spec in specs.items():
        assert spec["automountServiceAccountToken"] is False, pod
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, pod
        for container in spec["containers"]:
            where = f"{pod}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False or pod.endswith("-monitor")
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert context.get("privileged", False) is False, where
            resources = container["resources"]
            assert set(resources["requests"]) >= {"cpu", "memory"}, where
            assert set(resources["limits"]) >= {"cpu", "memory"}, where
            assert not container["image"].endswith(":latest"), where
            if not pod.endswith("-monitor"):
                assert context["runAsNonRoot"] is True, where
                assert "add" not in context["capabilities"], where
                assert spec["securityContext"]["runAsUser"] != 0, where


@pytest.mark.parametrize(
    ("run_as_non_root", "uid", "escalation"), [(False, 0, False), (True, 10001, True)],
    ids=["root-with-two-caps", "non-root-file-caps"],
)
def test_monitor_daemonset(helm: HelmRenderer, run_as_non_root: bool, uid: int,
                           escalation: bool) -> None:
    manifests = render(helm, {"monitor": {"runAsNonRoot": run_as_non_root}})
    daemonset = one(manifests, "DaemonSet", f"{FULL}-monitor")
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["nodeSelector"] == {"zonegate.city.example/iot-vlan": "true"}
    assert spec["securityContext"]["runAsUser"] == uid
    context = container_named(spec, "monitor")["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}
    assert context["allowPrivilegeEscalation"] is escalation


@pytest.mark.parametrize(
    ("monitor", "args"),
    [
        ({}, ["--iface", "eth1", "--alerts-out", "/var/lib/zonegate/alerts.ndjson"]),
        ({"interface": "vlan40", "learnSeconds": 600},
         ["--iface", "vlan40", "--alerts-out", "/var/lib/zonegate/alerts.ndjson",
          "--learn", "600"]),
        ({"alertsUrl": "https://control:8444/alerts"},
         ["--iface", "eth1", "--alerts-out", "/var/lib/zonegate/alerts.ndjson",
          "--alerts-url",
          "https://control:8444/alerts", "--spool", "/var/lib/zonegate/alerts.spool",
          "--alerts-cert", "/etc/zonegate/monitor-tls/tls.crt",
          "--alerts-key", "/etc/zonegate/monitor-tls/tls.key",
          "--alerts-ca", "/etc/zonegate/monitor-tls/ca.crt"]),
    ],
    ids=["defaults", "learning", "to-control-plane"],
)
def test_monitor_command_line(helm: HelmRenderer, monitor: dict[str, Any],
                              args: list[str]) -> None:
    daemonset = one(render(helm, {"monitor": monitor}), "DaemonSet", f"{FULL}-monitor")
    container = container_named(daemonset["spec"]["template"]["spec"], "monitor")
    assert container["args"] == ["monitor", "run", *args]


def test_monitor_can_be_left_out(helm: HelmRenderer) -> None:
    assert by_kind(render(helm, {"monitor": {"enabled": False}}), "DaemonSet") == []


def test_gateway_deployment(helm: HelmRenderer) -> None:
    manifests = render(helm)
    deployment = one(manifests, "Deployment", f"{FULL}-gateway")
    assert "replicas" not in deployment["spec"]  # the HPA owns the replica count
    spec = deployment["spec"]["template"]["spec"]
    gateway = container_named(spec, "gateway")
    assert gateway["args"] == ["serve", "--config", "/etc/zonegate/config/zonegate.yaml",
                               "--role", "ingress"]
    assert gateway["workingDir"] == "/var/lib/zonegate"
    assert {"name": "data", "mountPath": "/var/lib/zonegate"} in gateway["volumeMounts"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    opa = container_named(spec, "opa")
    assert opa["image"] == "openpolicyagent/opa:1.18.2-static"
    assert "--addr=127.0.0.1:8181" in opa["args"]
    assert "--set-file=keys.zonegate.key=/etc/opa/keys/public.pem" in opa["args"]
    assert opa["readinessProbe"]["httpGet"]["path"] == "/health?bundles"
    # the sidecar sees the CA certificate but never the gateway's private key
    volumes = {v["name"]: v for v in spec["volumes"]}
    opa_secrets = [volumes[m["name"]]["secret"] for m in opa["volumeMounts"]
                   if "secret" in volumes[m["name"]]]
    tls_secrets = [s for s in opa_secrets if s["secretName"] == "zonegate-gateway-tls"]
    assert [s["items"] for s in tls_secrets] == [[{"key": "ca.crt", "path": "ca.crt"}]]
    hpa = one(manifests, "HorizontalPodAutoscaler", f"{FULL}-gateway")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    pdb = one(manifests, "PodDisruptionBudget", f"{FULL}-gateway")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_fixed_replicas_without_autoscaling(helm: HelmRenderer) -> None:
    manifests = render(helm, {"gateway": {"autoscaling": {"enabled": False}, "replicas": 4}})
    assert one(manifests, "Deployment", f"{FULL}-gateway")["spec"]["replicas"] == 4
    assert by_kind(manifests, "HorizontalPodAutoscaler") == []


def test_control_plane_deployment(helm: HelmRenderer) -> None:
    manifests = render(helm)
    spec = pod_specs(manifests)[f"{FULL}-control"]
    assert container_named(spec, "control-plane")["args"][-2:] == ["--role", "control"]
    service = one(manifests, "Service", f"{FULL}-control")
    assert service["spec"]["ports"][0]["port"] == 8444


