"""Who may call what: the endpoint -> roles table, and the principal of a request.

Roles come from the OIDC token's roles (`soc-analyst`, `security-officer`, `admin`). A
machine client authenticated by a client certificate gets the internal role
`alert-ingester` when its SPIFFE ID is one the control plane was told to accept alerts
from (the monitor). An endpoint missing from `ACCESS` is refused to everyone: the table is
the only place access is granted, and a test checks that it covers every route.

`PUBLIC` endpoints need no credentials: health, the OpenAPI documents, the signed policy
bundle that OPA sidecars pull (its signature, not secrecy, protects it), the CRL (public
by design, RFC 5280) and the console's static files. The console is one `Mount` at
`/console`: the middleware sees the mount's path, so the single key ("GET", "/console")
admits every file under it (GET and HEAD only; any other method there is refused). The
files hold no data: every call the console makes goes to `/api/...` with the user's token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from gateway.identity import Authenticated

SOC_ANALYST: Final = "soc-analyst"
SECURITY_OFFICER: Final = "security-officer"
ADMIN: Final = "admin"
ALERT_INGESTER: Final = "alert-ingester"
TOKEN_ROLES: Final = frozenset({SOC_ANALYST, SECURITY_OFFICER, ADMIN})

PUBLIC: Final[frozenset[str]] = frozenset({"*public*"})
AUTHENTICATED: Final[frozenset[str]] = frozenset({"*authenticated*"})
STAFF: Final = frozenset({SOC_ANALYST, SECURITY_OFFICER, ADMIN})
OFFICERS: Final = frozenset({SECURITY_OFFICER, ADMIN})
INGEST: Final = frozenset({ALERT_INGESTER, ADMIN})

# (method, route path) -> roles allowed. Keep in the order of docs/control.md.
ACCESS: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/bundles/zonegate.tar.gz"): PUBLIC,
    ("GET", "/crl.pem"): PUBLIC,
    ("GET", "/console"): PUBLIC,
    ("GET", "/api/me"): AUTHENTICATED,
    # alerts
    ("POST", "/api/alerts"): INGEST,
    ("POST", "/api/alerts/batch"): INGEST,
    ("POST", "/api/alerts/retention"): OFFICERS,
    ("GET", "/api/alerts"): STAFF,
    ("GET", "/api/alerts/groups"): STAFF,
    ("GET", "/api/alerts/export"): STAFF,
    ("GET", "/api/alerts/{alert_id}"): STAFF,
    ("POST", "/api/alerts/{alert_id}/assign"): STAFF,
    ("POST", "/api/alerts/{alert_id}/status"): STAFF,
    ("GET", "/api/alerts/{alert_id}/comments"): STAFF,
    ("POST", "/api/alerts/{alert_id}/comments"): STAFF,
    # devices
    ("GET", "/api/devices"): STAFF,
    ("GET", "/api/quarantines"): STAFF,
    ("GET", "/api/devices/{device_id}"): STAFF,
    ("POST", "/api/devices/{device_id}/quarantine"): OFFICERS,
    ("POST", "/api/devices/{device_id}/release"): OFFICERS,
    ("PUT", "/api/devices/{device_id}/trust"): OFFICERS,
    ("POST", "/api/devices/{device_id}/certificates"): OFFICERS,
    # policies
    ("GET", "/api/policies"): OFFICERS,
    ("GET", "/api/policies/active"): OFFICERS,
    ("GET", "/api/policies/history"): OFFICERS,
    ("POST", "/api/policies/bundle"): OFFICERS,
    ("POST", "/api/policies/files"): OFFICERS,
    ("POST", "/api/policies/rollback"): OFFICERS,
    ("GET", "/api/policies/shadow"): OFFICERS,
    ("PUT", "/api/policies/shadow"): OFFICERS,
    ("DELETE", "/api/policies/shadow"): OFFICERS,
    ("GET", "/api/policies/shadow/report"): OFFICERS,
    ("GET", "/api/policies/{revision}"): OFFICERS,
    ("GET", "/api/policies/{revision}/diff"): OFFICERS,
    ("POST", "/api/policies/{revision}/activate"): OFFICERS,
    ("GET", "/api/policies/{revision}/replay"): OFFICERS,
    # decisions
    ("GET", "/api/decisions"): STAFF,
    ("GET", "/api/decisions/{decision_id}"): STAFF,
    # audit
    ("GET", "/api/audit/changes"): OFFICERS,
    ("GET", "/api/audit/log/verify"): OFFICERS,
    ("GET", "/api/audit/log/export"): OFFICERS,
    # certificates
    ("GET", "/api/certificates"): OFFICERS,
    ("POST", "/api/certificates/{serial}/revoke"): OFFICERS,
}

_MAX_ACTOR = 128


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of one request and the roles it holds here."""

    actor: str  # the name written to the change audit
    kind: str  # "user" | "service" | "device"
    subject: str
    roles: frozenset[str]
    spiffe_id: str = ""

    def may(self, allowed: frozenset[str]) -> bool:
        """Whether this principal may call an endpoint that admits `allowed`."""
        if allowed is PUBLIC or allowed is AUTHENTICATED:
            return True
        return bool(self.roles & allowed)


def _actor(name: str) -> str:
    # the store keeps at most 128 characters per actor; a longer SPIFFE ID stays
    # distinguishable through its hash instead of being cut
    if len(name) <= _MAX_ACTOR:
        return name
    return name[:_MAX_ACTOR - 24] + "#sha256:" + hashlib.sha256(name.encode()).hexdigest()[:16]


def principal_of(auth: Authenticated, ingesters: frozenset[str]) -> Principal | None:
    """The principal of a verified identity; None for an anonymous request."""
    subject = auth.subject
    if not subject.authenticated:
        return None
    roles = set(subject.roles) & TOKEN_ROLES
    cert = auth.certificate
    # only a workload certificate itself (no user token on top) acts as the ingester
    if (cert is not None and cert.kind == "svc" and subject.type == "service"
            and subject.id == cert.spiffe_id and cert.spiffe_id in ingesters):
        roles.add(ALERT_INGESTER)
    return Principal(actor=_actor(subject.id), kind=subject.type, subject=subject.id,
                     roles=frozenset(roles), spiffe_id=subject.spiffe_id)
