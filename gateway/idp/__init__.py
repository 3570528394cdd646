"""A development OIDC provider (`zonegate idp run`): never for production.

Discovery, JWKS with safe key rotation, and a token endpoint (client_credentials for
configured clients, password grant for configured demo users) issuing RFC 9068 access
tokens signed ES256 (or RS256) with authlib.jose.
"""

from gateway.idp.config import IdPConfig, demo_config, load_idp_config, parse_idp_config
from gateway.idp.errors import IdPConfigError, IdPError, OAuthError
from gateway.idp.passwords import hash_password, verify_password
from gateway.idp.server import DevIdP

__all__ = [
    "DevIdP",
    "IdPConfig",
    "IdPConfigError",
    "IdPError",
    "OAuthError",
    "demo_config",
    "hash_password",
    "load_idp_config",
    "parse_idp_config",
    "verify_password",
]
