"""The development OIDC provider over HTTP (aiohttp): discovery, JWKS, token, admin rotate.

Never for production: users and secrets come from a YAML file, there is no login page, no
consent, no refresh tokens. It exists so that the gateway, the demo and the tests talk to a
real OIDC issuer over real HTTP.

    async with DevIdP.start(demo_config()) as idp:
        token = idp.mint(user="doctor")                    # sign directly (tests)
        # or POST idp.token_endpoint with grant_type=password|client_credentials

Endpoints: `GET /.well-known/openid-configuration`, `GET /jwks.json`, `POST /token`,
`POST /admin/rotate` (Bearer admin token; `?lead=SECONDS`), `GET /healthz`.

CORS: `/token` answers browsers from the configured `cors_origins` only (the SOC console
signing in with the password grant as the public client `zonegate-console`): the preflight
(`OPTIONS /token`) admits POST with `Content-Type`, and every answer to an allowed origin
carries `Access-Control-Allow-Origin: <that origin>` and `Vary: Origin`; never `*`, never
credentials. Any other origin gets no CORS header (the browser then withholds the answer)
and a 403 preflight.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from gateway.idp.config import IdPConfig
from gateway.idp.errors import IdPError, OAuthError
from gateway.idp.grants import authenticate_client, grant
from gateway.idp.keys import KeyRing, SigningKey
from gateway.idp.tokens import TokenRequest, access_token_claims, sign

__all__ = ["DevIdP"]

_MAX_BODY = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class DevIdP:
    """One running (or ready to run) development OIDC provider."""

    def __init__(self, config: IdPConfig, *, clock: Callable[[], float] = time.time,
                 admin_token: str | None = None) -> None:
        self.config = config
        self.clock = clock
        self.ring = KeyRing(config.algorithm, token_ttl=config.token_ttl, clock=clock)
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.issuer = ""
        self.jwks_fetches = 0
        self.tokens_issued = 0
        self._runner: web.AppRunner | None = None

    # --- URLs ---------------------------------------------------------------------------

    @property
    def jwks_uri(self) -> str:
        """Where the public keys are published."""
        return f"{self.issuer}/jwks.json"

    @property
    def token_endpoint(self) -> str:
        """The OAuth 2.0 token endpoint."""
        return f"{self.issuer}/token"

    # --- life cycle ---------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def start(cls, config: IdPConfig, host: str = "127.0.0.1", port: int = 0, *,
                    clock: Callable[[], float] = time.time,
                    admin_token: str | None = None) -> AsyncIterator[DevIdP]:
        """Serve on host:port (0 = any free port) for the duration of the block."""
        idp = cls(config, clock=clock, admin_token=admin_token)
        await idp.listen(host, port)
        try:
            yield idp
        finally:
            await idp.stop()

    async def listen(self, host: str, port: int) -> None:
        """Bind and start serving; sets `issuer` from the bound address."""
        if self._runner is not None:
            raise IdPError("the IdP is already listening")
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise IdPError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.issuer = f"http://{shown}:{bound_port}"

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- direct API for tests and the demo ---------------------------------------------

    def rotate(self, lead: float | None = None) -> SigningKey:
        """Publish a new key that signs from `lead` seconds on (default: rotation_lead)."""
        return self.ring.rotate(self.config.rotation_lead if lead is None else lead)

    def mint(self, *, user: str | None = None, client: str | None = None,
             header: dict[str, object] | None = None, key: SigningKey | None = None,
             **claims: object) -> str:
        """Sign an access token directly, bypassing the token endpoint.

        `user` makes a password-grant style token, `client` a client_credentials one. Each
        keyword claim overrides the issued claim; a value of None removes it. `header`
        overrides JOSE header fields, `key` signs with another (e.g. unpublished) key.
        """
        now = int(self.clock())
        request = self._request_for(user, client, now)
        body = access_token_claims(request, issuer=self.issuer, now=now,
                                   ttl=self.config.token_ttl)
        for name, value in claims.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return sign(body, key or self.ring.signing_key(), self.ring.algorithm, header)

    def _request_for(self, user: str | None, client: str | None, now: int) -> TokenRequest:
        if user is not None:
            if user not in self.config.users:
                raise IdPError(f"no such user {user!r}")
            account = self.config.users[user]
            client_id = client or next(iter(self.config.clients), "test-client")
            return TokenRequest(subject=user, client_id=client_id,
                                audience=self.config.audience, scope=("openid",),
                                auth_time=now, acr=account.acr, amr=("pwd",),
                                roles=account.roles, groups=account.groups,
                                clearance=account.clearance)
        if client is None or client not in self.config.clients:
            raise IdPError(f"mint needs a configured user or client, got {client!r}")
        app_client = self.config.clients[client]
        return TokenRequest(subject=client, client_id=client,
                            audience=app_client.audience or self.config.audience,
                            scope=app_client.scopes, auth_time=now,
                            acr="urn:zonegate:acr:client", amr=(), roles=app_client.roles)

    # --- HTTP ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks.json", self._jwks)
        app.router.add_post("/token", self._token)
        app.router.add_route("OPTIONS", "/token", self._token_preflight)
        app.router.add_post("/admin/rotate", self._rotate)
        app.router.add_get("/healthz", self._health)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _discovery(self, request: web.Request) -> web.Response:
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "token_endpoint": self.token_endpoint,
            "grant_types_supported": ["client_credentials", "password"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post",
                *(["none"] if any(c.public for c in self.config.clients.values()) else [])],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.ring.algorithm],
            "scopes_supported": sorted({s for c in self.config.clients.values()
                                        for s in c.scopes}),
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id",
                                 "scope", "auth_time", "acr", "amr", "roles", "groups",
                                 "clearance"],
        }
        return web.json_response(document)

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response(self.ring.jwks(), headers={"Cache-Control": "max-age=60"})

    def _cors(self, request: web.Request) -> dict[str, str]:
        """CORS headers for an allowed Origin, else none (the browser blocks the answer)."""
        origin = request.headers.get("Origin")
        if origin is None or origin not in self.config.cors_origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def _token_preflight(self, request: web.Request) -> web.Response:
        cors = self._cors(request)
        method = request.headers.get("Access-Control-Request-Method")
        if not cors or method != "POST":
            return web.json_response({"error": "origin or method not allowed"}, status=403,
                                     headers={"Vary": "Origin"})
        return web.Response(status=204, headers={
            **cors, "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"})

    async def _token(self, request: web.Request) -> web.Response:
        cors = self._cors(request)
        try:
            if request.content_type != "application/x-www-form-urlencoded":
                raise OAuthError("invalid_request", "use application/x-www-form-urlencoded")
            try:
                posted = await request.post()
            except (ValueError, web.HTTPException):
                raise OAuthError("invalid_request", "unreadable form body") from None
            form = {k: v for k, v in posted.items() if isinstance(v, str)}
            client_id, client = authenticate_client(
                self.config, request.headers.get("Authorization"), form)
            now = int(self.clock())
            # scrypt is deliberately slow: keep it off the event loop
            token_request = await asyncio.to_thread(grant, self.config, client_id, client,
                                                    form, now)
        except OAuthError as exc:
            headers = {**_NO_STORE, **cors}
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="zonegate-dev-idp"'
            return web.json_response({"error": exc.error, "error_description": exc.description},
                                     status=exc.status, headers=headers)
        claims = access_token_claims(token_request, issuer=self.issuer, now=now,
                                     ttl=self.config.token_ttl)
        token = sign(claims, self.ring.signing_key(), self.ring.algorithm)
        self.tokens_issued += 1
        return web.json_response(
            {"access_token": token, "token_type": "Bearer",
             "expires_in": self.config.token_ttl, "scope": " ".join(token_request.scope)},
            headers={**_NO_STORE, **cors},
        )

    async def _rotate(self, request: web.Request) -> web.Response:
        presented = request.headers.get("Authorization", "")
        expected = f"Bearer {self.admin_token}"
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode()):
            return web.json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        lead_text = request.query.get("lead")
        try:
            lead = None if lead_text is None else float(lead_text)
            if lead is not None and not 0 <= lead <= 86400:
                raise ValueError(lead_text)
        except ValueError:
            return web.json_response({"error": "lead must be 0..86400 seconds"}, status=400)
        key = self.rotate(lead)
        return web.json_response({"kid": key.kid, "active_from": key.active_from})
