"""`zonegate pki …`: the certificate authority (docs/pki.md).

Every failure is a `pki.errors.PKIError`; the CLI main prints it on one line and exits 2.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pki.authority import CertificateAuthority
from pki.durable import atomic_write, read_bytes
from pki.errors import InvalidArgument, OutputExists, VerificationError
from pki.issued import IssuedCertificate
from pki.passphrase import resolve_passphrase
from pki.pem import load_certificate, load_certificates, load_csr
from pki.profiles import parse_usages
from pki.spiffe import Kind
from pki.units import format_serial, parse_duration, parse_serial
from pki.verify import CertificateVerifier, VerifiedIdentity

__all__ = ["app"]

app = typer.Typer(help="Certificate authority: init, issue, revoke, crl, verify, list.",
                  no_args_is_help=True)

DirOption = Annotated[Path, typer.Option(
    "--dir", envvar="ZONEGATE_PKI_DIR", help="CA directory (or $ZONEGATE_PKI_DIR).")]
PassEnvOption = Annotated[str | None, typer.Option(
    "--passphrase-env", metavar="VAR", help="Environment variable holding the key passphrase.")]
PassFileOption = Annotated[Path | None, typer.Option(
    "--passphrase-file", metavar="FILE", help="File whose first line is the key passphrase.")]


class Reason(StrEnum):
    """RFC 5280 revocation reasons an operator may give."""

    unspecified = "unspecified"
    key_compromise = "keyCompromise"
    ca_compromise = "cACompromise"
    affiliation_changed = "affiliationChanged"
    superseded = "superseded"
    cessation_of_operation = "cessationOfOperation"
    certificate_hold = "certificateHold"
    privilege_withdrawn = "privilegeWithdrawn"


class Format(StrEnum):
    """Output formats."""

    table = "table"
    json = "json"


class Usage(StrEnum):
    """What a certificate is checked for."""

    client = "client"
    server = "server"


def _console() -> Console:
    # no hard wrapping: paths and serials stay on one line when piped
    return Console(soft_wrap=True)


def _open(directory: Path, env: str | None, file: Path | None) -> CertificateAuthority:
    return CertificateAuthority.open(directory, resolve_passphrase(env=env, file=file))


@app.command("init")
def init(
    directory: DirOption,
    trust_domain: Annotated[str, typer.Option("--trust-domain", help="SPIFFE trust domain.")],
    passphrase_env: PassEnvOption = None,
    passphrase_file: PassFileOption = None,
    default_lifetime: Annotated[str, typer.Option(help="Leaf lifetime when not asked.")] = "24h",
    max_lifetime: Annotated[str, typer.Option(help="Longest leaf lifetime granted.")] = "24h",
    renew_grace: Annotated[str, typer.Option(
        help="How long after expiry a certificate may still be renewed.")] = "72h",
    crl_lifetime: Annotated[str, typer.Option(help="CRL nextUpdate distance.")] = "48h",
) -> None:
    """Create a root (10 y) and an intermediate (1 y) CA, ECDSA P-256; never overwrites."""
    ca = CertificateAuthority.init(
        directory, trust_domain,
        passphrase=resolve_passphrase(env=passphrase_env, file=passphrase_file),
        default_lifetime=parse_duration(default_lifetime, "--default-lifetime"),
        max_lifetime=parse_duration(max_lifetime, "--max-lifetime"),
        renew_grace=parse_duration(renew_grace, "--renew-grace"),
        crl_lifetime=parse_duration(crl_lifetime, "--crl-lifetime"),
    )
    console = _console()
    console.print(f"[green]created[/green] CA for spiffe://{ca.trust_domain} in {directory}"
                  f"{' (keys encrypted)' if ca.settings.encrypted else ''}")
    console.print(f"  root          {ca.root.not_valid_after_utc:%Y-%m-%d}  "
                  f"{directory / 'root.crt'}")
    console.print(f"  intermediate  {ca.intermediate.not_valid_after_utc:%Y-%m-%d}  "
                  f"{directory / 'intermediate.crt'}")
    console.print(f"  client CA bundle {directory / 'ca.pem'}, CRL {ca.crl_path}")


@app.command("issue")
def issue(
    directory: DirOption,
    cert_out: Annotated[Path, typer.Option("--cert-out", help="Where to write the certificate.")],
    key_out: Annotated[Path | None, typer.Option(
        "--key-out", help="Where to write the new private key (0600); not with --csr.")] = None,
    chain_out: Annotated[Path | None, typer.Option(
        "--chain-out", help="Where to write leaf + intermediate (full chain).")] = None,
    zone: Annotated[str | None, typer.Option(help="Data zone of the identity.")] = None,
    device: Annotated[str | None, typer.Option(help="Device id (…/device/<id>).")] = None,
    service: Annotated[str | None, typer.Option(help="Service name (…/svc/<name>).")] = None,
    usage: Annotated[list[Usage] | None, typer.Option(
        help="client and/or server (repeat); default client.")] = None,
    dns: Annotated[list[str] | None, typer.Option(help="DNS SAN for a server (repeat).")] = None,
    ip: Annotated[list[str] | None, typer.Option(help="IP SAN for a server (repeat).")] = None,
    lifetime: Annotated[str | None, typer.Option(help="e.g. 24h; default from ca.json.")] = None,
    csr: Annotated[Path | None, typer.Option(help="Certify this CSR's key instead.")] = None,
    renew: Annotated[Path | None, typer.Option(
        help="Renew this certificate: same identity, usages and names.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    passphrase_env: PassEnvOption = None,
    passphrase_file: PassFileOption = None,
) -> None:
    """Issue (or renew) a leaf certificate with one SPIFFE ID."""
    if csr is not None and key_out is not None:
        raise InvalidArgument("--key-out makes no sense with --csr: the key stays with the "
                              "requester")
    if csr is None and key_out is None:
        raise InvalidArgument("--key-out is required (where to write the new private key)")
    if not force:
        for path in (cert_out, key_out, chain_out):
            if path is not None and path.exists():
                raise OutputExists(f"{path} exists; refusing to overwrite it (use --force)")
    ca = _open(directory, passphrase_env, passphrase_file)
    request = None
    if csr is not None:
        request = load_csr(read_bytes(csr, "CSR"), str(csr))
    if renew is not None:
        if any(v for v in (zone, device, service, usage, dns, ip, lifetime)):
            raise InvalidArgument("--renew keeps the identity, usages, names and lifetime; "
                                  "do not combine it with --zone/--device/--service/--usage/"
                                  "--dns/--ip/--lifetime")
        old = load_certificate(read_bytes(renew, "certificate"), str(renew))
        issued = ca.renew(old, csr=request, csr_source=str(csr))
    else:
        if device is not None and service is not None:
            raise InvalidArgument("give --device or --service, not both")
        name = device if device is not None else service
        kind: Kind | None = None
        if name is not None:
            kind = "device" if device is not None else "svc"
        if name is not None and zone is None:
            raise InvalidArgument("--zone is required with --device/--service")
        issued = ca.issue(
            zone=zone, kind=kind, name=name,
            usages=parse_usages([u.value for u in usage or [Usage.client]]),
            dns_names=dns or (), ip_addresses=ip or (),
            lifetime=None if lifetime is None else parse_duration(lifetime, "--lifetime"),
            csr=request, csr_source=str(csr),
        )
    issued.write(cert_out, key_out=key_out, chain_out=chain_out, overwrite=force)
    _print_issued(issued, cert_out, key_out, chain_out)


def _print_issued(issued: IssuedCertificate, cert_out: Path, key_out: Path | None,
                  chain_out: Path | None) -> None:
    entry = issued.entry
    console = _console()
    verb = "renewed" if entry.renewed_from else "issued"
    console.print(f"[green]{verb}[/green] {entry.spiffe_id}")
    console.print(f"  serial {entry.serial}  usages {','.join(entry.usages)}  "
                  f"valid until {entry.not_after}")
    if entry.renewed_from:
        console.print(f"  renews {entry.renewed_from}")
    console.print(f"  certificate {cert_out}")
    if key_out is not None:
        console.print(f"  key         {key_out} (0600)")
    if chain_out is not None:
        console.print(f"  full chain  {chain_out}")


@app.command("revoke")
def revoke(
    directory: DirOption,
    serial: Annotated[str, typer.Option(help="Serial in hex, as `list` prints it.")],
    reason: Annotated[Reason, typer.Option(help="RFC 5280 reason.")] = Reason.unspecified,
    passphrase_env: PassEnvOption = None,
    passphrase_file: PassFileOption = None,
) -> None:
    """Revoke a certificate and publish a new CRL at once."""
    number = parse_serial(serial)
    ca = _open(directory, passphrase_env, passphrase_file)
    entry = ca.revoke(number, reason.value)
    _console().print(f"[yellow]revoked[/yellow] {entry.serial} {entry.spiffe_id} "
                    f"({entry.revocation_reason}); CRL updated: {ca.crl_path}")


@app.command("crl")
def crl(
    directory: DirOption,
    out: Annotated[Path | None, typer.Option(help="Also copy the CRL here.")] = None,
    lifetime: Annotated[str | None, typer.Option(
        help="nextUpdate distance; default crl_lifetime from ca.json.")] = None,
    passphrase_env: PassEnvOption = None,
    passphrase_file: PassFileOption = None,
) -> None:
    """Sign a fresh CRL of every revoked certificate into <dir>/crl.pem."""
    span = None if lifetime is None else parse_duration(lifetime, "--lifetime")
    ca = _open(directory, passphrase_env, passphrase_file)
    path = ca.write_crl(lifetime=span)
    data = path.read_bytes()
    if out is not None:
        atomic_write(out, data)
    revoked = sum(1 for e in ca.entries() if e.revoked_at is not None)
    _console().print(f"[green]wrote[/green] {path} ({revoked} revoked)"
                    f"{f' and {out}' if out else ''}")


@app.command("verify")
def verify(
    cert: Annotated[Path, typer.Argument(help="Certificate (PEM or DER; a PEM chain file's "
                                              "first certificate is the leaf).")],
    directory: DirOption,
    chain: Annotated[Path | None, typer.Option(help="Extra intermediates (PEM).")] = None,
    usage: Annotated[Usage, typer.Option(help="Check for client or server use.")] =
        Usage.client,
    server_name: Annotated[str | None, typer.Option(help="DNS name/IP to check (server).")] =
        None,
    trust_domain: Annotated[str | None, typer.Option(help="Default: from ca.json.")] = None,
    at: Annotated[str | None, typer.Option(help="Verify at this ISO 8601 time.")] = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Verify a certificate against the CA: chain, validity, CRL and SPIFFE rules."""
    now = None
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError as exc:
            raise InvalidArgument(f"--at {at!r} is not an ISO 8601 time") from exc
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    certs = load_certificates(read_bytes(cert, "certificate"), str(cert))
    extra = certs[1:]
    if chain is not None:
        extra += load_certificates(read_bytes(chain, "chain"), str(chain))
    verifier = CertificateVerifier.from_ca_dir(directory, trust_domain)
    try:
        identity = verifier.verify(certs[0], extra, usage=usage.value, now=now,
                                   server_name=server_name)
    except VerificationError as exc:
        raise type(exc)(f"{cert}: {exc.detail}") from None
    _print_identity(identity, output)


