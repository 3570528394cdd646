"""Devices and certificates over real HTTP: inventory, quarantine and release as the
gateways' trust source sees them, trust verdicts, issuing from a CSR with the real CA,
revocation and the CRL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.store import StoreTrustSource
from tests.gateway.control.conftest import Stack
from tests.gateway.control.test_access import assert_problem


def trust(stack: Stack, **ids: str) -> str:
    source = StoreTrustSource(stack.store.quarantines)
    assert source.refresh()
    return source.trust_of(**ids)


def csr_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_inventory_pages_and_detail(stack: Stack) -> None:
    analyst = stack.client("analyst")
    first = analyst.get("/api/devices", params={"limit": 2}).json()
    assert [d["id"] for d in first["items"]] == ["cam-13", "cam-14"]
    rest = analyst.get("/api/devices", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [d["id"] for d in rest.json()["items"]] == ["plc-2"]
    detail = analyst.get("/api/devices/plc-2").json()
    assert detail["device"]["ips"] == ["10.0.0.22"]
    assert detail["effective_trust"] == "unknown" and detail["quarantines"] == []
    assert_problem(analyst.get("/api/devices/ghost"), 404, "not-found")


def test_quarantine_reaches_the_trust_source_and_release_lifts_it(stack: Stack) -> None:
    officer = stack.client("officer")
    assert trust(stack, device_id="cam-14") == "unknown"
    made = officer.post("/api/devices/cam-14/quarantine",
                        json={"reason": "port scan from camera", "duration_seconds": 3600})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["by"] == "officer" and body["reason"] == "port scan from camera"
    until = datetime.fromisoformat(body["until"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)
    # what the gateways poll: by device id, by IP and by MAC
    assert trust(stack, device_id="cam-14") == "quarantined"
    assert trust(stack, ip="10.0.0.14") == "quarantined"
    active = stack.client("analyst").get("/api/quarantines").json()
    assert [(q["device_id"], q["ips"]) for q in active] == [("cam-14", ["10.0.0.14"])]
    assert stack.client("analyst").get("/api/devices/cam-14").json()[
        "effective_trust"] == "quarantined"

    released = officer.post("/api/devices/cam-14/release")
    assert released.status_code == 200 and released.json()[0]["released_by"] == "officer"
    assert trust(stack, device_id="cam-14") == "unknown"
    assert_problem(officer.post("/api/devices/cam-14/release"), 404, "not-found")
    changes = officer.get("/api/audit/changes", params={"actor": "officer"}).json()["items"]
    mine = [(c["action"], c["target"]) for c in changes]
    assert ("device.quarantine", "device:cam-14") in mine
    assert ("device.release", "device:cam-14") in mine


@pytest.mark.parametrize(("body", "status"), [
    ({"reason": ""}, 422),
    ({"reason": "x", "duration_seconds": 5}, 422),
    ({"reason": "x", "until": "2030-01-01T00:00:00"}, 422),  # naive time
    ({"reason": "x", "until": "2030-01-01T00:00:00Z", "duration_seconds": 600}, 422),
    ({"reason": "x", "until": "2001-01-01T00:00:00Z"}, 422),  # already over
    ({"reason": "x", "colour": "red"}, 422),
])
def test_bad_quarantines_are_refused(stack: Stack, body: dict[str, object],
                                     status: int) -> None:
    response = stack.client("officer").post("/api/devices/plc-2/quarantine", json=body)
    assert_problem(response, status)
    assert trust(stack, device_id="plc-2") == "unknown"


def test_quarantine_of_unknown_device_and_by_analyst(stack: Stack) -> None:
    assert_problem(stack.client("officer").post("/api/devices/ghost/quarantine",
                                                json={"reason": "x"}), 404)
    assert_problem(stack.client("analyst").post("/api/devices/cam-13/quarantine",
                                                json={"reason": "x"}), 403, "forbidden")
    assert trust(stack, device_id="cam-13") == "unknown"


def test_trust_verdict(stack: Stack) -> None:
    officer = stack.client("officer")
    assert officer.put("/api/devices/plc-2/trust", json={"trust": "trusted"}).json()[
        "trust"] == "trusted"
    assert trust(stack, device_id="plc-2") == "trusted"
    assert_problem(officer.put("/api/devices/plc-2/trust", json={"trust": "quarantined"}), 422)
    assert officer.put("/api/devices/plc-2/trust", json={"trust": "unknown"}).status_code == 200
    assert trust(stack, device_id="plc-2") == "unknown"


def test_issue_from_csr_revoke_and_crl(stack: Stack) -> None:
    assert stack.pki is not None
    officer = stack.client("officer")
    key = ec.generate_private_key(ec.SECP256R1())
    issued = officer.post("/api/devices/cam-13/certificates",
                          json={"csr": csr_pem(key), "zone": "iot",
                                "lifetime_seconds": 3600})
    assert issued.status_code == 201, issued.text
    out = issued.json()
    cert = x509.load_pem_x509_certificate(out["certificate_pem"].encode())
    assert cert.public_key() == key.public_key()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    spiffe = "spiffe://city.example/zone/iot/device/cam-13"
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [spiffe]
    assert out["certificate"]["spiffe_id"] == spiffe and out["certificate"]["status"] == "valid"
    serial = out["certificate"]["serial"]
    assert stack.store.certificates.get(serial).spiffe_id == spiffe
    listed = officer.get("/api/certificates", params={"spiffe_id": spiffe}).json()
    assert [c["serial"] for c in listed] == [serial]
    detail = stack.client("analyst").get("/api/devices/cam-13").json()
    assert [c["serial"] for c in detail["certificates"]] == [serial]

    revoked = officer.post(f"/api/certificates/{serial}/revoke",
                           json={"reason": "keyCompromise"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_by"] == "officer"
    assert_problem(officer.post(f"/api/certificates/{serial}/revoke", json={}), 409)
    crl_response = stack.client(None).get("/crl.pem")
    assert crl_response.headers["content-type"] == "application/x-pem-file"
    crl = x509.load_pem_x509_crl(crl_response.content)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert officer.get("/api/certificates", params={"revoked": True}).json()[0][
        "serial"] == serial


@pytest.mark.parametrize(("device", "body", "status", "code"), [
    ("ghost", {"zone": "iot"}, 404, "not-found"),
    ("cam-13", {"zone": "iot", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                "-----END CERTIFICATE REQUEST-----\n"}, 422, None),
    ("cam-13", {"zone": "Not A Zone"}, 422, None),
    ("cam-13", {"zone": "iot", "lifetime_seconds": 30 * 86400}, 422, None),  # over CA max
    ("cam-13", {"zone": "iot", "rsa": True}, 422, None),  # P-256 only
])
def test_bad_issuance_is_refused(stack: Stack, device: str, body: dict[str, object],
                                 status: int, code: str | None) -> None:
    request = {k: v for k, v in body.items() if k != "rsa"}
    if "csr" not in request:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if body.get(
            "rsa") else None
        request["csr"] = csr_pem(key)
    response = stack.client("officer").post(f"/api/devices/{device}/certificates",
                                            json=request)
    assert_problem(response, status, code)


def test_quarantined_device_gets_no_certificate(stack: Stack) -> None:
    officer = stack.client("officer")
    officer.post("/api/devices/cam-13/quarantine", json={"reason": "compromised"})
    try:
        response = officer.post("/api/devices/cam-13/certificates",
                                json={"csr": csr_pem(), "zone": "iot"})
        assert_problem(response, 409, "device-quarantined")
    finally:
        officer.post("/api/devices/cam-13/release")


def test_revoking_a_malformed_serial(stack: Stack) -> None:
    officer = stack.client("officer")
    assert_problem(officer.post("/api/certificates/xyz/revoke", json={}), 422,
                   "invalid-serial")
    assert_problem(officer.post("/api/certificates/0abc/revoke", json={}), 404)
