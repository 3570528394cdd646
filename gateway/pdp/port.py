"""The PolicyEngine port (DESIGN.md contract 3).

The gateway builds one `input` document (a plain JSON-able mapping, see contract 3), asks an
engine for `data.zonegate.authz.decision`, and gets a `Decision`. Anything that is not a
well-formed decision (undefined, an evaluation error, a timeout, an unreachable PDP) is a
deny: adapters raise `PDPUnavailable` for an engine that cannot answer, and
`Decision.from_result` turns every malformed result into a deny with a stable reason.

    PDPError
    ├── PolicyLoadError   a bundle that does not parse, compile or pass its tests
    │   └── BundleError   a bundle archive that is malformed, unsigned or tampered with
    └── PDPUnavailable    the engine cannot answer now (remote down, timeout, crash)

Extensions (compatible): `Decision.decision_id` (set by the decision log wrapper, echoed in
the gateway's 403 body) and `BundleError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.errors import GatewayError

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject = dict[str, JSONValue]
LEVELS = ("L1", "L2", "L3", "L4", "L5", "L6")


class PDPError(GatewayError):
    """Base of the policy decision point's errors."""


class PolicyLoadError(PDPError):
    """A policy or bundle that cannot be activated; the one in force stays."""


class BundleError(PolicyLoadError):
    """A bundle archive that is malformed, badly signed or does not match its signature."""


class BundleTooLarge(BundleError):
    """A bundle archive that unpacks to more than its limit allows."""


class PDPUnavailable(PDPError):
    """The engine cannot answer; the gateway answers 503 and denies."""


@dataclass(frozen=True, slots=True)
class Obligations:
    """What an allow carries with it: the caller's response ceiling and extra duties."""

    max_level: str | None = None
    step_up: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: int | None = None  # requests per minute for this subject/device, if any
    audit: bool = False  # always audit in full (break-glass)


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy decision: allow or deny, stable kebab-case reasons, obligations."""

    allow: bool
    reasons: tuple[str, ...] = ()
    obligations: Obligations = field(default_factory=Obligations)
    decision_id: str = ""  # set by the decision log; "" when not logged

    def to_result(self) -> JSONObject:
        """The decision as the policy's JSON result (contract 3 shape)."""
        obligations: JSONObject = {
            "max_level": self.obligations.max_level,
            "step_up": self.obligations.step_up,
            "headers": dict(self.obligations.headers),
            "audit": self.obligations.audit,
        }
        if self.obligations.rate_limit is not None:
            obligations["rate_limit"] = self.obligations.rate_limit
        return {"allow": self.allow, "reasons": list(self.reasons), "obligations": obligations}

    @classmethod
    def deny(cls, *reasons: str) -> Decision:
        """A deny with the given reason codes."""
        return cls(allow=False, reasons=reasons)

    @classmethod
    def from_result(cls, result: object) -> Decision:
        """Turn a raw engine result into a Decision; anything malformed is a deny."""
        if not isinstance(result, dict):
            return cls.deny("policy-undefined" if result is None else "policy-malformed")
        allow = result.get("allow")
        reasons = result.get("reasons", [])
        obligations = result.get("obligations", {})
        if (
            not isinstance(allow, bool)
            or not isinstance(reasons, list)
            or not all(isinstance(r, str) for r in reasons)
            or not isinstance(obligations, dict)
        ):
            return cls.deny("policy-malformed")
        max_level = obligations.get("max_level")
        headers = obligations.get("headers", {})
        rate = obligations.get("rate_limit")
        if (
            (max_level is not None and max_level not in LEVELS)
            or not isinstance(obligations.get("step_up", False), bool)
            or not isinstance(headers, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
            or (rate is not None and (not isinstance(rate, int) or isinstance(rate, bool)))
        ):
            return cls.deny("policy-malformed")
        return cls(
            allow=allow,
            reasons=tuple(reasons),
            obligations=Obligations(
                max_level=max_level,
                step_up=bool(obligations.get("step_up", False)),
                headers=dict(headers),
                rate_limit=rate,
                audit=bool(obligations.get("audit", False)),
            ),
        )


async def readiness(engine: object) -> str | None:
    """Why `engine` cannot decide right now (None: it can).

    An engine that can become unready on its own (a remote OPA without its bundle, or
    down) has ``async def probe() -> str | None``; wrappers expose their inner engine as
    `inner`. An in-process engine that holds a compiled policy is always ready.
    """
    while engine is not None:
        probe = getattr(engine, "probe", None)
        if callable(probe):
            problem: str | None = await probe()
            return problem
        engine = getattr(engine, "inner", None)
    return None


class PolicyEngine(Protocol):
    """One-method port to a policy decision point, plus lifecycle.

    `evaluate` returns the decision for one input. It never raises for a policy that
    merely denies; it raises `PDPUnavailable` when no answer can be had (the caller
    answers 503). Implementations are safe to call concurrently from one event loop.
    """

    @property
    def revision(self) -> str:
        """The revision of the policy in force (bundle manifest revision or content hash)."""
        ...

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        """Evaluate `data.zonegate.authz.decision` for `input_doc`."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
