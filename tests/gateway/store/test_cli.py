"""`zonegate store …` commands on a real SQLite file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.store import InvalidRecord, Store, StoreConfigError, StoreError
from gateway.store.cli import app
from tests.gateway.store.conftest import VECTORS

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(*args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, list(args))
    # rich wraps at the terminal width: compare on single-spaced text
    return result.exit_code, " ".join(result.output.split()), result.exception


def test_migrate_then_status(url: str) -> None:
    code, out, _ = run("migrate", "--store", url)
    assert code == 0 and "schema empty -> 0002" in out
    code, out, _ = run("migrate", "--store", url)
    assert code == 0 and "schema 0002 -> 0002" in out
    code, out, _ = run("status", "--store", url)
    assert code == 0 and "alerts" in out and "head 0002" in out


def test_store_from_the_gateway_config(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("trust_domain: city.example\nstore: sqlite:///from-config.db\n")
    code, _, exc = run("migrate", "--config", str(config))
    assert code == 0, exc
    assert (tmp_path / "from-config.db").exists()  # relative to the config file


def test_ingest_alerts_twice(url: str, tmp_path: Path) -> None:
    run("migrate", "--store", url)
    alerts = tmp_path / "alerts.ndjson"
    shutil.copy(VECTORS / "alerts_valid.ndjson", alerts)
    code, out, _ = run("ingest-alerts", str(alerts), "--store", url)
    assert code == 0 and "4 new, 0 already stored" in out
    code, out, _ = run("ingest-alerts", str(alerts), "--store", url)
    assert code == 0 and "0 new, 4 already stored" in out


def test_ingest_rejects_the_file_at_the_first_bad_line(url: str, tmp_path: Path) -> None:
    run("migrate", "--store", url)
    good = (VECTORS / "alerts_valid.ndjson").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.ndjson"
    bad.write_text("\n".join([good[0], good[1], '{"event": {"kind": "alert"}}', good[2]]))
    code, _, exc = run("ingest-alerts", str(bad), "--store", url)
    assert code != 0
    assert isinstance(exc, InvalidRecord)
    assert f"{bad}:3: alert: event.severity" in str(exc)
    with Store.open(url) as store:
        assert store.alerts.count() == 0  # nothing half-written


def test_quarantine_and_release(url: str) -> None:
    from datetime import UTC, datetime

    from gateway.store import DeviceObservation

    run("migrate", "--store", url)
    with Store.open(url) as store:
        store.devices.upsert(DeviceObservation(id="cam-7", seen_at=datetime.now(UTC),
                                               ips=("10.0.0.7",)))
    code, out, exc = run("quarantine", "cam-7", "--reason", "port scan", "--by", "olga",
                         "--for", "2h", "--store", url)
    assert code == 0, exc
    assert "quarantined until" in out
    code, out, _ = run("quarantines", "--store", url)
    assert "cam-7" in out and "10.0.0.7" in out and "port scan" in out
    code, out, _ = run("release", "cam-7", "--by", "olga", "--store", url)
    assert code == 0 and "1 quarantine(s) ended" in out
    code, out, _ = run("quarantines", "--store", url)
    assert "0 active quarantine(s)" in out


@pytest.mark.parametrize(("args", "error", "kind"), [
    (("migrate",), "no store", StoreConfigError),
    (("migrate", "--store", "mysql://x/y"), "unsupported scheme", StoreConfigError),
    (("quarantine", "cam-7", "--reason", "x", "--by", "o", "--for", "2 weeks"),
     "not a duration", InvalidRecord),
    (("quarantine", "cam-7", "--reason", "x", "--by", "o", "--until", "2027-01-01T00:00"),
     "no time zone", InvalidRecord),
    (("quarantine", "ghost", "--reason", "x", "--by", "o"), "not in the inventory", StoreError),
    (("ingest-alerts", "/nonexistent/alerts.ndjson"), "cannot read", InvalidRecord),
])
def test_cli_errors_are_store_errors(url: str, args: tuple[str, ...], error: str,
                                     kind: type[Exception]) -> None:
    run("migrate", "--store", url)
    full = list(args) if args[0] == "migrate" else [*args, "--store", url]
    code, _, exc = run(*full)
    assert code != 0
    assert isinstance(exc, kind) and error in str(exc)
