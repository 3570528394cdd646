"""The control plane: a FastAPI app over the store for SOC staff, officers and the monitor.

`build_app(config, store=..., authenticator=...)` assembles it; `serve_control` runs it on
uvicorn at `listen.control`; `run` is the blocking entry of `zonegate serve --role
control|all`. Errors: see errors.py. Endpoints and roles: docs/control.md.
"""

from gateway.control.access import ACCESS, Principal
from gateway.control.app import build_app
from gateway.control.errors import ApiProblem, ControlError, ControlSetupError
from gateway.control.server import run, serve_control

__all__ = [
    "ACCESS",
    "ApiProblem",
    "ControlError",
    "ControlSetupError",
    "Principal",
    "build_app",
    "run",
    "serve_control",
]
