"""Monitor configuration (YAML, validated; unknown keys are errors).

Every detector's thresholds live here. `load_monitor_config(path)` returns an immutable
`MonitorConfig` or raises MonitorConfigError naming the file and the dotted field, e.g.
``monitor.yaml: detectors.port_scan_vertical.ports: Input should be greater than 1``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

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

from monitor.errors import MonitorConfigError


def _check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"not an IP address: {value!r}") from None


def _check_net(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"not an IP network: {value!r}") from None


def _check_mac(value: str) -> str:
    parts = value.lower().replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                                  for p in parts):
        raise ValueError(f"not a MAC address: {value!r}")
    return ":".join(parts)


IP = Annotated[str, AfterValidator(_check_ip)]
Network = Annotated[str, AfterValidator(_check_net)]
MAC = Annotated[str, AfterValidator(_check_mac)]
Severity = Annotated[int, Field(ge=0, le=100)]
Seconds = Annotated[float, Field(gt=0, le=86400 * 7)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Detector(_Strict):
    enabled: bool = True


class PortScanHorizontal(_Detector):
    severity: Severity = 60
    hosts: Annotated[int, Field(ge=2)] = 25
    window_seconds: Seconds = 300
    answer_timeout_seconds: Seconds = 3


class PortScanVertical(_Detector):
    severity: Severity = 55
    ports: Annotated[int, Field(ge=2)] = 15
    window_seconds: Seconds = 300
    answer_timeout_seconds: Seconds = 3


class TelnetBruteforce(_Detector):
    severity: Severity = 80
    mirai_severity: Severity = 90
    attempts: Annotated[int, Field(ge=2)] = 10
    window_seconds: Seconds = 60
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = (23, 2323)


class SshBruteforce(_Detector):
    severity: Severity = 70
    attempts: Annotated[int, Field(ge=2)] = 10
    window_seconds: Seconds = 60
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = (22,)


class NewDestination(_Detector):
    severity: Severity = 35


class DnsDga(_Detector):
    severity: Severity = 60
    min_entropy: Annotated[float, Field(gt=0, le=8)] = 3.3
    min_length: Annotated[int, Field(ge=4)] = 12
    suspicious_names: Annotated[int, Field(ge=1)] = 5
    nxdomain_burst: Annotated[int, Field(ge=2)] = 10
    window_seconds: Seconds = 60


class DnsTunnel(_Detector):
    severity: Severity = 70
    max_label_length: Annotated[int, Field(ge=8, le=63)] = 40
    unique_subdomains: Annotated[int, Field(ge=2)] = 50
    txt_queries: Annotated[int, Field(ge=2)] = 30
    window_seconds: Seconds = 300


class VolumeSpike(_Detector):
    severity: Severity = 50
    bucket_seconds: Seconds = 60
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.1
    z_threshold: Annotated[float, Field(gt=0)] = 6.0
    floor_bytes: Annotated[int, Field(ge=0)] = 1_000_000
    min_buckets: Annotated[int, Field(ge=2)] = 5


class Beaconing(_Detector):
    severity: Severity = 60
    min_connections: Annotated[int, Field(ge=4)] = 8
    max_jitter: Annotated[float, Field(gt=0, le=1)] = 0.1
    min_interval_seconds: Seconds = 5
    udp_idle_seconds: Seconds = 30


class ArpSpoof(_Detector):
    severity: Severity = 80
    gateway_severity: Severity = 90
    rebind_seconds: Seconds = 3600
    known_bindings: dict[IP, MAC] = Field(default_factory=dict)  # IP -> its only owner


class RogueDhcp(_Detector):
    severity: Severity = 75
    allowed_servers: tuple[IP, ...] = ()


class MqttAnonymous(_Detector):
    severity: Severity = 45
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = (1883, 8883)


class MqttWildcardSubscribe(_Detector):
    severity: Severity = 55
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = (1883, 8883)


class CoapAmplification(_Detector):
    severity: Severity = 65
    ratio: Annotated[float, Field(gt=1)] = 10.0
    min_response_bytes: Annotated[int, Field(ge=1)] = 10_000
    window_seconds: Seconds = 60


class ModbusWrite(_Detector):
    severity: Severity = 80  # a writer not in the configured `masters`
    severity_without_masters: Severity = 60  # no `masters` configured: below quarantine
    masters: tuple[IP, ...] = ()


class CleartextCredentials(_Detector):
    severity: Severity = 50
    http_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = (80, 8080, 8000, 8888)


class Detectors(_Strict):
    port_scan_horizontal: PortScanHorizontal = PortScanHorizontal()
    port_scan_vertical: PortScanVertical = PortScanVertical()
    telnet_bruteforce: TelnetBruteforce = TelnetBruteforce()
    ssh_bruteforce: SshBruteforce = SshBruteforce()
    new_destination: NewDestination = NewDestination()
    dns_dga: DnsDga = DnsDga()
    dns_tunnel: DnsTunnel = DnsTunnel()
    volume_spike: VolumeSpike = VolumeSpike()
    beaconing: Beaconing = Beaconing()
    arp_spoof: ArpSpoof = ArpSpoof()
    rogue_dhcp: RogueDhcp = RogueDhcp()
    mqtt_anonymous: MqttAnonymous = MqttAnonymous()
    mqtt_wildcard_subscribe: MqttWildcardSubscribe = MqttWildcardSubscribe()
    coap_amplification: CoapAmplification = CoapAmplification()
    modbus_write: ModbusWrite = ModbusWrite()
    cleartext_credentials: CleartextCredentials = CleartextCredentials()


class Quarantine(_Strict):
    enabled: bool = True
    min_severity: Severity = 80
    rules: tuple[str, ...] = ()  # empty: every rule at or above min_severity
    duration_seconds: Annotated[float, Field(ge=0)] = 3600  # 0: until lifted


class Routers(_Strict):
    """When a MAC is taken for a router: its frames carry other hosts' source addresses."""

    macs: tuple[MAC, ...] = ()  # known routers, from the first frame
    min_source_ips: Annotated[int, Field(ge=2, le=16)] = 3  # IPv4 addresses or IPv6 /64s
    window_seconds: Seconds = 3600


