"""What the interactive demo prints: where things are, who can log in, what to paste."""

from __future__ import annotations

import shlex

from rich.console import Console
from rich.table import Table

from gateway.demo.deployment import Deployment
from gateway.demo.files import monitor_args, serve_args, shipped_capture
from gateway.demo.tour import CAMERA, CLI_CLIENT, demo_password
from gateway.idp.config import demo_config


def _q(value: object) -> str:
    return shlex.quote(str(value))


def token_command(deployment: Deployment, user: str, variable: str = "TOKEN") -> str:
    """A shell line that puts a demo user's access token into $variable."""
    client, secret = CLI_CLIENT
    return (f"{variable}=$(curl -s {deployment.idp.token_endpoint} -u {client}:{secret} "
            f"-d grant_type=password -d username={user} -d password={demo_password(user)} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')")


def curl(deployment: Deployment, path: str, *, device: str | None = None,
         bearer_from: str | None = None, raw_path: bool = False) -> str:
    """A curl command against the gateway, with the demo CA and a device's certificate."""
    parts = ["curl", "-s"]
    if raw_path:
        parts.append("--path-as-is")
    parts += ["--cacert", _q(deployment.credentials.ca_bundle)]
    if device is not None:
        identity = deployment.credentials.devices[device]
        parts += ["--cert", _q(identity.cert), "--key", _q(identity.key)]
        if identity.source_ip != "127.0.0.1":
            parts += ["--interface", identity.source_ip]
    if bearer_from is not None:
        parts += ["-H", f"\"Authorization: Bearer ${bearer_from}\""]
    parts.append(_q(deployment.gateway_url + path))
    return " ".join(parts)


def commands(deployment: Deployment) -> list[tuple[str, list[str]]]:
    """(what it shows, shell lines) for the user to paste."""
    files = deployment.files
    zonegate = "zonegate"
    out: list[tuple[str, list[str]]] = [
        ("a token from the dev IdP (password grant), then the doctor reads a patient record "
         "from the ward tablet", [
             token_command(deployment, "doctor", "DOCTOR"),
             curl(deployment, "/zones/health/records/1", device="ward-3-tablet",
                  bearer_from="DOCTOR")]),
        ("the traffic engineer reads transport (the L3 plate is masked for clearance L2) "
         "and is refused health", [
             token_command(deployment, "engineer", "ENGINEER"),
             curl(deployment, "/zones/transport/records", device="eng-laptop-2",
                  bearer_from="ENGINEER"),
             curl(deployment, "/zones/health/records/1", device="eng-laptop-2",
                  bearer_from="ENGINEER")]),
        ("no token: 401; an encoded '../' out of the open zone: 400", [
            curl(deployment, "/zones/open/records"),
            curl(deployment, "/zones/open/%2e%2e%2fhealth/records/1", device="eng-laptop-2",
                 bearer_from="ENGINEER", raw_path=True)]),
        (f"the camera ({CAMERA}, from "
         f"{deployment.credentials.devices[CAMERA].source_ip}) is quarantined: 403", [
            curl(deployment, "/zones/open/records", device=CAMERA)]),
        ("replay the capture again (alerts go to the control plane with the monitor's "
         "certificate), then see the store's view", [
            " ".join([zonegate, *map(_q, monitor_args(
                files, shipped_capture(), control_url=deployment.control_url,
                credentials=deployment.credentials))]),
            f"{zonegate} store quarantines --store {_q(files.store_url)}"]),
        ("lift the camera's quarantine (the gateway refreshes the store's quarantines; "
         "the device id is the MAC in the list above)", [
            f"{zonegate} store release DEVICE-ID --by officer --store {_q(files.store_url)}"]),
        ("verify the audit chain", [f"{zonegate} audit verify {_q(files.audit_log)}"]),
        ("the gateway, as the demo runs it", [
            " ".join([zonegate, *map(_q, serve_args(files, "ingress"))])]),
    ]
    return out


def print_guide(console: Console, deployment: Deployment) -> None:
    """Print URLs, demo users and the commands to try."""
    files = deployment.files
    urls = Table(title="running on loopback", show_edge=False, title_justify="left")
    urls.add_column("component")
    urls.add_column("where")
    urls.add_row("gateway (ingress)", f"{deployment.gateway_url}  (readyz, metrics, "
                 "/zones/{health,transport,citizen,open}/records)")
    if deployment.control_url is not None:
        control = (f"{deployment.control_url}  (API /api, docs /docs, console /console/: "
                   "sign in as a demo user, or paste a token)")
    elif deployment.control_error is not None:
        control = f"did not start: {deployment.control_error}"
    else:
        control = f"not part of this build: {deployment.control_note}"
    urls.add_row("control plane and console", control)
    urls.add_row("dev IdP", f"{deployment.idp.issuer}  (token {deployment.idp.token_endpoint})")
    for zone, upstream in deployment.upstreams.items():
        urls.add_row(f"{zone} upstream", upstream.url)
    urls.add_row("state", str(files.root))
    urls.add_row("logs", str(files.logs))
    console.print(urls)

    users = Table(title="demo users (dev IdP; public passwords)", show_edge=False,
                  title_justify="left")
    for column in ("user", "password", "roles", "clearance", "device certificate"):
        users.add_column(column)
    devices = {"doctor": "ward-3-tablet", "engineer": "eng-laptop-2"}
    for name, user in demo_config().users.items():
        users.add_row(name, demo_password(name), ", ".join(user.roles), user.clearance,
                      devices.get(name, "-"))
    console.print(users)

    console.print("[bold]try[/bold]")
    for title, lines in commands(deployment):
        console.print(f"# {title}", style="dim", highlight=False)
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
