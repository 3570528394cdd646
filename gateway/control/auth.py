"""Authentication and authorisation of every request: one pure ASGI middleware.

The middleware matches the request to its route the way the router will, looks the route
up in `access.ACCESS` (deny when absent), verifies what the request presents through the
gateway's `Authenticator` (bearer token, client certificate from the TLS extension of the
scope, XFCC from a trusted front proxy) and refuses with a problem before the endpoint (or
its body parsing) runs: 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` for
missing or bad credentials, 403 for a caller without the role. The principal is put in the
scope under `PRINCIPAL_KEY` for the endpoint.
"""

from __future__ import annotations

import logging

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.control.access import ACCESS, PUBLIC, Principal, principal_of
from gateway.control.errors import ApiProblem
from gateway.control.problems import send_problem
from gateway.identity import Authenticator, IdentityError, InvalidCredentials, Presented

log = logging.getLogger("zonegate.control")
PRINCIPAL_KEY = "zonegate.principal"
_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
_MAX_HEADER = 16 * 1024


def route_template(routes: list[BaseRoute], scope: Scope) -> tuple[str | None, bool]:
    """(path template of the route that fully matches, whether some route matched the path)."""
    partial = False
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "")), True
        if match is Match.PARTIAL:
            partial = True
    return None, partial


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k == name]
    if not values:
        return None
    if len(values) > 1:
        raise ApiProblem(400, "duplicate-header", f"{name.decode()} appears more than once")
    if len(values[0]) > _MAX_HEADER:
        raise ApiProblem(400, "header-too-large", f"{name.decode()} is too large")
    return str(values[0].decode("latin-1"))


def peer_certificate_der(scope: Scope) -> bytes | None:
    """The client certificate of the connection (ASGI TLS extension), DER, if any."""
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    cert = x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
    return cert.public_bytes(Encoding.DER)


class AccessControl:
    """Pure ASGI middleware: authenticate, then authorise against the access table."""

    def __init__(self, app: ASGIApp, *, routes: list[BaseRoute], authenticator: Authenticator,
                 ingesters: frozenset[str]) -> None:
        self.app = app
        self._routes = routes
        self._authenticator = authenticator
        self._ingesters = ingesters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        template, _known = route_template(self._routes, scope)
        if template is None:
            # no such path (404) or method (405): the router answers, nothing is revealed
            await self.app(scope, receive, send)
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        allowed = ACCESS.get((method, template))
        if allowed is None:
            log.error("no access rule for %s %s: refused", method, template)
            await send_problem(send, 403, "no-access-rule",
                               f"{method} {template} is not in the access table")
            return
        if allowed is PUBLIC:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
        except ApiProblem as exc:
            headers = _CHALLENGE if exc.status == 401 else None
            await send_problem(send, exc.status, exc.code, exc.detail, headers)
            return
        if not principal.may(allowed):
            await send_problem(send, 403, "forbidden",
                               f"{method} {template} needs one of the roles "
                               f"{', '.join(sorted(allowed))}")
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Principal:
        client = scope.get("client")
        try:
            presented = Presented(
                authorization=_header(scope, b"authorization"),
                peer_cert_der=peer_certificate_der(scope),
                xfcc=_header(scope, b"x-forwarded-client-cert"),
                peer_ip=str(client[0]) if client else "",
            )
            auth = await self._authenticator.authenticate(presented)
        except InvalidCredentials as exc:
            raise ApiProblem(401, exc.code, str(exc)) from None
        except IdentityError as exc:
            log.error("identity verification unavailable: %s", exc)
            raise ApiProblem(503, "identity-unavailable",
                             "credentials cannot be verified right now") from None
        except ValueError:
            raise ApiProblem(401, "bad-certificate", "the client certificate cannot be read"
                             ) from None
        principal = principal_of(auth, self._ingesters)
        if principal is None:
            raise ApiProblem(401, "missing-credentials",
                             "send 'Authorization: Bearer <token>' or a client certificate")
        return principal


def current_principal(request: Request) -> Principal:
    """The verified caller (a FastAPI dependency for endpoints that record who acted)."""
    principal = request.scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise ApiProblem(401, "missing-credentials", "this endpoint needs credentials")
    return principal
