"""Identity: OIDC JWT bearer tokens, mTLS client certificates, trusted XFCC.

The data plane uses the `Authenticator` port (types.py); `build_authenticator(config, ca)`
returns the implementation. Errors: see errors.py.
"""

from gateway.identity.authenticator import GatewayAuthenticator
from gateway.identity.build import IssuerOptions, build_authenticator, build_chain_verifier
from gateway.identity.claims import ClaimMapping
from gateway.identity.errors import IdentityError, IdentitySetupError, InvalidCredentials
from gateway.identity.tokens import IssuerPolicy
from gateway.identity.types import (
    ANONYMOUS,
    Authenticated,
    Authenticator,
    PeerCertificate,
    Presented,
    Subject,
)

__all__ = [
    "ANONYMOUS",
    "Authenticated",
    "Authenticator",
    "ClaimMapping",
    "GatewayAuthenticator",
    "IdentityError",
    "IdentitySetupError",
    "InvalidCredentials",
    "IssuerOptions",
    "IssuerPolicy",
    "PeerCertificate",
    "Presented",
    "Subject",
    "build_authenticator",
    "build_chain_verifier",
]
