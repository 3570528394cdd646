"""Regenerate the OPA-format signed bundle vector (run from the repository root).

    .venv/bin/python tests/vectors/pdp/opa_bundle/make_vector.py

This writes what `opa build -b src --signing-key key.pem --signing-alg ES256 --verification-key-id
zonegate-test` produces, byte for byte where OPA is deterministic, WITHOUT using
gateway.pdp (so the verifier is tested against an independent implementation of the
format): Go's json.Encoder output for data.json and .manifest (HTML characters escaped as
\\u003c, \\u003e, \\u0026, a trailing newline, numbers as written), json.MarshalIndent with a
one-space indent for .signatures.json, member names with a leading "/", and a compact JWS
with the header {"alg":"ES256","kid":…} and the payload {"files":[{name,hash,algorithm}],
"keyid":…} whose hashes follow bundle/hash.go (sorted keys, HTML not escaped).
The key pair is a test key, never used elsewhere.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = Path(__file__).resolve().parent

REGO = b'''package zonegate.authz

default decision := {"allow": false, "reasons": ["default-deny"], "obligations": {}}

decision := {"allow": true, "reasons": [], "obligations": {"max_level": "L2"}} if {
\tinput.subject.authenticated == true
\tinput.resource.zone in data.zonegate.open_zones
}
'''
# A number with a trailing zero, HTML characters and non-ASCII text exercise the hashing.
DATA_TEXT = ('{"zonegate":{"limits":{"ratio":1.50,"max":10},"note":"<a & b>",'
             '"open_zones":["open"],"title":"开放数据"}}')
MANIFEST_TEXT = '{"revision":"v2026.11.25-1","roots":["zonegate"]}'


def go_encode_html(text: str) -> str:
    """json.Encoder's default HTML escaping, applied to already compact JSON."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def walk(value: object) -> str:
    """bundle/hash.go: objects with sorted keys, no whitespace, no HTML escaping."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + walk(value[k])
                              for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(walk(v) for v in value) + "]"
    if isinstance(value, Raw):
        return value.text
    return json.dumps(value, ensure_ascii=False)


class Raw:
    def __init__(self, text: str) -> None:
        self.text = text


def parse(text: str) -> object:
    return json.loads(text, parse_float=Raw, parse_int=Raw)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    key_path = HERE / "signing-key.pem"
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    (HERE / "public-key.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    data_file = (go_encode_html(DATA_TEXT) + "\n").encode()
    manifest_file = (MANIFEST_TEXT + "\n").encode()
    files = [
        ("data.json", hashlib.sha256(walk(parse(DATA_TEXT)).encode()).hexdigest()),
        ("zonegate/authz.rego", hashlib.sha256(REGO).hexdigest()),
        (".manifest", hashlib.sha256(walk(parse(MANIFEST_TEXT)).encode()).hexdigest()),
    ]
    header = b'{"alg":"ES256","kid":"zonegate-test"}'
    payload = ('{"files":[' + ",".join(
        f'{{"name":"{n}","hash":"{h}","algorithm":"SHA-256"}}' for n, h in files
    ) + '],"keyid":"zonegate-test"}').encode()
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    token = signing_input.decode() + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    signatures_file = ('{\n "signatures": [\n  "' + token + '"\n ]\n}').encode()

    members = [("/data.json", data_file), ("/zonegate/authz.rego", REGO),
               ("/.signatures.json", signatures_file), ("/.manifest", manifest_file)]
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o600
            info.mtime = 1795575600
            tar.addfile(info, io.BytesIO(content))
    (HERE / "bundle.tar.gz").write_bytes(raw.getvalue())


if __name__ == "__main__":
    main()
