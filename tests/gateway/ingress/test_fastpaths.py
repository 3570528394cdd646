"""The data plane's performance shortcuts give exactly the answers of the slow paths."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import types
from typing import Any

import jwt
import pytest
from prometheus_client import CollectorRegistry, Counter

from classify import Classifier
from gateway.identity.types import Subject
from gateway.ingress import runtime
from gateway.ingress.assertion import AssertionSigner
from gateway.ingress.dlp import MaskingInspector
from gateway.ingress.instruments import BoundLabels
from gateway.ingress.segments import SegmentMap

SUBJECT = Subject(authenticated=True, type="user", id="alice", issuer="https://idp",
                  roles=("doctor",), clearance="L3")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_hand_encoded_assertion_is_the_jws_pyjwt_would_accept() -> None:
    signer = AssertionSigner.generate("https://gateway.city.example")
    token = signer.mint(zone="health", subject=SUBJECT, decision_id="d-1", now=1000)
    header, payload, signature = token.split(".")
    assert json.loads(_b64decode(header)) == {"alg": "ES256", "kid": signer.kid, "typ": "JWT"}
    assert len(_b64decode(signature)) == 64  # raw R || S, not DER (RFC 7518 3.4)
    key = jwt.PyJWK(signer.jwks()["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="health",
                        options={"verify_exp": False, "verify_iat": False,
                                 "verify_nbf": False})
    assert claims == json.loads(_b64decode(payload))
    assert (claims["sub"], claims["decision_id"], claims["exp"]) == ("alice", "d-1", 1300)


@pytest.mark.parametrize("tamper", ["claims", "signature"])
def test_tampered_assertion_fails_verification(tamper: str) -> None:
    signer = AssertionSigner.generate("https://gateway.city.example")
    header, payload, signature = signer.mint(zone="health", subject=SUBJECT,
                                             decision_id="d-1", now=1000).split(".")
    if tamper == "claims":
        claims = json.loads(_b64decode(payload))
        claims["clearance"] = "L6"
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    else:
        raw = bytearray(_b64decode(signature))
        raw[5] ^= 1
        signature = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    key = jwt.PyJWK(signer.jwks()["keys"][0]).key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{header}.{payload}.{signature}", key, algorithms=["ES256"],
                   audience="health", options={"verify_exp": False})


def test_segment_memo_gives_the_same_answers_and_stays_bounded() -> None:
    segments = SegmentMap({"gov-net": ("10.1.0.0/16",), "hospital-net": ("10.1.2.0/24",)})
    first = [segments.segment_of(a) for a in ("10.1.2.3", "10.1.9.9", "10.2.0.1", "x")]
    again = [segments.segment_of(a) for a in ("10.1.2.3", "10.1.9.9", "10.2.0.1", "x")]
    assert first == again == ["hospital-net", "gov-net", "", ""]
    for i in range(5000):
        segments.segment_of(f"10.1.{i // 250}.{i % 250}")
    assert len(segments._memo) <= 4096
    assert segments.segment_of("10.1.2.200") == "hospital-net"
    assert SegmentMap().segment_of("10.1.2.3") == ""


def test_bound_labels_reuse_one_child_per_label_values() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "Things.", ["zone", "status"], registry=registry)
    bound = BoundLabels(counter)
    assert bound("health", "200") is bound("health", "200")
    bound("health", "200").inc()
    bound("health", "200").inc()
    bound("health", "403").inc()
    assert registry.get_sample_value("things_total", {"zone": "health", "status": "200"}) == 2
    assert registry.get_sample_value("things_total", {"zone": "health", "status": "403"}) == 1


class _CopyingMasker:
    """A masker that returns an equal copy when it masks nothing (not the same object)."""

    def mask_json(self, obj: Any, above: str) -> tuple[Any, Any]:
        return json.loads(json.dumps(obj)), types.SimpleNamespace(level="L1")

    def mask_text(self, text: str, above: str) -> tuple[str, Any]:
        return str(text), types.SimpleNamespace(level="L1")


@pytest.mark.parametrize("masker", [Classifier.default(), _CopyingMasker()],
                         ids=["classify", "copying-masker"])
def test_unchanged_json_body_is_relayed_as_is(masker: Any) -> None:
    body = json.dumps({"records": [{"district": "Haidian", "visits": 3}]}).encode()
    found = MaskingInspector(masker).inspect(body, "application/json", "L1")
    assert found.masked_body is None


def test_masked_json_body_is_rewritten() -> None:
    body = json.dumps({"phone": "13800138000", "district": "Haidian"}).encode()
    found = MaskingInspector(Classifier.default()).inspect(body, "application/json", "L1")
    assert found.masked_body is not None and b"13800138000" not in found.masked_body
    assert json.loads(found.masked_body)["district"] == "Haidian"


def test_event_loop_is_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert runtime.event_loop_factory() is None


def test_event_loop_is_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("uvloop")
    module.new_event_loop = asyncio.new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)
    assert runtime.event_loop_factory() is asyncio.new_event_loop