class Response(_Strict):
    quarantine: Quarantine = Quarantine()


class AlertsHttp(_Strict):
    """The control plane's alert intake (`--alerts-url` and friends override each key).

    The control plane admits the monitor by its client certificate (a pki/ certificate
    whose SPIFFE ID is in its `control.ingesters`) or by a bearer token; `ca` verifies the
    control plane's own certificate. Credentials need an https:// URL.
    """

    url: str | None = None
    spool: Path = Path("zonegate-alerts.spool")
    cert: Path | None = None  # client certificate chain (PEM)
    key: Path | None = None  # its private key
    ca: Path | None = None  # CA bundle verifying the control plane; None: system store
    token_file: Path | None = None  # bearer token, re-read before each POST

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertsHttp:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        credentials = (self.cert, self.ca, self.token_file)
        if any(v is not None for v in credentials) and self.url is not None \
                and not self.url.startswith("https://"):
            raise ValueError("cert, ca and token_file need an https:// url")
        return self


class MonitorConfig(_Strict):
    """The whole monitor configuration."""

    learn_seconds: Annotated[float, Field(ge=0)] = 0
    local_networks: tuple[Network, ...] = (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
        "fc00::/7", "fe80::/10",
    )
    gateway_ips: tuple[IP, ...] = ()
    trusted_devices: tuple[MAC, ...] = ()
    routers: Routers = Routers()
    incident_idle_seconds: Seconds = 300
    max_devices: Annotated[int, Field(ge=1)] = 100_000
    max_peers: Annotated[int, Field(ge=1, le=4096)] = 64
    detectors: Detectors = Detectors()
    response: Response = Response()
    alerts_http: AlertsHttp = AlertsHttp()


def load_monitor_config(path: Path | None) -> MonitorConfig:
    """Read and validate a YAML configuration; None gives the defaults."""
    if path is None:
        return MonitorConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MonitorConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MonitorConfigError(f"{path}: not valid YAML: {_one_line(str(exc))}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MonitorConfigError(f"{path}: top level must be a mapping")
    try:
        config = MonitorConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise MonitorConfigError(f"{path}: {where}: {message}") from None
    return config.model_copy(update={"alerts_http": _beside(config.alerts_http, path.parent)})


def _beside(section: AlertsHttp, base: Path) -> AlertsHttp:
    """Relative file names written in `alerts_http` are relative to the configuration file."""
    update: dict[str, Path] = {}
    for name in ("spool", "cert", "key", "ca", "token_file"):
        value = getattr(section, name)
        if name in section.model_fields_set and value is not None and not value.is_absolute():
            update[name] = base / value
    return section.model_copy(update=update)


def _one_line(text: str) -> str:
    return " ".join(text.split())
