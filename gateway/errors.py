"""The gateway's exception tree.

    GatewayError
    ├── ConfigError          configuration file missing, unreadable or invalid
    └── NotImplementedYet    a planned verb or feature that has not landed

Every message is written for the person who must act on it and names the file, field or
argument at fault. The CLI prints it on one line and exits 2.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration cannot be used; the message names the file and the field path."""


class NotImplementedYet(GatewayError):
    """A planned feature that has not landed; never a fake result."""
