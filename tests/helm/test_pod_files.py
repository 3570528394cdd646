"""The rendered pods' files, laid out as kubelet would, opened the way zonegate opens them.

Objects that validate can still describe pods that cannot start: a key mounted where the
config does not look, a CA folder without root.crt, a bundle signed with a key id OPA does
not know. Here a real CA (pki/) and real keys fill the Secrets; each pod's volumes are
written to a temporary folder per their mounts (Secret items, projected sources, the
ConfigMap, a PersistentVolumeClaim shared between pod starts); the config's paths are
taken inside that folder; and the files are loaded with zonegate's own code: the client
certificate verifier, the listener's TLS context, the assertion key, the bundle signature
as OPA would check it, the CA directory the init container lays out.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification

from gateway.config import GatewayConfig, parse_config
from gateway.identity import build_authenticator
from gateway.ingress.tls import server_context
from gateway.pdp.bundle import bundle_members, sign_members, verify_bundle, write_archive
from gateway.pdp.source import load_source
from pki.authority import CertificateAuthority
from pki.verify import CertificateVerifier
from tests.helm._chart import ROOT, Manifest, one
from tests.helm._local import render_local
from tests.helm._render import FULL, container_named, pod_specs

TRUST_DOMAIN = "city.example"
ALERTS = "https://zg-zonegate-control.zonegate.svc:8444/api/alerts"
WIRED = {"monitor": {"alertsUrl": ALERTS},
         "controlPlane": {"ca": {"secretName": "zonegate-ca"},
                          "autoQuarantine": {"enabled": True}}}


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The Secrets the chart refers to by default, made as docs/deploy.md says."""
    ca_dir = tmp_path_factory.mktemp("pki") / "ca"
    ca = CertificateAuthority.init(ca_dir, TRUST_DOMAIN)
    server = ca.issue(zone="platform", kind="svc", name="gateway", usages=("server",),
                      dns_names=[f"{FULL}-gateway.zonegate.svc", f"{FULL}-control.zonegate.svc"])
    monitor = ca.issue(zone="platform", kind="svc", name="monitor", usages=("client",))
    signing = ec.generate_private_key(ec.SECP256R1())
    files = {p.name: p.read_bytes() for p in ca_dir.iterdir() if p.is_file()}
    assert server.key_pem is not None and monitor.key_pem is not None
    return {
        "zonegate-gateway-tls": {"tls.crt": server.chain_pem, "tls.key": server.key_pem,
                                 "ca.crt": files["ca.pem"]},
        "zonegate-ca-public": {n: files[n] for n in ("root.crt", "intermediate.crt",
                                                     "ca.pem", "crl.pem")},
        "zonegate-assertion-key": {"assertion.pem": _pem_key(
            ec.generate_private_key(ec.SECP256R1()))},
        "zonegate-bundle-signing": {"private.pem": _pem_key(signing)},
        "zonegate-bundle-verify": {"public.pem": signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)},
        "zonegate-postgresql": {"password": b"correct horse"},
        "zonegate-monitor-tls": {"tls.crt": monitor.chain_pem, "tls.key": monitor.key_pem,
                                 "ca.crt": files["ca.pem"]},
        # the CA directory without the root key, which stays offline
        "zonegate-ca": {n: b for n, b in files.items() if n not in ("root.key", ".lock")},
    }


