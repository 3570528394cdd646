"""Configuration (DESIGN.md contract 2): YAML validated by pydantic, unknown keys are errors.

`load_config(path)` returns an immutable `GatewayConfig` or raises `ConfigError` whose
message names the file and the dotted field path, e.g.
``gateway.yaml: zones.0.level: must be one of L1..L6``.
Relative paths inside the file are resolved against the file's directory.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.errors import ConfigError

LEVELS = ("L1", "L2", "L3", "L4", "L5", "L6")
_HOSTPORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(?P<port>\d{1,5})$")
_ZONE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def _check_level(value: str) -> str:
    if value not in LEVELS:
        raise ValueError(f"must be one of {', '.join(LEVELS)}, got {value!r}")
    return value


Level = Annotated[str, AfterValidator(_check_level)]


def _check_hostport(value: str) -> str:
    match = _HOSTPORT.match(value)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"must be host:port, got {value!r}")
    return value


HostPort = Annotated[str, AfterValidator(_check_hostport)]


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _check_networks(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        if not _is_network(item):
            raise ValueError(f"not an IP address or network: {item!r}")
    return value


Networks = Annotated[tuple[str, ...], AfterValidator(_check_networks)]


def _check_http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value


HttpURL = Annotated[str, AfterValidator(_check_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(_Strict):
    ingress: HostPort = "127.0.0.1:8443"
    control: HostPort = "127.0.0.1:8444"


class TLSConfig(_Strict):
    cert: Path
    key: Path
    client_ca: Path | None = None
    client_cert: Literal["off", "optional", "required"] = "off"
    crl: Path | None = None
    # how often the running gateway looks for a new CRL file (gateway/ingress/crl_watch.py)
    crl_refresh_seconds: Annotated[float, Field(ge=0.5, le=3600)] = 5.0
    # ... and for a renewed cert/key pair (gateway/ingress/cert_watch.py)
    cert_refresh_seconds: Annotated[float, Field(ge=0.5, le=3600)] = 5.0
    # the CA's CRL over HTTP(S), e.g. the control plane's /crl.pem, polled while running
    # (gateway/ingress/crl_fetch.py); its signature is checked, not the transport
    crl_url: HttpURL | None = None
    crl_url_ca: Path | None = None  # verifies an https crl_url's server; default client_ca
    crl_fetch_seconds: Annotated[float, Field(ge=1, le=86400)] = 30.0
    trusted_xfcc_from: Networks = ()

    @field_validator("client_cert", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as false; the contract's spelling must still work.
        return "off" if value is False else value

    @model_validator(mode="after")
    def _client_ca_needed(self) -> TLSConfig:
        if self.client_cert != "off" and self.client_ca is None:
            raise ValueError("client_cert is not 'off', so client_ca is required")
        if self.crl_url is not None and self.client_cert == "off" \
                and not self.trusted_xfcc_from:
            raise ValueError("crl_url is set but no client certificate is verified "
                             "(client_cert is 'off' and trusted_xfcc_from is empty)")
        return self


class OIDCClaims(_Strict):
    """Where roles, groups and clearance are read from (dotted claim paths, first wins)."""

    roles: tuple[str, ...] = ("roles", "realm_access.roles")
    groups: tuple[str, ...] = ("groups",)
    clearance: tuple[str, ...] = ("clearance",)
    default_clearance: Level = "L1"


class OIDCIssuer(_Strict):
    issuer: str
    audience: str
    jwks_uri: str | None = None
    algorithms: tuple[str, ...] = ("ES256", "RS256")
    require_typ: bool = True  # RFC 9068 access tokens carry typ at+jwt
    required_claims: tuple[str, ...] = ("iss", "sub", "aud", "exp", "iat", "jti")
    leeway: float = Field(default=30.0, ge=0, le=300)
    claims: OIDCClaims = Field(default_factory=OIDCClaims)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384",
                   "PS512", "EdDSA"}
        bad = [alg for alg in value if alg not in allowed]
        if bad:
            raise ValueError(f"algorithms not allowed (asymmetric only, never 'none'): {bad}")
        if not value:
            raise ValueError("at least one algorithm is required")
        return value


class IdentityConfig(_Strict):
    oidc: tuple[OIDCIssuer, ...] = ()


class PolicyConfig(_Strict):
    engine: Literal["embedded", "opa"] = "embedded"
    bundle: Path = Path("policies")
    opa_url: str = "http://127.0.0.1:8181"
    decision: str = "zonegate/authz/decision"
    verification_key: Path | None = None  # public key PEM for signed bundles
    opa_timeout_seconds: float = Field(default=0.5, gt=0, le=30)
    # null turns the cache off / hot reload off
    cache_ttl_seconds: float | None = Field(default=2.0, gt=0, le=300)
    decision_log: Path | None = None  # OPA-shaped JSONL decision events
    # JSON pointers under /input/ erased from decision-log events, on top of the built-in
    # ones (tokens, cookies, authorization headers), which cannot be switched off
    decision_log_mask: tuple[str, ...] = ()
    reload_interval_seconds: float | None = Field(default=1.0, gt=0, le=3600)

    @field_validator("decision_log_mask")
    @classmethod
    def _pointers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pointer in value:
            if not pointer.startswith("/input/") or pointer.endswith("/"):
                raise ValueError(f"{pointer!r} is not a JSON pointer under /input/ "
                                 "(e.g. /input/subject/email)")
        return value


class IngressConfig(_Strict):
    """Data-plane settings (contract 2 extension); `zonegate serve` flags override them."""

    audit_log: Path | None = None  # default: zonegate-audit.jsonl beside the config
    # peers (IP networks) that may read /metrics; null: anyone who reaches the listener.
    # The metrics name zones, deny reasons and the policy revision: restrict them where
    # the data-plane port faces clients, e.g. [127.0.0.1/32, 10.0.0.0/8] for a scraper
    metrics_from: Networks | None = None
    # background: answer once written (survives kill -9), fsync follows (see gateway/audit)
    audit_sync: Literal["background", "group", "always", "off"] = "background"
    # the chain's durable tip (seq, hash) is checkpointed this often, when it moved, to
    # audit_checkpoints (a JSONL file to ship off the box; default: <audit log>.checkpoints)
    # and to the store's change audit when the gateway has a store (gateway/audit)
    audit_checkpoint_seconds: float = Field(default=10.0, ge=0.05, le=3600)
    audit_checkpoints: Path | None = None
    quarantine_file: Path | None = None
    # where quarantines come from: `file` is quarantine_file (none when unset); `store`
    # is the store (`store:`), which the control plane and the monitor write and every
    # replica polls every trust_refresh_seconds
    device_trust: Literal["file", "store"] = "file"
    trust_refresh_seconds: float = Field(default=2.0, gt=0, le=300)
    # every policy decision into the store's decision index (/api/decisions, shadow,
    # replay), queued and written in batches off the request path; null (the default)
    # is on when the gateway uses the store (device_trust: store), true opens `store:`
    # for the index alone, false never writes it
    decision_index: bool | None = None
    decision_index_queue: int = Field(default=10_000, ge=1, le=1_000_000)  # then dropped
    signing_key: Path | None = None  # P-256 PEM shared by replicas; None: fresh per start
    dlp_max_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    max_body_bytes: int = Field(default=10 << 20, ge=0, le=1 << 30)
    max_header_bytes: int = Field(default=16 << 10, ge=1024, le=1 << 20)
    max_headers: int = Field(default=100, ge=8, le=256)
    keepalive_timeout: float = Field(default=75.0, gt=0, le=3600)
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    send_timeout: float = Field(default=60.0, gt=0, le=3600)
    pdp_timeout: float = Field(default=2.0, gt=0, le=60)
    upstream_connect_timeout: float = Field(default=5.0, gt=0, le=300)
    upstream_timeout: float = Field(default=30.0, gt=0, le=3600)
    upstream_read_timeout: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("audit_sync", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as false
        return "off" if value is False else value

    @property
    def indexes_decisions(self) -> bool:
        """Whether this gateway writes its decisions to the store's decision index."""
        if self.decision_index is None:
            return self.device_trust == "store"
        return self.decision_index

    @model_validator(mode="after")
    def _one_trust_source(self) -> IngressConfig:
        if self.device_trust == "store" and self.quarantine_file is not None:
            raise ValueError("device_trust is store: quarantine_file would be ignored; "
                             "remove it (the monitor writes quarantines to the store)")
        return self