def _print_identity(identity: VerifiedIdentity, output: Format) -> None:
    data = {
        "spiffe_id": identity.spiffe_id, "trust_domain": identity.trust_domain,
        "zone": identity.zone, "kind": identity.kind, "name": identity.name,
        "fingerprint": identity.fingerprint, "serial": format_serial(identity.serial),
        "not_after": identity.not_after.isoformat(),
    }
    if output is Format.json:
        typer.echo(json.dumps({"valid": True, **data}))
        return
    console = _console()
    console.print(f"[green]valid[/green] {identity.spiffe_id}")
    for key, value in data.items():
        if key != "spiffe_id":
            console.print(f"  {key:<12} {value}")


@app.command("list")
def list_(
    directory: DirOption,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    status: Annotated[str, typer.Option(help="all | valid | expired | revoked")] = "all",
    archived: Annotated[bool, typer.Option(
        help="Include entries moved to inventory-archive.jsonl.")] = False,
) -> None:
    """List issued certificates from the inventory (no passphrase needed)."""
    if status not in ("all", "valid", "expired", "revoked"):
        raise InvalidArgument(f"--status {status!r} is not all, valid, expired or revoked")
    ca = CertificateAuthority.open(directory)
    now = datetime.now(UTC)
    entries = [e for e in ca.entries(archived=archived) if status in ("all", e.status(now))]
    if output is Format.json:
        typer.echo(json.dumps([{**e.to_dict(), "status": e.status(now)} for e in entries],
                              indent=2))
        return
    table = Table(title=f"certificates of spiffe://{ca.trust_domain} ({len(entries)})")
    for column in ("serial", "spiffe id", "usages", "not after", "status"):
        table.add_column(column, overflow="fold")
    for e in entries:
        state = e.status(now)
        colour = {"valid": "green", "expired": "dim", "revoked": "red"}[state]
        table.add_row(e.serial, e.spiffe_id, ",".join(e.usages), e.not_after,
                      f"[{colour}]{state}[/{colour}]")
    _console().print(table)