class Pod:
    """One pod's volumes as files under `root`; claims live in `claims` across pods."""

    def __init__(self, root: Path, claims: Path, spec: dict[str, Any],
                 manifests: list[Manifest], secrets: dict[str, dict[str, bytes]]) -> None:
        self.root, self.spec = root, spec
        self.volumes: dict[str, Path] = {}
        for volume in spec["volumes"]:
            name = volume["name"]
            if "persistentVolumeClaim" in volume:
                where = claims / volume["persistentVolumeClaim"]["claimName"]
            else:
                where = root / "volumes" / name
            where.mkdir(parents=True, exist_ok=True)
            self.volumes[name] = where
            if "configMap" in volume:
                data = one(manifests, "ConfigMap", volume["configMap"]["name"])["data"]
                for key, text in data.items():
                    (where / key).write_text(text, encoding="utf-8")
            for source in volume.get("projected", {}).get("sources", []) + (
                    [{"secret": {"name": volume["secret"]["secretName"],
                                 "items": volume["secret"].get("items")}}]
                    if "secret" in volume else []):
                self._secret(where, source["secret"], secrets)

    @staticmethod
    def _secret(where: Path, ref: dict[str, Any], secrets: dict[str, dict[str, bytes]]) -> None:
        data = secrets[ref["name"]]  # KeyError: the pod would wait for a missing Secret
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            target = where / item["path"]
            target.write_bytes(data[item["key"]])  # KeyError: a key the Secret lacks
            target.chmod(0o440)  # defaultMode 0440/0444 and fsGroup: group-readable

    def path(self, container: dict[str, Any], in_pod: str) -> Path:
        """Where a path inside `container` is on this machine (by its longest mount)."""
        best = None
        for mount in container.get("volumeMounts", []):
            base = mount["mountPath"].rstrip("/")
            if (in_pod == base or in_pod.startswith(base + "/")) and (
                    best is None or len(base) > len(best["mountPath"].rstrip("/"))):
                best = mount
        if best is None:
            raise AssertionError(f"{container['name']}: nothing is mounted at {in_pod}")
        rest = in_pod[len(best["mountPath"].rstrip("/")):].lstrip("/")
        return self.volumes[best["name"]] / rest

    def config(self, container: dict[str, Any]) -> GatewayConfig:
        """The container's zonegate.yaml with the paths its role reads taken in this pod.

        The file is shared: the gateway (`--role ingress`) reads the files of `tls:` and
        `ingress:`, the control plane those of `tls:` and `control:`; the other role's
        paths are left as they are (they are not mounted in this pod, on purpose).
        """
        args = container["args"]
        raw = yaml.safe_load(self.path(container, args[args.index("--config") + 1]).read_text())

        def local(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: local(v) for k, v in node.items()}
            if isinstance(node, list):
                return [local(v) for v in node]
            if isinstance(node, str) and node.startswith("/") and node.count("/") > 1:
                return str(self.path(container, node))
            return node

        role = args[args.index("--role") + 1]
        sections = ("tls", "ingress") if role == "ingress" else ("tls", "control")
        raw.update({k: local(raw[k]) for k in sections if k in raw})
        raw["store"] = f"sqlite:///{self.root / 'store.db'}"  # PostgreSQL is not here
        return parse_config(yaml.safe_dump(raw), "pod zonegate.yaml")


@pytest.fixture
def pods(tmp_path: Path, secrets: dict[str, dict[str, bytes]]) -> dict[str, Any]:
    manifests = render_local(WIRED)
    specs = pod_specs(manifests)
    claims = tmp_path / "claims"
    return {"manifests": manifests, "secrets": secrets, "claims": claims, "tmp": tmp_path,
            **{name: Pod(tmp_path / name, claims, spec, manifests, secrets)
               for name, spec in specs.items()}}


def _monitor_leaf(secrets: dict[str, dict[str, bytes]]) -> x509.Certificate:
    return x509.load_pem_x509_certificates(secrets["zonegate-monitor-tls"]["tls.crt"])[0]


def test_gateway_pod_starts_with_its_files(pods: dict[str, Any]) -> None:
    pod: Pod = pods[f"{FULL}-gateway"]
    gateway = container_named(pod.spec, "gateway")
    config = pod.config(gateway)
    assert config.tls is not None and config.tls.client_ca is not None
    server_context(config.tls)  # server certificate, client CA and CRL all load
    # what `serve` does: the CA folder is tls.client_ca's (root.crt, intermediate.crt, crl)
    build_authenticator(config, config.tls.client_ca.parent)
    verifier = CertificateVerifier.from_ca_dir(config.tls.client_ca.parent, TRUST_DOMAIN)
    leaf = _monitor_leaf(pods["secrets"])
    assert verifier.verify(leaf).spiffe_id.endswith("/zone/platform/svc/monitor")
    assert config.ingress.signing_key is not None
    key = serialization.load_pem_private_key(config.ingress.signing_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert config.ingress.audit_log is not None
    audit_volume = next(v for v in pod.spec["volumes"]
                        if pod.volumes[v["name"]] in config.ingress.audit_log.parents)
    assert "emptyDir" in audit_volume  # writable, unlike the config's ConfigMap


def test_gateway_can_verify_the_control_plane_it_fetches_the_crl_from(
        pods: dict[str, Any]) -> None:
    gateway_pod: Pod = pods[f"{FULL}-gateway"]
    gateway = gateway_pod.config(container_named(gateway_pod.spec, "gateway"))
    assert gateway.tls is not None and gateway.tls.crl_url is not None
    assert gateway.tls.crl_url_ca is not None and gateway.tls.crl_url_ca.is_file()
    control_pod: Pod = pods[f"{FULL}-control"]
    control = control_pod.config(container_named(control_pod.spec, "control-plane"))
    assert control.tls is not None and control.control.ca_dir is not None
    # what an https client with cafile=crl_url_ca checks: chain and the URL's host name
    trusted = x509.load_pem_x509_certificates(gateway.tls.crl_url_ca.read_bytes())
    leaf, *chain = x509.load_pem_x509_certificates(control.tls.cert.read_bytes())
    host = urlsplit(gateway.tls.crl_url).hostname
    assert host is not None
    verifier = verification.PolicyBuilder().store(verification.Store(
        [c for c in trusted if c.subject == c.issuer])).build_server_verifier(
        x509.DNSName(host))
    verifier.verify(leaf, [*chain, *(c for c in trusted if c.subject != c.issuer)])
    # and the control plane serves /crl.pem from the CA directory the pod keeps
    assert gateway.tls.crl_url.endswith("/crl.pem")


def test_bundle_the_control_plane_signs_is_the_one_opa_accepts(pods: dict[str, Any]) -> None:
    control_pod: Pod = pods[f"{FULL}-control"]
    config = control_pod.config(container_named(control_pod.spec, "control-plane"))
    assert config.control.bundle_signing_key is not None
    gateway_pod: Pod = pods[f"{FULL}-gateway"]
    opa = container_named(gateway_pod.spec, "opa")
    opa_config = yaml.safe_load(gateway_pod.path(
        opa, "/etc/opa/config/opa.yaml").read_text(encoding="utf-8"))
    kid = opa_config["bundles"]["zonegate"]["signing"]["keyid"]
    [set_file] = [a for a in opa["args"] if a.startswith("--set-file=")]
    key_arg, key_file = set_file.removeprefix("--set-file=").split("=")
    assert key_arg == f"keys.{kid}.key"
    # as the control plane publishes: ES256 for its EC P-256 key, kid bundle_key_id
    assert opa_config["keys"][kid]["algorithm"] == "ES256"
    members = bundle_members(load_source(ROOT / "policies"), revision="chart-test")
    members[".signatures.json"] = sign_members(
        members, config.control.bundle_signing_key.read_bytes(),
        key_id=config.control.bundle_key_id, algorithm="ES256")
    archive = pods["tmp"] / "zonegate.tar.gz"
    write_archive(archive, members)
    report = verify_bundle(archive, gateway_pod.path(opa, key_file).read_bytes(), key_id=kid,
                           scope=opa_config["bundles"]["zonegate"]["signing"].get("scope", ""))
    assert report.signed and report.key_id == kid
    with tarfile.open(archive) as tar:
        assert "/.signatures.json" in tar.getnames()


def _run_init(pod: Pod, name: str) -> subprocess.CompletedProcess[str]:
    init = next(c for c in pod.spec["initContainers"] if c["name"] == name)
    assert init["command"] == ["python3", "-c"]
    script = init["args"][0]
    for mount in init["volumeMounts"]:
        where = pod.path(init, mount["mountPath"])
        script = script.replace(f'"{mount["mountPath"]}"', f'"{where}"')
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=60)


