"""The control plane's bundle keys (`control.publish_bundle`, `bundle_signing_key`,
`bundle_key_id`): what the gateways of a scale-out deployment load.

`serve_control` republishes the revision in force at start-up, signed with the key and its
key id, so a control plane restarted on an empty volume serves the gateways again before
the next activation; a key that cannot sign stops `zonegate serve` with one line, exit 2.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import tarfile
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.config import parse_config, resolve_paths
from gateway.control import serve_control
from gateway.control.policy_service import PolicyService
from gateway.pdp.bundle import read_bundle
from gateway.pdp.port import BundleError
from gateway.store import Store
from tests.scaleout.conftest import CLI, free_port, policy_files

pytestmark = pytest.mark.slow


def _key_pem(curve: ec.EllipticCurve) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(curve)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


async def test_start_up_publishes_the_active_revision_signed(tmp_path: Path) -> None:
    private, public = _key_pem(ec.SECP256R1())
    (tmp_path / "bundle.key").write_bytes(private)
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
        store.migrate()
        outcome = await asyncio.to_thread(PolicyService(store).upload_files,
                                          policy_files(False), "officer", revision="v7")
        assert outcome.status == "active"  # activated before this control plane existed
    config = resolve_paths(parse_config("""
trust_domain: city.example
store: sqlite:///zonegate.db
control:
  publish_bundle: out/zonegate.tar.gz
  bundle_signing_key: bundle.key
  bundle_key_id: city-2026
"""), tmp_path)
    published = tmp_path / "out" / "zonegate.tar.gz"
    stop = asyncio.Event()
    with socket.create_server(("127.0.0.1", 0)) as sock:
        serving = asyncio.create_task(serve_control(config, sock=sock, stop=stop,
                                                    handle_signals=False))
        try:
            async with asyncio.timeout(60):  # bounds a hang only
                while not published.exists():
                    assert not serving.done(), serving.exception()
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await serving
    assert read_bundle(published, verification_key=public).revision == "v7"
    with tarfile.open(published) as archive:
        member = archive.extractfile("/.signatures.json")
        assert member is not None
        token = json.loads(member.read())["signatures"][0]
    assert jwt.get_unverified_header(token)["kid"] == "city-2026"
    _, other_public = _key_pem(ec.SECP256R1())
    with pytest.raises(BundleError, match="signature"):  # only our key verifies it
        read_bundle(published, verification_key=other_public)


def _p384() -> bytes:
    return _key_pem(ec.SECP384R1())[0]


@pytest.mark.parametrize(("key", "message"), [
    (None, "control.bundle_signing_key ({key}): cannot read"),
    (b"not a key\n", "control.bundle_signing_key ({key}): not an unencrypted PEM private key"),
    (_p384, "control.bundle_signing_key ({key}): must be an EC P-256 (ES256) or RSA"),
])
def test_a_key_that_cannot_sign_stops_the_start(tmp_path: Path, key: object,
                                                message: str) -> None:
    path = tmp_path / "bundle.key"
    if callable(key):
        path.write_bytes(key())
    elif isinstance(key, bytes):
        path.write_bytes(key)
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
        store.migrate()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""trust_domain: city.example
store: sqlite:///zonegate.db
listen: {{control: "127.0.0.1:{free_port()}"}}
control: {{publish_bundle: zonegate.tar.gz, bundle_signing_key: bundle.key}}
""")
    result = subprocess.run([*CLI, "serve", "--config", str(config), "--role", "control"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("zonegate:")]
    assert len(errors) == 1 and message.format(key=path) in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "zonegate.tar.gz").exists()
