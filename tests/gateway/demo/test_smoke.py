"""`zonegate demo --smoke`: the whole tour, as `make test` runs it, in a child process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.demo.credentials import MONITOR_SPIFFE_ID
from gateway.demo.files import MONITOR_CONFIG
from gateway.demo.tour import steps
from gateway.store import Store

ZONEGATE = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(int(entry.name))
    return found


def test_smoke_tour_passes_every_step_and_leaves_nothing_running(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.run([*ZONEGATE, "demo", "--smoke", "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output

    lines = proc.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")], output
    # the control plane runs now: its step is part of the tour
    for name, _check in steps(with_control_plane=True):
        assert any(line.startswith(f"ok {name}") for line in lines), f"{name}\n{output}"
    assert "traceback" not in output.lower()

    # what the tour did is on disk: the camera's quarantine and an intact audit trail
    quarantine = json.loads((state / "quarantine.json").read_text(encoding="utf-8"))
    assert [d["ips"] for d in quarantine["devices"]] == [["127.0.0.13"]]
    audit = (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert any('"device-quarantined"' in line for line in audit)

    # the gateway enforced the store; the monitor's alerts reached it through the control
    # plane, posted with the monitor's own certificate, and the control plane quarantined
    # the camera itself (control.auto_quarantine, at the monitor's severity threshold)
    config = yaml.safe_load((state / "gateway.yaml").read_text(encoding="utf-8"))
    assert config["ingress"]["device_trust"] == "store"
    assert config["control"]["ingesters"] == [MONITOR_SPIFFE_ID]
    assert config["control"]["auto_quarantine"]["min_severity"] == \
        MONITOR_CONFIG["response"]["quarantine"]["min_severity"]  # type: ignore[index]
    with Store.open(config["store"]) as store:
        alerts = store.alerts.list(limit=100).items
        assert "telnet_bruteforce" in {a.rule_id for a in alerts}
        ingested = store.audit.list(actor=MONITOR_SPIFFE_ID, limit=100).items
        assert ingested, "no alert was ingested under the monitor's SPIFFE ID"
        [camera] = store.active_quarantines()
        assert camera.ips == ("127.0.0.13",)
        [record] = store.quarantines.history(camera.device_id)
        assert record.by == f"auto-quarantine:{MONITOR_SPIFFE_ID}"
        assert record.reason.startswith("telnet_bruteforce: ")
    assert not (state / "alerts.spool").exists() or not (state / "alerts.spool").read_text()

    # everything was stopped: no child mentions the state folder, the ports are closed
    assert _processes_mentioning(str(state)) == []
    host, _, port = config["listen"]["ingress"].rpartition(":")
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0
