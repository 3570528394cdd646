"""`build_app`: the control plane's FastAPI application, assembled from its parts.

    context (store, CA, audit log)  ->  app.state.control
    AccessControl (pure ASGI)       ->  every request authenticated and authorised first
    problems.install                ->  every error answered as application/problem+json
    routers                         ->  alerts, devices, certificates, records, policies
    /console                        ->  the SOC console's static files, when present

The app owns nothing that needs closing: the caller opened the store and the
authenticator and closes them (see `gateway.control.server`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import GatewayConfig
from gateway.control import problems
from gateway.control.auth import AccessControl
from gateway.control.context import ControlContext
from gateway.control.errors import ControlSetupError
from gateway.control.routes import alerts, certificates, devices, policies, records
from gateway.identity import Authenticator
from gateway.store import Store
from pki.authority import CertificateAuthority
from pki.errors import PKIError

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
CONSOLE_PATH = "/console"
_DESCRIPTION = """zonegate control plane: SOC alert triage, device inventory and quarantine,
policy administration, decision search, audit and certificates. Authenticate with an OIDC
bearer token (roles soc-analyst, security-officer, admin) or, for machine clients such as
the monitor, a client certificate. Errors are application/problem+json (RFC 9457)."""


def open_ca(ca_dir: Path, passphrase: bytes | None = None) -> CertificateAuthority:
    """Open the pki/ CA directory the API issues and revokes with."""
    try:
        return CertificateAuthority.open(ca_dir, passphrase)
    except PKIError as exc:
        raise ControlSetupError(f"control.ca_dir ({ca_dir}): {exc}") from None


def console_csp(config: GatewayConfig) -> str:
    """The console's Content-Security-Policy: its own files, and fetch() to itself and to
    the configured OIDC issuers' origins (password sign-in posts to the IdP's /token)."""
    origins: list[str] = []
    for oidc in config.identity.oidc:
        parts = urlsplit(oidc.issuer)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc and origin not in origins:
            origins.append(origin)
    return "default-src 'self'; connect-src " + " ".join(["'self'", *origins])


class _WithHeaders:
    """Pure ASGI: add fixed headers to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_app(
    config: GatewayConfig,
    *,
    store: Store,
    authenticator: Authenticator,
    ca_dir: Path | None = None,
    ca_passphrase: bytes | None = None,
    audit_log: Path | None = None,
    ingesters: frozenset[str] = frozenset(),
    bundle_signing_key: bytes | None = None,
    bundle_key_id: str | None = None,
    verification_key: bytes | None = None,
    publish_bundle: Path | None = None,
    console_dir: Path | None = CONSOLE_DIR,
) -> FastAPI:
    """The control-plane ASGI app over an open, migrated `store`.

    `ingesters` are the SPIFFE IDs whose client certificates may post alerts; `ca_dir`
    enables certificate issuance, revocation and `/crl.pem` (503 without it);
    `audit_log` is the gateway's hash-chained log that `/api/audit/log/*` verifies and
    exports. The bundle keys are for the policy routes. Raises ControlSetupError when the
    CA directory cannot be opened.
    """
    app = FastAPI(title="zonegate control plane", description=_DESCRIPTION,
                  version="1", docs_url="/docs", redoc_url="/redoc",
                  openapi_url="/openapi.json")
    app.state.control = ControlContext(
        config=config, store=store,
        ca=open_ca(ca_dir, ca_passphrase) if ca_dir is not None else None,
        audit_log=audit_log, bundle_signing_key=bundle_signing_key,
        bundle_key_id=bundle_key_id, verification_key=verification_key,
        publish_bundle=publish_bundle,
    )
    problems.install(app)
    # flat, not include_router: FastAPI nests included routers in wrapper routes, and the
    # access middleware must see each endpoint's own path template
    for module in (records, alerts, devices, certificates, policies):
        app.router.routes.extend(module.router.routes)
    if console_dir is not None and console_dir.is_dir():
        console = StaticFiles(directory=console_dir, html=True)
        app.mount(CONSOLE_PATH, _WithHeaders(console, {
            "Content-Security-Policy": console_csp(config)}), name="console")
    # the routes list is read per request, so it must be complete before serving starts
    app.add_middleware(AccessControl, routes=app.router.routes,
                       authenticator=authenticator, ingesters=ingesters)
    return app
