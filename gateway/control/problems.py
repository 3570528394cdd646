"""application/problem+json bodies (RFC 9457) and the exception handlers that make them.

Every refusal has `type`, `title`, `status`, `detail` and a stable kebab-case `code`; a
fault the code did not expect is a bare 500 problem, logged with its traceback on the
server and never sent to the client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

from gateway.audit import AuditError, AuditTampered, AuditUnreadable
from gateway.control.errors import ApiProblem
from gateway.identity import IdentityError
from gateway.pdp.port import PDPError, PolicyLoadError
from gateway.store import (
    Conflict,
    InvalidCursor,
    InvalidRecord,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from pki.errors import (
    AlreadyRevoked,
    CANotFound,
    InvalidArgument,
    IssuanceRefused,
    PKIError,
    SerialNotFound,
)

log = logging.getLogger("zonegate.control")
PROBLEM_JSON = "application/problem+json"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content",
           500: "Internal Server Error", 503: "Service Unavailable"}


def problem_body(status: int, code: str, detail: str,
                 extra: Mapping[str, object] | None = None) -> bytes:
    """The JSON bytes of one problem."""
    body: dict[str, object] = {"type": "about:blank", "title": _TITLES.get(status, "Error"),
                               "status": status, "code": code, "detail": detail}
    body.update(extra or {})
    try:
        return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from the request, echoed: escape it
        return json.dumps(body, default=str).encode("ascii")


def problem(status: int, code: str, detail: str, extra: Mapping[str, object] | None = None,
            headers: Mapping[str, str] | None = None) -> Response:
    """A problem response."""
    return Response(problem_body(status, code, detail, extra), status_code=status,
                    media_type=PROBLEM_JSON, headers=dict(headers or {}))


async def send_problem(send: Send, status: int, code: str, detail: str,
                       headers: Mapping[str, str] | None = None) -> None:
    """Answer a raw ASGI request with a problem (used by the access middleware)."""
    body = problem_body(status, code, detail)
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _from_exception(exc: Exception) -> tuple[int, str, str]:
    # order matters: subclasses before their bases
    table: tuple[tuple[type[Exception], int, str], ...] = (
        (NotFound, 404, "not-found"),
        (Conflict, 409, "conflict"),
        (InvalidCursor, 400, "invalid-cursor"),
        (InvalidRecord, 422, "invalid-record"),
        (StoreUnavailable, 503, "store-unavailable"),
        (StoreError, 503, "store-error"),
        (SerialNotFound, 404, "not-found"),
        (AlreadyRevoked, 409, "conflict"),
        (CANotFound, 503, "ca-unavailable"),
        (IssuanceRefused, 422, "issuance-refused"),
        (InvalidArgument, 422, "invalid-argument"),
        (PKIError, 422, "pki-error"),
        (AuditTampered, 409, "audit-tampered"),
        (AuditUnreadable, 503, "audit-unreadable"),
        (AuditError, 503, "audit-error"),
        (PolicyLoadError, 422, "policy-invalid"),
        (PDPError, 503, "policy-engine-error"),
        (IdentityError, 503, "identity-unavailable"),
    )
    for kind, status, code in table:
        if isinstance(exc, kind):
            return status, code, str(exc)
    return 500, "internal-error", "the control plane failed; the error is in its log"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        exc = cast(ApiProblem, exc)  # registered for ApiProblem only
        return problem(exc.status, exc.code, exc.detail, exc.extra)

    async def on_http(request: Request, exc: Exception) -> Response:
        exc = cast(StarletteHTTPException, exc)
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        # RequestValidationError (FastAPI parsed the request) or a pydantic ValidationError
        # raised by an endpoint that validates a body it read itself: both are bad input
        exc = cast(RequestValidationError | ValidationError, exc)
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}"
        return problem(422, "validation-error", detail, {"errors": errors})

    async def on_known(request: Request, exc: Exception) -> Response:
        status, code, detail = _from_exception(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return problem(status, code, detail)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem(500, "internal-error", "the control plane failed; the error is in its log")

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    for kind in (StoreError, PKIError, AuditError, PDPError, IdentityError):
        app.add_exception_handler(kind, on_known)
    app.add_exception_handler(Exception, on_unexpected)
