"""`dlp: mask`: an outbound JSON body above the class level leaves with the values masked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.egress.harness import (
    SENSOR_IP,
    Deployment,
    deployment,
    start_proxy,
    stop_proxy,
    write_config,
)


@pytest.fixture(scope="module")
def masking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root: Path = tmp_path_factory.mktemp("egress-mask")
    for d in deployment(root):
        proc, port = start_proxy(write_config(d, dlp="mask"))
        d.process, d.proxy_port = proc, port
        try:
            yield d
        finally:
            stop_proxy(proc)


def test_phone_numbers_are_masked_before_they_leave(masking: Deployment) -> None:
    payload = {"reading": 42, "owner_phone": "13812345678", "backup": "13912345679"}
    status, body = masking.curl(f"http://localhost:{masking.http.port}/readings",
                                source=SENSOR_IP, data=json.dumps(payload))
    assert status == 200, body
    sent = json.loads(bytes(masking.http.seen.snapshot()[-1]["body"]))  # type: ignore[arg-type]
    assert sent["reading"] == 42
    assert "13812345678" not in json.dumps(sent) and "13912345679" not in json.dumps(sent)
    assert sent["owner_phone"] != payload["owner_phone"]
    assert sent["owner_phone"].startswith("138")  # masked, not removed
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not masking.alert_docs():
        time.sleep(0.05)  # delivered by the proxy's alert thread
    [alert] = masking.alert_docs()
    assert alert["rule"]["id"] == "egress_dlp"
    assert alert["event"]["action"] == "egress-masked"
    assert alert["source"]["ip"] == SENSOR_IP


def test_a_form_body_cannot_be_masked_and_is_refused(masking: Deployment) -> None:
    before = len(masking.http.seen.snapshot())
    status, body = masking.curl(f"http://localhost:{masking.http.port}/readings",
                                source=SENSOR_IP, data="id=11010519491231002X",
                                content_type="application/x-www-form-urlencoded")
    assert status == 403
    assert json.loads(body)["reasons"] == ["data-level-exceeded"]
    assert len(masking.http.seen.snapshot()) == before


def test_a_body_that_is_not_text_is_refused(masking: Deployment) -> None:
    before = len(masking.http.seen.snapshot())
    status, body = masking.curl(f"http://localhost:{masking.http.port}/blob",
                                source=SENSOR_IP, data="@-",
                                content_type="application/octet-stream")
    # curl sends stdin (empty here): an empty body is nothing to refuse
    assert status == 200, body
    blob = masking.root / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    status, body = masking.curl(f"http://localhost:{masking.http.port}/blob",
                                source=SENSOR_IP, data=f"@{blob}",
                                content_type="application/octet-stream")
    assert status == 403
    assert json.loads(body)["reasons"] == ["body-uninspectable"]
    assert len(masking.http.seen.snapshot()) == before + 1
