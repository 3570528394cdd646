"""The chart rendered by a real Helm: lint, Kubernetes schemas, the config file, OPA, Secrets.

Each rendering is validated against the Kubernetes OpenAPI schemas (kubernetes-validate,
strict: unknown fields are errors) and its config file is parsed by zonegate's own config
loader (contract 2). Without a Helm engine every test here skips and says why.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helm._chart import (
    NAMESPACE,
    HelmRenderer,
    RenderError,
    by_kind,
    default_values,
    merged,
    one,
    parse_template_output,
)
from tests.helm._render import (
    FULL,
    SCENARIO_IDS,
    SCENARIOS,
    config_of,
    container_named,
    pod_specs,
    render,
    rendered,
)

KUBE_VERSIONS = ("1.27.0", "1.33.0")


# --- lint and Kubernetes schemas -------------------------------------------------------


def _kubernetes_validate() -> Any:
    return pytest.importorskip("kubernetes_validate",
                               reason="kubernetes-validate is not installed")


def test_template_output_is_split_into_objects(helm: HelmRenderer) -> None:
    # the shape `helm template` prints, for the binary path when only the SDK is here
    manifests = rendered("defaults")
    stream = "".join(f"---\n# Source: {m.source}\n{yaml.safe_dump(m.body)}" for m in manifests)
    assert parse_template_output(stream) == list(manifests)


@pytest.mark.parametrize(("name", "overrides"), SCENARIOS, ids=SCENARIO_IDS)
def test_helm_lint_is_clean(helm: HelmRenderer, name: str, overrides: dict[str, Any]) -> None:
    assert helm.lint_errors(overrides) == []


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("name", SCENARIO_IDS)
def test_every_object_fits_the_kubernetes_schema(helm: HelmRenderer, name: str,
                                                 kube: str) -> None:
    kubernetes_validate = _kubernetes_validate()
    manifests = rendered(name)
    assert manifests
    for manifest in manifests:
        if manifest.body["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked in test_service_monitor_*
        try:
            kubernetes_validate.validate(manifest.body, kube, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest.source}: {manifest.kind} {manifest.name}: {exc.message}")


def test_kubernetes_validate_catches_an_unknown_field() -> None:
    kubernetes_validate = _kubernetes_validate()
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "datta": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSIONS[0], strict=True)


# --- the zonegate config file (contract 2) ---------------------------------------------


@pytest.mark.parametrize("name", SCENARIO_IDS)
def test_config_file_is_accepted_by_zonegate(helm: HelmRenderer, name: str) -> None:
    config = config_of(rendered(name))
    values = merged(dict(SCENARIOS)[name])
    assert config.trust_domain == values["trustDomain"]
    assert [(z.name, z.prefix, z.upstream, z.level) for z in config.zones] == [
        (z["name"], z["prefix"], z["upstream"]["url"], z["level"]) for z in values["zones"]
    ]
    assert config.listen.ingress == f"0.0.0.0:{values['gateway']['port']}"


@pytest.mark.parametrize(
    ("overrides", "engine", "opa_containers"),
    [({"opa": {"enabled": True}}, "opa", 1), ({"opa": {"enabled": False}}, "embedded", 0)],
    ids=["sidecar", "embedded"],
)
def test_policy_engine_follows_the_sidecar(helm: HelmRenderer, overrides: dict[str, Any],
                                           engine: str, opa_containers: int) -> None:
    manifests = render(helm, overrides)
    config = config_of(manifests)
    assert config.policy.engine == engine
    spec = pod_specs(manifests)[f"{FULL}-gateway"]
    assert [c["name"] for c in spec["containers"]].count("opa") == opa_containers
    assert len([m for m in manifests if m.name == f"{FULL}-opa"]) == opa_containers
    if engine == "opa":
        assert config.policy.opa_url == "http://127.0.0.1:8181"
    else:
        assert str(config.policy.bundle) == default_values()["policy"]["bundle"]


def test_store_url_has_no_password_and_requires_tls(helm: HelmRenderer) -> None:
    manifests = render(helm, {"postgresql": {"caSecret": {"name": "pg-ca", "key": "ca.crt"}}})
    store = config_of(manifests).store
    assert store.startswith("postgresql://zonegate@")
    assert ":" not in store.removeprefix("postgresql://").split("@")[0]
    assert "sslmode=verify-full" in store
    assert "sslrootcert=/etc/zonegate/postgresql/ca.crt" in store
    for name in (f"{FULL}-gateway", f"{FULL}-control"):
        container = pod_specs(manifests)[name]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "zonegate-postgresql", "key": "password"}
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/etc/zonegate/postgresql" in mounts


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        ({"enabled": False}, None),
        ({"enabled": True, "clientCert": "required", "trustedXfccFrom": ["10.0.0.0/8"],
          "crl": {"secretName": "zonegate-crl", "key": "crl.pem"}},
         ("required", "/etc/zonegate/ca/crl.pem", ("10.0.0.0/8",))),
    ],
    ids=["plain", "mtls-with-crl"],
)
def test_tls_section(helm: HelmRenderer, tls: dict[str, Any],
                     expected: tuple[str, str, tuple[str, ...]] | None) -> None:
    manifests = render(helm, {"tls": tls})
    config = config_of(manifests)
    probe = container_named(pod_specs(manifests)[f"{FULL}-gateway"], "gateway")["readinessProbe"]
    if expected is None:
        assert config.tls is None
        assert probe["httpGet"]["scheme"] == "HTTP"
        return
    assert config.tls is not None
    assert (config.tls.client_cert, str(config.tls.crl), config.tls.trusted_xfcc_from) == expected
    assert probe["httpGet"]["scheme"] == "HTTPS"
    # the verifier reads root.crt, intermediate.crt and crl.pem beside tls.client_ca
    volumes = {v["name"]: v for v in pod_specs(manifests)[f"{FULL}-gateway"]["volumes"]}
    sources = volumes["client-ca"]["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == ["zonegate-ca-public", "zonegate-crl"]
    assert sources[1]["secret"]["items"] == [{"key": "crl.pem", "path": "crl.pem"}]


def test_oidc_issuers_reach_theconfig_of(helm: HelmRenderer) -> None:
    issuers = [{"issuer": "https://idp.city.example", "audience": "zonegate",
                "jwksUri": "https://idp.city.example/jwks.json", "algorithms": ["ES256"]},
               {"issuer": "https://other.city.example", "audience": "zonegate"}]
    config = config_of(render(helm, {"identity": {"oidc": issuers}}))
    assert [(o.issuer, o.jwks_uri, o.algorithms) for o in config.identity.oidc] == [
        ("https://idp.city.example", "https://idp.city.example/jwks.json", ("ES256",)),
        ("https://other.city.example", None, ("ES256", "RS256")),
    ]


@pytest.mark.parametrize(
    ("bundle", "url", "signing"),
    [
        ({}, f"https://{FULL}-control.{NAMESPACE}.svc:8444", {"keyid": "zonegate"}),
        ({"url": "https://bundles.city.example", "signing": {"scope": "write"}},
         "https://bundles.city.example", {"keyid": "zonegate", "scope": "write"}),
    ],
    ids=["control-plane", "bundle-server-with-scope"],
)
def test_opaconfig_of(helm: HelmRenderer, bundle: dict[str, Any], url: str,
                    signing: dict[str, str]) -> None:
    configmap = one(render(helm, {"opa": {"bundle": bundle}}), "ConfigMap", f"{FULL}-opa")
    config = yaml.safe_load(configmap["data"]["opa.yaml"])
    assert config["services"]["bundles"] == {"url": url,
                                             "tls": {"ca_cert": "/etc/zonegate/tls/ca.crt"}}
    assert config["bundles"]["zonegate"]["signing"] == signing
    assert config["bundles"]["zonegate"]["resource"] == "bundles/zonegate.tar.gz"
    assert config["keys"] == {"zonegate": {"algorithm": "ES256"}}
    assert config["decision_logs"] == {"console": True}


# --- optional objects ------------------------------------------------------------------


@pytest.mark.parametrize(("enabled", "count"), [(False, 0), (True, 1)], ids=["off", "on"])
def test_service_monitor_is_optional(helm: HelmRenderer, enabled: bool, count: int) -> None:
    monitors = by_kind(render(helm, {"serviceMonitor": {"enabled": enabled}}), "ServiceMonitor")
    assert len(monitors) == count
    if enabled:
        [endpoint] = monitors[0].body["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == (
            "ingress", "/metrics", "https")
        assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": "zonegate-gateway-tls",
                                                         "key": "ca.crt"}


def _pem_material() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zonegate test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    return {
        "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "key": key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode(),
        "public": key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    }


def test_chart_made_secrets_carry_the_given_material(helm: HelmRenderer) -> None:
    pem = _pem_material()
    manifests = render(helm, {
        "tls": {"create": True, "certificate": pem["cert"], "privateKey": pem["key"],
                "caCertificate": pem["cert"]},
        "opa": {"bundle": {"signing": {"create": True, "publicKey": pem["public"]}}},
        "postgresql": {"passwordSecret": {"create": True, "password": "correct horse"}},
    })
    secrets = {m.name: m.body for m in by_kind(manifests, "Secret")}
    decoded = {name: {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
               for name, body in secrets.items()}
    assert secrets["zonegate-gateway-tls"]["type"] == "kubernetes.io/tls"
    assert decoded["zonegate-gateway-tls"] == {"tls.crt": pem["cert"], "tls.key": pem["key"],
                                               "ca.crt": pem["cert"]}
    assert decoded["zonegate-bundle-verify"] == {"public.pem": pem["public"]}
    assert decoded["zonegate-postgresql"] == {"password": "correct horse"}


def test_no_secret_is_made_by_default(helm: HelmRenderer) -> None:
    assert by_kind(render(helm), "Secret") == []


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"gateway": {"replica": 3}}, "replica"),
        ({"postgresql": {"sslMode": "disable"}}, "/postgresql/sslMode"),
        ({"zones": [{"name": "a", "prefix": "/a/", "level": "L1", "upstream": {
            "url": "http://a", "podSelector": {"matchLabels": {"a": "a"}},
            "ports": [{"port": 80}]}}] * 2}, 'two zones share the name "a"'),
        ({"zones": [{"name": n, "prefix": "/a/", "level": "L1", "upstream": {
            "url": "http://a", "podSelector": {"matchLabels": {"a": "a"}},
            "ports": [{"port": 80}]}} for n in ("a", "b")]}, 'two zones share the prefix "/a/"'),
    ],
    ids=["tag-latest", "unknown-key", "postgres-plaintext", "duplicate-zone",
         "duplicate-prefix"],
)
def test_helm_refuses_bad_values(helm: HelmRenderer, overrides: dict[str, Any],
                                 message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(helm, overrides)
    assert message in str(caught.value)
