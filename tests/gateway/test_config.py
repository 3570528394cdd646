"""Contract 2: the configuration file is validated and errors name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config, parse_config
from gateway.errors import ConfigError

FULL = """
trust_domain: city.example
listen: {ingress: "127.0.0.1:8443", control: "127.0.0.1:8444"}
tls:
  cert: pki/gateway.crt
  key: pki/gateway.key
  client_ca: pki/ca.pem
  client_cert: optional
  crl: pki/crl.pem
  trusted_xfcc_from: ["127.0.0.1/32"]
identity:
  oidc:
    - issuer: https://idp.city.example
      audience: zonegate
      jwks_uri: http://127.0.0.1:9000/jwks.json
      algorithms: [ES256, RS256]
policy:
  engine: embedded
  bundle: policies/
  opa_url: http://127.0.0.1:8181
  decision: zonegate/authz/decision
zones:
  - name: health
    prefix: /zones/health/
    upstream: http://127.0.0.1:9101
    level: L4
store: sqlite:///zonegate.db
"""


def test_full_contract_example_parses_and_resolves_paths(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(FULL)
    cfg = load_config(path)
    assert cfg.trust_domain == "city.example"
    assert cfg.zones[0].level == "L4"
    assert cfg.tls is not None and cfg.tls.cert == tmp_path / "pki/gateway.crt"
    assert cfg.policy.bundle == tmp_path / "policies"
    assert cfg.store == f"sqlite:///{tmp_path}/zonegate.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trust_domain: city.example\nbogus: 1\n", "bogus: unknown key"),
        ("trust_domain: city.example\nzones:\n - {name: h, prefix: /h/, upstream: "
         "'http://x', level: L9}\n", "zones.0.level: must be one of"),
        ("trust_domain: city.example\nzones:\n - {name: h, prefix: /h, upstream: "
         "'http://x', level: L1}\n", "zones.0.prefix: must start and end with '/'"),
        ("trust_domain: city.example\nidentity:\n  oidc:\n   - {issuer: i, audience: a, "
         "algorithms: [none]}\n", "identity.oidc.0.algorithms"),
        ("trust_domain: city.example\nidentity:\n  oidc:\n   - {issuer: i, audience: a, "
         "algorithms: [HS256]}\n", "asymmetric only"),
        ("trust_domain: city.example\ntls: {cert: a, key: b, client_cert: required}\n",
         "client_ca is required"),
        ("trust_domain: city.example\nstore: mysql://x\n", "store: must be sqlite"),
        ("trust_domain: City Example\n", "trust_domain: a trust domain"),
        ("listen: {ingress: nope}\ntrust_domain: a\n", "listen.ingress: must be host:port"),
        ("{unclosed", "gw.yaml:1"),
        ("- a list\n", "the top level must be a mapping"),
        ("zones: []\n", "trust_domain: Field required"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_duplicate_zone_prefix_rejected() -> None:
    text = (
        "trust_domain: t\nzones:\n"
        " - {name: a, prefix: /z/, upstream: 'http://127.0.0.1:1', level: L1}\n"
        " - {name: b, prefix: /z/, upstream: 'http://127.0.0.1:2', level: L1}\n"
    )
    with pytest.raises(ConfigError, match="share the prefix"):
        parse_config(text, "x.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_bare_yaml_off_means_client_cert_off() -> None:
    cfg = parse_config("trust_domain: t\ntls: {cert: a, key: b, client_cert: off}\n", "x.yaml")
    assert cfg.tls is not None and cfg.tls.client_cert == "off"


def test_issuer_claim_mapping_defaults_and_overrides() -> None:
    cfg = parse_config(
        "trust_domain: t\nidentity:\n  oidc:\n   - issuer: i\n     audience: a\n"
        "     leeway: 5\n     claims: {roles: [app_roles]}\n", "x.yaml")
    issuer = cfg.identity.oidc[0]
    assert issuer.require_typ is True and issuer.leeway == 5
    assert issuer.claims.roles == ("app_roles",) and issuer.claims.groups == ("groups",)
    with pytest.raises(ConfigError, match="leeway"):
        parse_config("trust_domain: t\nidentity:\n  oidc:\n   - {issuer: i, audience: a, "
                     "leeway: 9999}\n", "x.yaml")


def test_control_section_resolves_and_checks_ingesters(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\ncontrol:\n  ca_dir: pki/ca\n  ingesters: "
                    "[spiffe://city.example/zone/edge/svc/monitor]\n")
    cfg = load_config(path)
    assert cfg.control.ca_dir == tmp_path / "pki/ca"
    assert cfg.control.ingesters == ("spiffe://city.example/zone/edge/svc/monitor",)
    assert parse_config("trust_domain: t\n").control.ingesters == ()


@pytest.mark.parametrize(("ingester", "message"), [
    ("monitor", "control.ingesters.0: Value error, not a SPIFFE ID"),
    ("spiffe://other.example/zone/edge/svc/monitor", "control.ingesters: not in trust domain"),
])
def test_control_ingesters_must_be_spiffe_ids_of_the_domain(ingester: str,
                                                            message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"trust_domain: city.example\ncontrol: {{ingesters: ['{ingester}']}}\n",
                     "x.yaml")
    assert message.removeprefix("control.ingesters.0: Value error, ") in str(info.value)


def test_control_bundle_keys_resolve_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\ncontrol:\n  publish_bundle: pub/zonegate.tar.gz\n"
                    "  bundle_signing_key: keys/bundle.key\n  bundle_key_id: zonegate\n")
    control = load_config(path).control
    assert control.publish_bundle == tmp_path / "pub/zonegate.tar.gz"
    assert control.bundle_signing_key == tmp_path / "keys/bundle.key"
    assert control.bundle_key_id == "zonegate"
    defaults = parse_config("trust_domain: t\n").control
    assert (defaults.publish_bundle, defaults.bundle_signing_key, defaults.bundle_key_id) == (
        None, None, None)


@pytest.mark.parametrize(("control", "message"), [
    ("{bundle_key_id: zonegate}", "control: bundle_key_id is set but bundle_signing_key"),
    ("{bundle_signing_key: k.pem, bundle_key_id: 'a b'}",
     "control.bundle_key_id: must be 1-128 of"),
    ("{bundle_signing_key: k.pem, bundle_key_id: ''}", "control.bundle_key_id: must be 1-128"),
    ("{publish_bundle: out/bundle.zip}", "control.publish_bundle: must name a .tar.gz file"),
    ("{publish_bundle: out.tar.gz, bundle_keyid: x}", "control.bundle_keyid: unknown key"),
])
def test_control_bundle_keys_are_checked(control: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"trust_domain: city.example\ncontrol: {control}\n", "x.yaml")
    assert str(info.value).startswith(f"x.yaml: {message}")


_MONITOR = "spiffe://city.example/zone/edge/svc/monitor"


def test_control_auto_quarantine_is_off_by_default_and_parses() -> None:
    assert parse_config("trust_domain: t\n").control.auto_quarantine is None
    cfg = parse_config(f"trust_domain: city.example\ncontrol:\n  ingesters: [{_MONITOR}]\n"
                       "  auto_quarantine: {rules: [telnet_bruteforce], min_severity: 90,\n"
                       "                    duration_seconds: 600}\n")
    rule = cfg.control.auto_quarantine
    assert rule is not None
    assert (rule.enabled, rule.rules, rule.min_severity, rule.duration_seconds,
            rule.ingesters_only) == (True, ("telnet_bruteforce",), 90, 600, True)
    defaults = parse_config("trust_domain: t\ncontrol:\n  auto_quarantine: "
                            "{ingesters_only: false}\n").control.auto_quarantine
    assert defaults is not None
    assert (defaults.rules, defaults.min_severity, defaults.duration_seconds) == ((), 80, 3600)


@pytest.mark.parametrize(("section", "message"), [
    ("{rules: [Telnet]}", "control.auto_quarantine.rules: not a rule id"),
    ("{rules: [dns_dga, dns_dga]}", "control.auto_quarantine.rules: a rule id is "
     "listed twice"),
    ("{min_severity: 101}", "control.auto_quarantine.min_severity: "),
    ("{duration_seconds: 0}", "control.auto_quarantine.duration_seconds: "),
    ("{duration_seconds: 31708801}", "control.auto_quarantine.duration_seconds: "),
    ("{severity: 80}", "control.auto_quarantine.severity: unknown key"),
])
def test_control_auto_quarantine_is_checked(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"trust_domain: city.example\ncontrol:\n  ingesters: [{_MONITOR}]\n"
                     f"  auto_quarantine: {section}\n", "x.yaml")
    assert str(info.value).startswith(f"x.yaml: {message}")


def test_control_auto_quarantine_for_ingesters_needs_ingesters() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("trust_domain: t\ncontrol: {auto_quarantine: {min_severity: 80}}\n",
                     "x.yaml")
    assert "auto_quarantine.ingesters_only is true but no ingesters are listed" in str(
        info.value)
    off = parse_config("trust_domain: t\ncontrol: {auto_quarantine: {enabled: false}}\n")
    assert off.control.auto_quarantine is not None


@pytest.mark.parametrize(("ingress", "indexes"), [
    ("{}", False),  # file trust: the gateway holds no store
    ("{device_trust: store}", True),  # on by default with the store
    ("{device_trust: store, decision_index: false}", False),
    ("{decision_index: true}", True),  # the store opened for the index alone
])
def test_decision_index_follows_the_store_unless_set(ingress: str, indexes: bool) -> None:
    config = parse_config(f"trust_domain: city.example\ningress: {ingress}\n")
    assert config.ingress.indexes_decisions is indexes
    assert config.ingress.decision_index_queue == 10_000


@pytest.mark.parametrize(("ingress", "message"), [
    ("{decision_index: sometimes}", "ingress.decision_index"),
    ("{decision_index_queue: 0}", "ingress.decision_index_queue"),
    ("{decision_index_size: 5}", "ingress.decision_index_size"),  # unknown keys are errors
])
def test_decision_index_settings_are_checked(ingress: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"trust_domain: city.example\ningress: {ingress}\n")
