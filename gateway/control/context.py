"""What the endpoints share: the store, the CA, the audit log and the bundle keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from gateway.config import GatewayConfig
from gateway.control.errors import ApiProblem
from gateway.store import Store
from pki.authority import CertificateAuthority


@dataclass(frozen=True, slots=True)
class ControlContext:
    """Everything an endpoint may use, built once by `build_app`."""

    config: GatewayConfig
    store: Store
    ca: CertificateAuthority | None = None
    audit_log: Path | None = None
    bundle_signing_key: bytes | None = None  # PEM private key: uploads are (re)signed
    bundle_key_id: str | None = None
    verification_key: bytes | None = None  # PEM public key: signed uploads are checked
    publish_bundle: Path | None = None  # the active bundle is also written here


def control_context(request: Request) -> ControlContext:
    """FastAPI dependency: the app's context."""
    context = getattr(request.app.state, "control", None)
    if not isinstance(context, ControlContext):
        raise ApiProblem(503, "not-configured", "the control plane has no context")
    return context


def require_ca(context: ControlContext) -> CertificateAuthority:
    """The CA, or a 503 problem saying the control plane was started without one."""
    if context.ca is None:
        raise ApiProblem(503, "ca-not-configured",
                         "this control plane was started without a CA directory")
    return context.ca


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than `limit` bytes without buffering them."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "body-too-large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, "body-too-large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def json_object(raw: bytes, where: str) -> dict[str, object]:
    """Parse `raw` as one JSON object; a 422 problem naming `where` otherwise."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiProblem(422, "invalid-json", f"{where}: not JSON: {exc.msg} at column "
                         f"{exc.colno}") from None
    except UnicodeDecodeError:
        raise ApiProblem(422, "invalid-json", f"{where}: not UTF-8") from None
    except RecursionError:
        raise ApiProblem(422, "invalid-json", f"{where}: nested too deeply") from None
    except ValueError as exc:
        raise ApiProblem(422, "invalid-json", f"{where}: {exc}") from None
    if not isinstance(value, dict):
        raise ApiProblem(422, "invalid-json",
                         f"{where}: must be a JSON object, got {type(value).__name__}")
    return value