_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # contract 5 rule ids (snake_case)
MAX_AUTO_QUARANTINE_SECONDS = 366 * 86400  # as POST /api/devices/{id}/quarantine


class AutoQuarantine(_Strict):
    """`control.auto_quarantine`: an ingested alert that meets this quarantines its device.

    Absent means off. A duration is required: a machine's verdict expires on its own, an
    officer can always extend or lift it (docs/control.md).
    """

    enabled: bool = True
    rules: tuple[str, ...] = ()  # rule ids; empty: every rule
    min_severity: Annotated[int, Field(ge=0, le=100)] = 80  # event.severity, inclusive
    duration_seconds: Annotated[int, Field(ge=60, le=MAX_AUTO_QUARANTINE_SECONDS)] = 3600
    # only alerts posted by a `control.ingesters` certificate (not an admin's token)
    ingesters_only: bool = True
    # never quarantined automatically, as the monitor's `trusted_devices` and `gateway_ips`:
    # device ids or MACs (an alert's device.id or source.mac), and addresses or networks
    # (its source.ip, or the address of an `ip:<address>` device; not an arp_spoof's
    # source.ip, which is the address claimed)
    exempt_devices: tuple[str, ...] = ()
    exempt_networks: Networks = ()

    @field_validator("exempt_devices")
    @classmethod
    def _device_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.strip() or len(item) > 128:
                raise ValueError(f"not a device id or MAC (1-128 characters): {item!r}")
        return value

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _RULE_ID.match(item):
                raise ValueError(f"not a rule id (snake_case, as rule.id): {item!r}")
        if len(set(value)) != len(value):
            raise ValueError("a rule id is listed twice")
        return value


