"""zonegate gateway: identity, policy enforcement, proxying, control plane and CLI.

Nothing in pki/, classify/ or monitor/ imports this package; it may use all of them.
"""

__version__ = "0.1.0"
