"""The egress proxy end to end: curl through `zonegate egress run` to real upstreams.

One proxy serves the whole module (see conftest). HTTPS is intercepted with the
pki-issued subordinate CA; curl trusts only our root. cam-7 is identified by its client
certificate; the sensor (127.0.0.5) and the quarantined terminal (127.0.0.6) by source
IP through the monitor's inventory; 127.0.0.7 is in no inventory.
"""

from __future__ import annotations

import json
import socket

import pytest

from gateway.store._alert_doc import validate
from tests.gateway.egress.harness import (
    QUARANTINED_IP,
    QUARANTINED_MAC,
    SENSOR_IP,
    STRANGER_IP,
    Deployment,
)

RESIDENT_ID = "11010519491231002X"


def _refusal(body: str, error: str = "forbidden") -> dict[str, object]:
    doc = json.loads(body)
    assert doc["error"] == error
    assert isinstance(doc["reasons"], list)
    return doc


def test_allowed_https_is_intercepted_and_reaches_the_upstream(stack: Deployment) -> None:
    before = len(stack.https.seen.snapshot())
    status, body = stack.curl(f"https://localhost:{stack.https.port}/v1/status?x=1", cert=True)
    assert status == 200, body
    assert json.loads(body) == {"ok": True, "path": "/v1/status?x=1"}
    seen = stack.https.seen.snapshot()[before:]
    assert [(r["method"], r["path"]) for r in seen] == [("GET", "/v1/status?x=1")]


def test_the_interception_chain_ends_at_our_root_only(stack: Deployment) -> None:
    # the same request with another CA's root as the only trust anchor fails verification
    status, err = stack.curl(f"https://localhost:{stack.https.port}/v1/status", "--cacert",
                             str(stack.root / "foreign" / "root.crt"), cert=True)
    assert status == 0
    assert "certificate" in err.lower()


@pytest.mark.parametrize(("url", "method", "reason"), [
    ("https://127.0.0.1:{https}/v1/status", "GET", "destination-not-permitted"),
    ("https://localhost:{https}/v1/status", "DELETE", "method-not-permitted"),
    ("https://localhost:{http}/v1/status", "GET", "port-not-permitted"),
])
def test_disallowed_destinations_get_a_403_json(stack: Deployment, url: str, method: str,
                                                 reason: str) -> None:
    before = (len(stack.https.seen.snapshot()), len(stack.http.seen.snapshot()))
    target = url.format(https=stack.https.port, http=stack.http.port)
    status, body = stack.curl(target, "-X", method, cert=True)
    assert status == 403, body
    doc = _refusal(body)
    assert doc["reasons"] == [reason]
    assert doc["device"] == "cam-7"
    assert doc["decision_id"]
    assert (len(stack.https.seen.snapshot()), len(stack.http.seen.snapshot())) == before


@pytest.mark.parametrize("payload", [
    {"note": "owner", "id": RESIDENT_ID},
    {"contacts": ["13812345678", "13912345679", "13612345670"]},
    "owner id " + RESIDENT_ID,
], ids=["resident-id-json", "phones-json", "resident-id-text"])
def test_a_body_above_the_class_level_does_not_leave(stack: Deployment,
                                                      payload: object) -> None:
    before = len(stack.https.seen.snapshot())
    text = payload if isinstance(payload, str) else json.dumps(payload)
    ctype = "text/plain" if isinstance(payload, str) else "application/json"
    status, body = stack.curl(f"https://localhost:{stack.https.port}/v1/upload", cert=True,
                              data=text, content_type=ctype)
    assert status == 403, body
    assert _refusal(body)["reasons"] == ["data-level-exceeded"]
    assert len(stack.https.seen.snapshot()) == before


def test_a_body_within_the_class_level_passes_unchanged(stack: Deployment) -> None:
    text = json.dumps({"camera": "cam-7", "vehicles": 12, "ts": "2026-11-25T08:00:00Z"})
    status, body = stack.curl(f"https://localhost:{stack.https.port}/v1/counts", cert=True,
                              data=text)
    assert status == 200, body
    assert stack.https.seen.snapshot()[-1]["body"] == text.encode()


def test_sensitive_data_in_the_query_is_refused(stack: Deployment) -> None:
    status, body = stack.curl(
        f"https://localhost:{stack.https.port}/v1/lookup?owner={RESIDENT_ID}", cert=True)
    assert status == 403
    assert _refusal(body)["reasons"] == ["data-level-exceeded"]


def test_a_terminal_is_identified_by_source_ip_through_the_inventory(stack: Deployment) -> None:
    status, body = stack.curl(f"http://localhost:{stack.http.port}/readings", source=SENSOR_IP,
                              data=json.dumps({"speed": 42}))
    assert status == 200, body
    assert stack.http.seen.snapshot()[-1]["body"] == b'{"speed": 42}'
    # HTTPS from the same terminal without a certificate: the sensor class may GET only
    status, _ = stack.curl(f"https://localhost:{stack.https.port}/time", source=SENSOR_IP)
    assert status == 200
    status, body = stack.curl(f"https://localhost:{stack.https.port}/time", "-X", "POST",
                              source=SENSOR_IP)
    assert status == 403
    assert _refusal(body)["reasons"] == ["method-not-permitted"]


