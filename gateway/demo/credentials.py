"""The demo's PKI: a CA in the state folder, the gateway's server certificate, the
monitor's client certificate (it posts alerts to the control plane over mTLS) and the
device certificates of the tour (two workstations, a traffic sensor and a camera).

Every certificate is issued by `pki.CertificateAuthority`, exactly as `zonegate pki issue`
would, and written as chain + key files that curl and aiohttp can use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.demo.errors import DemoError
from pki import CertificateAuthority
from pki.errors import PKIError

TRUST_DOMAIN = "city.example"
# the monitor's identity; the control plane lists it in control.ingesters
MONITOR_SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/zone/edge/svc/monitor"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """A device certificate of the tour and where its files are."""

    name: str
    zone: str
    role: str
    source_ip: str  # the loopback address the device connects from
    cert: Path  # leaf + intermediate, PEM
    key: Path

    @property
    def spiffe_id(self) -> str:
        """The SPIFFE ID in the certificate."""
        return f"spiffe://{TRUST_DOMAIN}/zone/{self.zone}/device/{self.name}"


# name, zone, what it is, source address. The sensor and the camera use the addresses
# they have in the shipped capture (gateway/demo/make_capture.py).
DEVICES: tuple[tuple[str, str, str, str], ...] = (
    ("ward-3-tablet", "health", "the doctor's ward tablet", "127.0.0.1"),
    ("eng-laptop-2", "transport", "the traffic engineer's laptop", "127.0.0.1"),
    ("sensor-12", "transport", "a traffic sensor", "127.0.0.12"),
    ("cam-13", "transport", "a roadside camera", "127.0.0.13"),
)


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """The CA folder, the gateway's server certificate and the devices."""

    ca_dir: Path
    ca_bundle: Path  # intermediate + root: what clients trust and the gateway checks
    crl: Path
    server_cert: Path
    server_key: Path
    monitor_cert: Path  # leaf + intermediate; SPIFFE ID MONITOR_SPIFFE_ID
    monitor_key: Path
    devices: dict[str, DeviceIdentity]


def issue_credentials(pki_dir: Path) -> DemoCredentials:
    """Create the CA under `pki_dir/ca` and issue every certificate of the tour."""
    try:
        ca = CertificateAuthority.init(pki_dir / "ca", TRUST_DOMAIN)
        server = ca.issue(zone="core", kind="svc", name="gateway",
                          usages=("server", "client"), ip_addresses=("127.0.0.1",),
                          dns_names=("localhost",))
        server.write(pki_dir / "gateway.crt", key_out=pki_dir / "gateway.key",
                     chain_out=pki_dir / "gateway-chain.crt")
        monitor = ca.issue(zone="edge", kind="svc", name="monitor", usages=("client",))
        monitor.write(pki_dir / "monitor-leaf.crt", key_out=pki_dir / "monitor.key",
                      chain_out=pki_dir / "monitor.crt")
        devices: dict[str, DeviceIdentity] = {}
        for name, zone, role, source_ip in DEVICES:
            issued = ca.issue(zone=zone, kind="device", name=name)
            cert, key = pki_dir / f"{name}.crt", pki_dir / f"{name}.key"
            # the chain goes in the .crt: a TLS client must present the intermediate
            issued.write(pki_dir / f"{name}-leaf.crt", key_out=key, chain_out=cert)
            devices[name] = DeviceIdentity(name, zone, role, source_ip, cert, key)
    except PKIError as exc:
        raise DemoError(f"pki: {exc}") from None
    return DemoCredentials(
        ca_dir=pki_dir / "ca", ca_bundle=pki_dir / "ca" / "ca.pem", crl=ca.crl_path,
        server_cert=pki_dir / "gateway-chain.crt", server_key=pki_dir / "gateway.key",
        monitor_cert=pki_dir / "monitor.crt", monitor_key=pki_dir / "monitor.key",
        devices=devices,
    )
