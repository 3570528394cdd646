"""The egress proxy's exception tree.

    GatewayError
    └── EgressError            the egress proxy cannot be set up as configured
        └── EgressUnavailable  a lookup the decision needs failed (inventory, quarantine):
                               the request is refused (503), never let through
"""

from __future__ import annotations

from gateway.errors import GatewayError


class EgressError(GatewayError):
    """The egress proxy cannot start or run as configured."""


class EgressUnavailable(EgressError):
    """Something a decision needs is unavailable now; the request is refused."""
