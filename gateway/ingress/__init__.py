"""The ingress data plane: zone routing, the PEP core, response DLP, the aiohttp shell."""

from gateway.ingress.app import Listener, build_gateway, start_listener, zone_table
from gateway.ingress.assertion import AssertionSigner
from gateway.ingress.core import DeviceFacts, Forward, RequestFacts, Respond, enforce
from gateway.ingress.devices import DeviceTrustSource, NoQuarantine, QuarantineFileSource
from gateway.ingress.dlp import Inspection, MaskingInspector, ResponseInspector, Uninspectable
from gateway.ingress.errors import (
    AmbiguousPath,
    DeviceTrustUnavailable,
    IngressError,
    IngressSetupError,
    RequestRejected,
)
from gateway.ingress.options import GatewayRuntimeOptions
from gateway.ingress.paths import NormalisedTarget, normalise_target
from gateway.ingress.routing import ZoneRoute, ZoneTable
from gateway.ingress.server import JWKS_PATH, IngressGateway

__all__ = [
    "JWKS_PATH",
    "AmbiguousPath",
    "AssertionSigner",
    "DeviceFacts",
    "DeviceTrustSource",
    "DeviceTrustUnavailable",
    "Forward",
    "GatewayRuntimeOptions",
    "IngressError",
    "IngressGateway",
    "IngressSetupError",
    "Inspection",
    "Listener",
    "MaskingInspector",
    "NoQuarantine",
    "NormalisedTarget",
    "QuarantineFileSource",
    "RequestFacts",
    "RequestRejected",
    "Respond",
    "ResponseInspector",
    "Uninspectable",
    "ZoneRoute",
    "ZoneTable",
    "build_gateway",
    "enforce",
    "normalise_target",
    "start_listener",
    "zone_table",
]
