"""The control plane's exception tree.

    ControlError
    ├── ControlSetupError    the control plane cannot be built or served as configured
    ├── ApiProblem           a request the API refuses; carries the HTTP status and a
    │                        stable kebab-case `code`, rendered as application/problem+json
    └── PolicyServiceError   the policy lifecycle refuses (`code` as above)
        ├── UploadRefused    an upload that cannot even be read; nothing stored
        │   └── UploadTooLarge   over one of the upload limits
        └── NotReady         the operation needs state that is not there

Store, PKI, policy and audit errors raised under a request are mapped to problems by
`gateway.control.problems`; nothing reaches the client as a stack trace.
"""

from __future__ import annotations

from gateway.errors import GatewayError


class ControlError(GatewayError):
    """Base of every error the control plane raises on purpose."""


class ControlSetupError(ControlError):
    """The configuration or the files it names cannot be served; the message says which."""


class ApiProblem(ControlError):
    """A refusal of one request: HTTP `status`, stable `code`, and a human `detail`."""

    def __init__(self, status: int, code: str, detail: str,
                 extra: dict[str, object] | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = dict(extra or {})


class PolicyServiceError(ControlError):
    """Base of the policy service's refusals."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UploadRefused(PolicyServiceError):
    """An upload that cannot even be read (size, names, archive, encoding); nothing stored."""


class UploadTooLarge(UploadRefused):
    """An upload over one of the `UploadLimits`."""


class NotReady(PolicyServiceError):
    """The operation needs state that is not there (no active policy, no shadow, no log)."""
