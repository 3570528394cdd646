"""The demo's exception tree.

    GatewayError
    └── DemoError            the demo cannot run (the CLI prints it on one line, exit 2)
        ├── PortInUse        a fixed port is taken; the message names it and the way out
        ├── StateDirError    --state-dir is not an empty, writable folder
        └── StartupFailed    a component did not start; the message names it and its log
"""

from __future__ import annotations

from gateway.errors import GatewayError


class DemoError(GatewayError):
    """Base of every error the demo raises on purpose."""


class PortInUse(DemoError):
    """A fixed port the demo needs is already taken."""


class StateDirError(DemoError):
    """The state folder cannot be used."""


class StartupFailed(DemoError):
    """A component (IdP, upstream, gateway, control plane, monitor) did not start in time."""
