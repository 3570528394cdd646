"""NetworkPolicies rendered by a real Helm: default-deny and per-zone microsegmentation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm._chart import (
    NAMESPACE,
    HelmRenderer,
    merged,
    one,
)
from tests.helm._render import (
    FULL,
    SCENARIO_IDS,
    SCENARIOS,
    network_policies,
    render,
    rendered,
)


def test_default_deny_in_the_release_namespace(helm: HelmRenderer) -> None:
    deny = network_policies(render(helm))[f"{FULL}-default-deny"]
    assert deny["metadata"]["namespace"] == NAMESPACE
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("name", SCENARIO_IDS)
def test_each_zone_admits_only_gateway_pods(helm: HelmRenderer, name: str) -> None:
    manifests = rendered(name)
    policies = network_policies(manifests)
    gateway_labels = one(list(manifests), "Deployment", f"{FULL}-gateway")["spec"]["selector"][
        "matchLabels"]
    zones = merged(dict(SCENARIOS)[name])["zones"]
    zone_policies = [p for p in policies.values()
                     if p["metadata"]["labels"].get("app.kubernetes.io/component") == "zone"]
    assert len(zone_policies) == len(zones)
    for zone in zones:
        policy = policies[f"{FULL}-zone-{zone['name']}"]
        assert policy["metadata"]["namespace"] == zone["upstream"].get("namespace", NAMESPACE)
        assert policy["spec"]["podSelector"] == zone["upstream"]["podSelector"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        [rule] = policy["spec"]["ingress"]
        assert rule["from"] == [{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "podSelector": {"matchLabels": gateway_labels},
        }]
        assert rule["ports"] == zone["upstream"]["ports"]


@pytest.mark.parametrize("name", SCENARIO_IDS)
def test_gateway_egress_is_exactly_dns_zones_control_and_store(helm: HelmRenderer,
                                                               name: str) -> None:
    manifests = rendered(name)
    values = merged(dict(SCENARIOS)[name])
    egress = network_policies(manifests)[f"{FULL}-gateway"]["spec"]["egress"]
    control_labels = one(list(manifests), "Deployment", f"{FULL}-control")["spec"][
        "selector"]["matchLabels"] if values["controlPlane"]["enabled"] else None
    expected: list[dict[str, Any]] = [{
        "to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }]
    for zone in values["zones"]:
        expected.append({
            "to": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": zone["upstream"].get("namespace", NAMESPACE)}},
                "podSelector": zone["upstream"]["podSelector"]}],
            "ports": zone["upstream"]["ports"],
        })
    if control_labels is not None:
        expected.append({"to": [{"podSelector": {"matchLabels": control_labels}}],
                         "ports": [{"port": values["controlPlane"]["port"], "protocol": "TCP"}]})
    store: dict[str, Any] = {"ports": [{"port": values["postgresql"]["port"], "protocol": "TCP"}]}
    if values["postgresql"]["networkPolicyTo"]:
        store["to"] = values["postgresql"]["networkPolicyTo"]
    expected.append(store)
    expected.extend(values["gateway"]["extraEgress"])
    assert egress == expected


@pytest.mark.parametrize(
    ("peers", "expected_from"),
    [([], None), ([{"ipBlock": {"cidr": "10.1.0.0/16"}}], [{"ipBlock": {"cidr": "10.1.0.0/16"}}])],
    ids=["anyone", "restricted"],
)
def test_gateway_ingress_sources(helm: HelmRenderer, peers: list[dict[str, Any]],
                                 expected_from: list[dict[str, Any]] | None) -> None:
    manifests = render(helm, {"gateway": {"networkPolicyFrom": peers}})
    policy = network_policies(manifests)[f"{FULL}-gateway"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8443, "protocol": "TCP"}]
    assert rule.get("from") == expected_from


def test_control_plane_admits_gateway_pods(helm: HelmRenderer) -> None:
    manifests = render(helm)
    policy = network_policies(manifests)[f"{FULL}-control"]
    gateway_labels = one(manifests, "Deployment", f"{FULL}-gateway")["spec"]["selector"][
        "matchLabels"]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": gateway_labels}}]


def test_network_policies_can_be_turned_off(helm: HelmRenderer) -> None:
    assert network_policies(render(helm, {"networkPolicy": {"enabled": False}})) == {}