class ControlConfig(_Strict):
    """Control-plane settings (`zonegate serve --role control|all`, docs/control.md)."""

    ca_dir: Path | None = None  # pki/ CA directory: CSR issuance, revocation, /crl.pem
    ca_passphrase_env: str | None = None  # variable holding the CA key passphrase
    # SPIFFE IDs whose client certificate (mTLS, no token) may post alerts: the monitor
    ingesters: tuple[str, ...] = ()
    # the active policy bundle is written here on start and after every activation or
    # rollback (gateways' `policy.bundle` may point at it); GET /bundles/zonegate.tar.gz
    # serves the same bundle either way
    publish_bundle: Path | None = None
    bundle_signing_key: Path | None = None  # PEM private key (EC P-256 or RSA) signing it
    bundle_key_id: str | None = None  # `kid` of the signature (OPA's signing.keyid)
    # severe ingested alerts quarantine their device (gateway/control/auto_quarantine.py)
    auto_quarantine: AutoQuarantine | None = None

    @field_validator("ingesters")
    @classmethod
    def _spiffe_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not re.match(r"^spiffe://[a-z0-9.\-]+/\S+$", item):
                raise ValueError(f"not a SPIFFE ID (spiffe://<trust-domain>/...): {item!r}")
        return value

    @field_validator("bundle_key_id")
    @classmethod
    def _key_id(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$", value):
            raise ValueError(f"must be 1-128 of [A-Za-z0-9._:-], got {value!r}")
        return value

    @field_validator("publish_bundle")
    @classmethod
    def _archive_name(cls, value: Path | None) -> Path | None:
        if value is not None and not value.name.endswith(".tar.gz"):
            raise ValueError(f"must name a .tar.gz file, got {str(value)!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ControlConfig:
        if self.bundle_key_id is not None and self.bundle_signing_key is None:
            raise ValueError("bundle_key_id is set but bundle_signing_key is not: the bundle "
                             "would be published unsigned")
        rule = self.auto_quarantine
        if rule is not None and rule.enabled and rule.ingesters_only and not self.ingesters:
            raise ValueError("auto_quarantine.ingesters_only is true but no ingesters are "
                             "listed: no alert would ever quarantine a device")
        return self


class EgressCA(_Strict):
    """The interception CA (`zonegate egress issue-ca`): root-signed, pathLen 0."""

    cert: Path
    key: Path


class EgressConfig(_Strict):
    """The egress proxy for IoT terminals (`zonegate egress run`; docs/egress.md)."""

    listen: HostPort = "127.0.0.1:8080"
    mode: Literal["regular", "transparent"] = "regular"
    decision: str = "zonegate/egress/decision"
    ca: EgressCA
    root: Path  # the root terminals trust; sent after the CA in the chain
    client_ca_dir: Path | None = None  # pki dir verifying terminals' client certificates
    # how often the running proxy looks for a new crl.pem in client_ca_dir
    crl_refresh_seconds: Annotated[float, Field(ge=0.5, le=3600)] = 5.0
    upstream_ca: Path | None = None  # PEM bundle for upstream TLS; None: the system store
    inventory: Path | None = None  # monitor inventory JSON: source IP -> device
    # where quarantines come from: the monitor's file, or the store (`store:`) that the
    # control plane and the monitor write, polled every trust_refresh_seconds (as ingress)
    device_trust: Literal["file", "store"] = "file"
    trust_refresh_seconds: float = Field(default=2.0, gt=0, le=300)
    quarantine_file: Path | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    dlp: Literal["block", "mask"] = "block"  # outbound bodies above the class ceiling
    alerts_url: HttpURL | None = None  # control plane alert intake (POST, contract 5)
    alerts_spool: Path = Path("egress-alerts.spool")
    alerts_out: Path | None = None  # NDJSON copy of every alert
    # the control plane admits the proxy by a client certificate whose SPIFFE ID is in its
    # control.ingesters, or by a bearer token; alerts_ca verifies the control plane
    alerts_cert: Path | None = None
    alerts_key: Path | None = None
    alerts_ca: Path | None = None
    alerts_token_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EgressConfig:
        if self.device_trust == "store" and self.quarantine_file is not None:
            raise ValueError("device_trust is store: quarantine_file would be ignored; "
                             "remove it (quarantines come from the store)")
        if (self.alerts_cert is None) != (self.alerts_key is None):
            raise ValueError("alerts_cert and alerts_key go together")
        credentials = (self.alerts_cert, self.alerts_ca, self.alerts_token_file)
        if any(c is not None for c in credentials):
            if self.alerts_url is None:
                raise ValueError("alerts_cert, alerts_ca and alerts_token_file need alerts_url")
            if not self.alerts_url.startswith("https://"):
                raise ValueError("alerts_cert, alerts_ca and alerts_token_file need an "
                                 "https:// alerts_url")
        return self


def _check_segments(value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    for name, networks in value.items():
        if not _ZONE_NAME.match(name):
            raise ValueError(f"segment names are lower-case kebab-case, got {name!r}")
        if not networks:
            raise ValueError(f"segment {name!r} lists no network")
        for cidr in networks:
            if not _is_network(cidr):
                raise ValueError(f"segment {name!r}: not an IP network: {cidr!r}")
    return value


Segments = Annotated[dict[str, tuple[str, ...]], AfterValidator(_check_segments)]


class ZoneConfig(_Strict):
    name: str
    prefix: str
    upstream: HttpURL
    level: Level
    dlp: Literal["mask", "block"] = "mask"  # over-ceiling responses: masked or refused
    forward_authorization: bool = False  # the upstream sees the client's Authorization

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ZONE_NAME.match(value):
            raise ValueError(f"zone names are lower-case kebab-case, got {value!r}")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not (value.startswith("/") and value.endswith("/")):
            raise ValueError(f"must start and end with '/', got {value!r}")
        return value


class GatewayConfig(_Strict):
    trust_domain: str
    listen: Listen = Field(default_factory=Listen)
    tls: TLSConfig | None = None
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    zones: tuple[ZoneConfig, ...] = ()
    segments: Segments = Field(default_factory=dict)  # name -> CIDRs (input.source.zone)
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    store: str = "sqlite:///zonegate.db"
    egress: EgressConfig | None = None

    @field_validator("trust_domain")
    @classmethod
    def _trust_domain(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9]([a-z0-9.\-]*[a-z0-9])?$", value):
            raise ValueError(f"a trust domain is a lower-case DNS name, got {value!r}")
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(f"must be sqlite:///PATH or postgresql://…, got {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_zones(self) -> GatewayConfig:
        for attr in ("name", "prefix"):
            seen: set[str] = set()
            for zone in self.zones:
                value = getattr(zone, attr)
                if value in seen:
                    raise ValueError(f"two zones share the {attr} {value!r}")
                seen.add(value)
        return self

    @model_validator(mode="after")
    def _ingesters_in_domain(self) -> GatewayConfig:
        prefix = f"spiffe://{self.trust_domain}/"
        foreign = [i for i in self.control.ingesters if not i.startswith(prefix)]
        if foreign:
            raise ValueError(f"control.ingesters: not in trust domain {self.trust_domain}: "
                             f"{foreign[0]!r}")
        return self


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{_field_path(first['loc'])}: {msg}"


class StrictYAMLLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a second `client_cert:` or
    `zones:` further down a long file would silently replace the first: in a security
    configuration that is an error to show, not a choice to make.
    """

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> object:
    """`yaml.safe_load` with duplicate keys refused (StrictYAMLLoader)."""
    return yaml.load(text, Loader=StrictYAMLLoader)  # noqa: S506 - a SafeLoader subclass


def parse_config(text: str, source: str = "<config>") -> GatewayConfig:
    """Parse YAML text into a validated config; `source` names it in error messages."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_config(path: Path) -> GatewayConfig:
    """Read, validate and resolve a config file; relative paths are taken from its folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return resolve_paths(parse_config(text, str(path)), path.parent)


def resolve_paths(config: GatewayConfig, base: Path) -> GatewayConfig:
    """Return a copy whose relative file paths are taken against `base`."""

    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    policy_files = ("bundle", "verification_key", "decision_log")
    updates: dict[str, object] = {
        "policy": config.policy.model_copy(
            update={name: fix(getattr(config.policy, name)) for name in policy_files}
        )
    }
    ingress_files = ("audit_log", "audit_checkpoints", "quarantine_file", "signing_key")
    updates["ingress"] = config.ingress.model_copy(
        update={name: fix(getattr(config.ingress, name)) for name in ingress_files})
    control_files = ("ca_dir", "publish_bundle", "bundle_signing_key")
    updates["control"] = config.control.model_copy(
        update={name: fix(getattr(config.control, name)) for name in control_files})
    if config.tls is not None:
        files = ("cert", "key", "client_ca", "crl", "crl_url_ca")
        updates["tls"] = config.tls.model_copy(
            update={name: fix(getattr(config.tls, name)) for name in files}
        )
    if config.egress is not None:
        egress_files = ("root", "client_ca_dir", "upstream_ca", "inventory", "quarantine_file",
                        "alerts_spool", "alerts_out", "alerts_cert", "alerts_key",
                        "alerts_ca", "alerts_token_file")
        egress: dict[str, object] = {name: fix(getattr(config.egress, name))
                                     for name in egress_files}
        egress["ca"] = config.egress.ca.model_copy(
            update={"cert": fix(config.egress.ca.cert), "key": fix(config.egress.ca.key)})
        updates["egress"] = config.egress.model_copy(update=egress)
    if config.store.startswith("sqlite:///") and not config.store.startswith("sqlite:////"):
        updates["store"] = "sqlite:///" + str(base / config.store.removeprefix("sqlite:///"))
    return config.model_copy(update=updates)