def test_an_unknown_terminal_is_refused(stack: Deployment) -> None:
    status, body = stack.curl(f"http://localhost:{stack.http.port}/readings", source=STRANGER_IP)
    assert status == 403
    doc = _refusal(body)
    assert doc["reasons"] == ["device-unmanaged"]
    assert doc["device"] == ""


def test_a_quarantined_terminal_is_refused_and_raises_an_alert(stack: Deployment) -> None:
    before = len(stack.http.seen.snapshot())
    status, body = stack.curl(f"http://localhost:{stack.http.port}/readings",
                              source=QUARANTINED_IP)
    assert status == 403
    assert _refusal(body)["reasons"] == ["device-quarantined"]
    assert len(stack.http.seen.snapshot()) == before
    stack_alerts = _wait_for_alert(stack, lambda d: d["source"].get("ip") == QUARANTINED_IP)
    assert stack_alerts["rule"]["id"] == "egress_blocked"
    assert stack_alerts["source"] == {"ip": QUARANTINED_IP, "mac": QUARANTINED_MAC}
    assert stack_alerts["device"] == {"id": QUARANTINED_MAC}


def test_a_certificate_from_another_ca_is_refused(stack: Deployment) -> None:
    status, body = stack.curl(
        f"https://localhost:{stack.https.port}/v1/status",
        "--cert", str(stack.root / "rogue-chain.crt"), "--key", str(stack.root / "rogue.key"))
    assert status == 403
    doc = _refusal(body)
    assert doc["reasons"] == ["device-certificate-invalid"]
    assert doc["detail"] == "untrusted-chain"


def test_a_host_header_naming_another_host_is_refused(stack: Deployment) -> None:
    status, body = stack.curl(f"http://localhost:{stack.http.port}/readings",
                              "-H", "Host: evil.example", source=SENSOR_IP)
    assert status == 403
    assert _refusal(body)["reasons"] == ["host-mismatch"]


def test_a_tunnel_that_is_not_http_is_closed(stack: Deployment) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sink:
        sink.settimeout(0.5)
        port = sink.getsockname()[1]
        with socket.create_connection(("127.0.0.1", stack.proxy_port), timeout=10) as conn:
            conn.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"
                         .encode())
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            rest = b""
            while chunk := conn.recv(4096):  # the proxy answers and closes the tunnel
                rest += chunk
        assert rest.startswith(b"HTTP/1.1 400")
        with pytest.raises(TimeoutError):
            sink.accept()  # nothing was ever connected upstream


def _wait_for_alert(stack: Deployment, match: object) -> dict:  # type: ignore[type-arg]
    import time

    assert callable(match)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the alert is delivered by a worker thread
        for doc in stack.alert_docs():
            if match(doc):
                return doc
        time.sleep(0.05)
    raise AssertionError(f"no matching alert in {stack.alert_docs()}")


def test_alerts_follow_contract_5_and_the_store_accepts_them(stack: Deployment) -> None:
    stack.curl(f"https://localhost:{stack.https.port}/v1/lookup?owner={RESIDENT_ID}", cert=True)
    dlp = _wait_for_alert(stack, lambda d: d["rule"]["id"] == "egress_dlp")
    assert dlp["event"]["kind"] == "alert"
    assert dlp["device"] == {"id": "cam-7"}
    assert dlp["destination"] == {"domain": "localhost", "port": stack.https.port}
    assert dlp["zonegate"]["evidence"]["level"] == "L4"
    assert dlp["zonegate"]["evidence"]["max_level"] == "L2"
    assert RESIDENT_ID not in json.dumps(dlp)  # the alert never carries the data itself
    for doc in stack.alert_docs():
        stored = validate(doc)
        assert stored.rule_id in ("egress_blocked", "egress_dlp")
    lines = (stack.root / "alerts-block.ndjson").read_text().splitlines()
    assert {json.loads(line)["rule"]["id"] for line in lines} == {"egress_blocked", "egress_dlp"}


def test_an_upgrade_to_websocket_is_refused(stack: Deployment) -> None:
    status, body = stack.curl(f"https://localhost:{stack.https.port}/ws", "--http1.1", "-H",
                              "Upgrade: websocket", "-H", "Connection: Upgrade", cert=True)
    assert status == 403
    assert _refusal(body)["reasons"] == ["upgrade-not-permitted"]


def test_an_upstream_with_an_untrusted_certificate_is_not_reached(stack: Deployment) -> None:
    # allowed by policy, but its certificate comes from another CA: the proxy's own TLS
    # verification of the upstream refuses it (there is no insecure mode)
    status, body = stack.curl(f"https://localhost:{stack.impostor.port}/v1/status", cert=True)
    assert status == 502, body
    assert stack.impostor.seen.snapshot() == []


def test_a_declared_body_above_the_limit_is_refused_unread(stack: Deployment) -> None:
    big = stack.root / "big.json"
    big.write_text(json.dumps({"pad": "x" * (1 << 20)}))
    before = len(stack.https.seen.snapshot())
    status, body = stack.curl(f"https://localhost:{stack.https.port}/v1/upload", cert=True,
                              data=f"@{big}")
    assert status == 413, body
    assert _refusal(body, "payload-too-large")["reasons"] == ["body-too-large"]
    assert len(stack.https.seen.snapshot()) == before
