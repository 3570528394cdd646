"""`zonegate egress …`: the egress proxy for IoT terminals (docs/egress.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from gateway.config import load_config
from gateway.egress.errors import EgressError
from pki.authority import CertificateAuthority
from pki.passphrase import resolve_passphrase
from pki.subordinate import issue_subordinate_ca

app = typer.Typer(help="The egress proxy for IoT terminals.", no_args_is_help=True)


@app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Option("--config", help="Gateway YAML with an egress: section.")],
    mode: Annotated[str | None, typer.Option(
        "--mode", help="regular (terminals name the proxy) or transparent (iptables redirect).",
    )] = None,
    listen: Annotated[str | None, typer.Option(
        "--listen", help="HOST:PORT to listen on (port 0: any free port).")] = None,
) -> None:
    """Run the egress proxy until interrupted."""
    if mode is not None and mode not in ("regular", "transparent"):
        raise EgressError(f"--mode must be regular or transparent, got {mode!r}")
    # mitmproxy is imported only by the verb that runs it: every other command starts faster
    from gateway.egress.runner import RunOptions, run

    cfg = load_config(config)
    counts = run(cfg, RunOptions(mode=mode, listen=listen),  # type: ignore[arg-type]
                 announce=lambda text: print(text, flush=True))
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no requests"
    print(f"zonegate egress: stopped ({summary})", flush=True)


@app.command("issue-ca")
def issue_ca_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="The CA directory (zonegate pki).")],
    cert_out: Annotated[Path, typer.Option("--cert-out", help="Where to write the CA cert.")],
    key_out: Annotated[Path, typer.Option("--key-out", help="Where to write its key (0600).")],
    days: Annotated[int, typer.Option("--days", help="Lifetime in days (1-365).")] = 90,
    passphrase_env: Annotated[str | None, typer.Option(
        "--passphrase-env", metavar="VAR", help="Variable holding the CA key passphrase.")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", metavar="FILE", help="File whose first line is the passphrase.",
    )] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Issue the interception CA (root-signed, pathLen 0) the egress proxy signs with."""
    if not 1 <= days <= 365:
        raise EgressError(f"--days must be between 1 and 365, got {days}")
    passphrase = resolve_passphrase(env=passphrase_env, file=passphrase_file)
    ca = CertificateAuthority.open(directory, passphrase)
    sub = issue_subordinate_ca(ca, lifetime=timedelta(days=days), passphrase=passphrase)
    sub.write(cert_out, key_out, overwrite=force)
    print(f"interception CA {sub.certificate.subject.rfc4514_string()} valid until "
          f"{sub.certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}: {cert_out}, {key_out}")