def test_control_plane_ca_issues_and_keeps_its_inventory(pods: dict[str, Any]) -> None:
    pod: Pod = pods[f"{FULL}-control"]
    control = container_named(pod.spec, "control-plane")
    assert _run_init(pod, "ca-state").returncode == 0
    config = pod.config(control)
    assert config.control.ca_dir is not None
    ca = CertificateAuthority.open(config.control.ca_dir)  # keys 0600 as pki/ requires
    issued = ca.issue(zone="transport", kind="device", name="cam-7")
    ca.revoke(issued.serial, "keyCompromise")
    # the monitor authenticates to the control plane against the same directory
    build_authenticator(config, config.control.ca_dir)
    # the next start (same claim, a new pod) keeps the inventory and the CRL
    again = Pod(pods["tmp"] / "control-2", pods["claims"], pod.spec, pods["manifests"],
                pods["secrets"])
    assert _run_init(again, "ca-state").returncode == 0
    entries = {e.spiffe_id: e for e in CertificateAuthority.open(config.control.ca_dir).entries()}
    cam = entries[f"spiffe://{TRUST_DOMAIN}/zone/transport/device/cam-7"]
    assert cam.revocation_reason == "keyCompromise", "a restart forgot the revocation"
    crl = x509.load_pem_x509_crl((config.control.ca_dir / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None


def test_ca_state_refuses_a_root_key(pods: dict[str, Any]) -> None:
    secrets = {**pods["secrets"], "zonegate-ca": {**pods["secrets"]["zonegate-ca"],
                                                  "root.key": b"-----BEGIN PRIVATE KEY-----"}}
    pod = Pod(pods["tmp"] / "control-root", pods["tmp"] / "claims-root",
              pods[f"{FULL}-control"].spec, pods["manifests"], secrets)
    done = _run_init(pod, "ca-state")
    assert done.returncode != 0 and "keep the root key offline" in done.stderr


def test_monitor_certificate_is_an_ingester(pods: dict[str, Any]) -> None:
    pod: Pod = pods[f"{FULL}-monitor"]
    monitor = container_named(pod.spec, "monitor")
    args = monitor["args"]
    for flag in ("--alerts-cert", "--alerts-key", "--alerts-ca"):
        assert pod.path(monitor, args[args.index(flag) + 1]).is_file(), flag
    control_pod: Pod = pods[f"{FULL}-control"]
    config = control_pod.config(container_named(control_pod.spec, "control-plane"))
    leaf = _monitor_leaf(pods["secrets"])
    uris = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    assert uris and set(uris) <= set(config.control.ingesters)
    assert leaf.not_valid_after_utc > dt.datetime.now(dt.UTC)
