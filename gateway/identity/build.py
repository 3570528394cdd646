"""Build the gateway's Authenticator from a validated `GatewayConfig`.

`GatewayConfig.identity.oidc` gives issuer, audience, jwks_uri and algorithms. The other
per-issuer settings (typ requirement, required claims, leeway, claim mapping) come from
`IssuerOptions` with safe defaults: `typ` at+jwt required, RFC 9068 claims required, 30 s
leeway, roles from `roles` or `realm_access.roles`, groups from `groups`, clearance from
`clearance`. When the issuer entry of the config file carries `require_typ`,
`required_claims`, `leeway` or `claims` (`roles`, `groups`, `clearance`,
`default_clearance`), those are used; an explicit `issuer_options` entry wins over both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import GatewayConfig, OIDCIssuer
from gateway.identity.authenticator import GatewayAuthenticator
from gateway.identity.claims import ClaimMapping
from gateway.identity.errors import IdentitySetupError
from gateway.identity.jwks import Clock
from gateway.identity.mtls import CertificateAuthenticator, ChainVerifier
from gateway.identity.tokens import BearerVerifier, IssuerPolicy
from pki.errors import PKIError

__all__ = ["IssuerOptions", "build_authenticator"]


@dataclass(frozen=True, slots=True)
class IssuerOptions:
    """Per-issuer verification settings beyond contract 2's issuer entry."""

    require_typ: bool = True
    required_claims: tuple[str, ...] = ("iss", "sub", "aud", "exp", "iat", "jti")
    leeway: float = 30.0
    claims: ClaimMapping = field(default_factory=ClaimMapping)


def _options_from_entry(entry: OIDCIssuer) -> IssuerOptions:
    """Read the optional per-issuer fields if the config model has them."""
    defaults = IssuerOptions()
    mapping = getattr(entry, "claims", None)
    claims = defaults.claims
    if mapping is not None:
        claims = ClaimMapping(
            roles=tuple(getattr(mapping, "roles", claims.roles)),
            groups=tuple(getattr(mapping, "groups", claims.groups)),
            clearance=tuple(getattr(mapping, "clearance", claims.clearance)),
            default_clearance=str(getattr(mapping, "default_clearance",
                                          claims.default_clearance)),
        )
    return IssuerOptions(
        require_typ=bool(getattr(entry, "require_typ", defaults.require_typ)),
        required_claims=tuple(getattr(entry, "required_claims", defaults.required_claims)),
        leeway=float(getattr(entry, "leeway", defaults.leeway)),
        claims=claims,
    )


def _verifier_from_dir(ca_dir: Path, trust_domain: str) -> ChainVerifier:
    try:
        from pki.verify import CertificateVerifier
    except ImportError as exc:
        raise IdentitySetupError(
            f"client certificates need pki.verify, which cannot be imported: {exc}"
        ) from None
    try:
        verifier: ChainVerifier = CertificateVerifier.from_ca_dir(ca_dir, trust_domain)
    except PKIError as exc:
        raise IdentitySetupError(f"{ca_dir}: cannot load the CA for client certificates: "
                                 f"{exc}") from None
    return verifier


def _verifier_from_files(client_ca: Path, crl: Path | None,
                         trust_domain: str) -> ChainVerifier:
    """Build the verifier from `tls.client_ca` (PEM bundle) and `tls.crl`."""
    from pki.crl import load_crl
    from pki.pem import load_certificates
    from pki.verify import CertificateVerifier

    if crl is None:
        raise IdentitySetupError(
            "tls.crl is required with client certificates: revocation is always checked")
    try:
        certificates = load_certificates(client_ca.read_bytes(), str(client_ca))
        revocations = load_crl(crl.read_bytes(), str(crl))
        roots = [c for c in certificates if c.subject == c.issuer]
        verifier: ChainVerifier = CertificateVerifier(
            roots=roots, intermediates=[c for c in certificates if c.subject != c.issuer],
            crls=[revocations], trust_domain=trust_domain, crl_path=crl)
    except OSError as exc:
        raise IdentitySetupError(f"{exc.filename}: cannot read: {exc.strerror}") from None
    except PKIError as exc:
        raise IdentitySetupError(f"tls.client_ca / tls.crl: {exc}") from None
    return verifier


def build_authenticator(
    config: GatewayConfig,
    certificates: Path | ChainVerifier | None = None,
    *,
    issuer_options: Mapping[str, IssuerOptions] | None = None,
    jwks_ttl: float = 300.0,
    jwks_cooldown: float = 10.0,
    clock: Clock = time.monotonic,
) -> GatewayAuthenticator:
    """Build the Authenticator for `config`.

    `certificates` is the CA directory (loaded with `pki.verify.CertificateVerifier
    .from_ca_dir(dir, config.trust_domain)`) or a ready verifier; without it the verifier
    is built from `tls.client_ca` (PEM bundle: self-signed ones are roots, the rest
    intermediates) and `tls.crl`. One of them is needed when `tls.client_cert` is not `off`
    or `tls.trusted_xfcc_from` is not empty. Raises
    IdentitySetupError when the configuration cannot be served. HTTP sessions are created
    lazily on first use; call `close()` on shutdown.
    """
    options = dict(issuer_options or {})
    unknown = set(options) - {issuer.issuer for issuer in config.identity.oidc}
    if unknown:
        raise IdentitySetupError(f"issuer options for unconfigured issuer(s): {sorted(unknown)}")
    tokens: BearerVerifier | None = None
    if config.identity.oidc:
        policies = []
        for entry in config.identity.oidc:
            extra = options.get(entry.issuer) or _options_from_entry(entry)
            policies.append(IssuerPolicy(
                issuer=entry.issuer, audience=entry.audience, algorithms=entry.algorithms,
                jwks_uri=entry.jwks_uri, require_typ=extra.require_typ,
                required_claims=extra.required_claims, leeway=extra.leeway,
                claims=extra.claims,
            ))
        tokens = BearerVerifier.create(policies, ttl=jwks_ttl, cooldown=jwks_cooldown,
                                       clock=clock)
    tls = config.tls
    mode = tls.client_cert if tls is not None else "off"
    verifier = build_chain_verifier(config, certificates)
    cert_auth: CertificateAuthenticator | None = None
    if tls is not None and verifier is not None:
        cert_auth = CertificateAuthenticator(verifier,
                                             trusted_xfcc_from=tls.trusted_xfcc_from)
    return GatewayAuthenticator(tokens=tokens, certificates=cert_auth, client_cert=mode)


def build_chain_verifier(config: GatewayConfig,
                         certificates: Path | ChainVerifier | None = None,
                         ) -> ChainVerifier | None:
    """The client-certificate verifier `build_authenticator` uses (None: none needed).

    `certificates` as there. The runtime builds it first so that it can also reload the
    verifier's CRL while running (gateway/ingress/crl_watch.py).
    """
    tls = config.tls
    if tls is None or (tls.client_cert == "off" and not tls.trusted_xfcc_from):
        return None
    if isinstance(certificates, Path):
        return _verifier_from_dir(certificates, config.trust_domain)
    if certificates is not None:
        return certificates
    if tls.client_ca is not None:
        return _verifier_from_files(tls.client_ca, tls.crl, config.trust_domain)
    raise IdentitySetupError(
        "tls.trusted_xfcc_from is set, so tls.client_ca (or a CA directory) is "
        "needed to verify the forwarded certificates"
    )
