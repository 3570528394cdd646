"""The `embedded` adapter: Rego evaluated in process by regorus.

A `CompiledPolicy` is the immutable state for one policy source: the decision rule is
resolved and checked once (prepared), and each thread gets its own compiled regorus engine
(regorus engines may not cross threads). `EmbeddedEngine` holds one reference to the policy
in force; `activate` swaps it atomically (the hot reloader calls it).

Evaluation is inline on the event loop: measured at about 10-30 µs per decision for the
shipped policy (bench/pdp.py), far below what would be worth a thread hop.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import regorus

from gateway.pdp.port import (
    Decision,
    JSONObject,
    JSONValue,
    PDPUnavailable,
    PolicyLoadError,
)
from gateway.pdp.rego import compile_policy, engine_message, new_engine
from gateway.pdp.source import PolicySource, load_source

DEFAULT_DECISION = "zonegate/authz/decision"
# built once: json.dumps with options builds a new encoder on every call
_INPUT_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def rule_path(decision: str) -> str:
    """``zonegate/authz/decision`` -> ``data.zonegate.authz.decision``."""
    parts = [p for p in decision.strip("/").split("/") if p]
    if not parts or not all(p.replace("_", "a").replace("-", "a").isalnum() for p in parts):
        raise PolicyLoadError(f"decision path {decision!r} is not a/b/c of Rego names")
    return "data." + ".".join(parts)


class CompiledPolicy:
    """One policy source, compiled and with its decision rule checked; immutable."""

    def __init__(
        self,
        source: PolicySource,
        decision: str = DEFAULT_DECISION,
        *,
        bind: bool = True,
        builtins_checked: bool = False,
    ) -> None:
        self.source = source
        self.decision = decision.strip("/")
        self.rule = rule_path(decision)
        self._serving = source.without_tests()
        self._engine: regorus.Engine | None = None
        self._owner: int | None = None
        # the first engine is fully checked (builtins) unless that was done already for this
        # very source; later engines only re-parse
        engine = new_engine(self._serving) if builtins_checked else compile_policy(self._serving)
        try:
            engine.set_input_json("{}")
            empty = engine.eval_rule(self.rule)
        except RuntimeError as exc:
            message = engine_message(exc)
            if "not a valid rule path" in message:
                raise PolicyLoadError(f"{source.origin}: no rule {self.rule}") from None
            raise PolicyLoadError(
                f"{source.origin}: {self.rule} fails on an empty input: {message}"
            ) from None
        if empty is None:
            raise PolicyLoadError(
                f"{source.origin}: {self.rule} is undefined for an empty input; "
                "give it a default so that it denies"
            )
        if bind:
            self._engine, self._owner = engine, threading.get_ident()

    @property
    def revision(self) -> str:
        """The source's revision."""
        return self.source.revision

    def engine(self) -> regorus.Engine:
        """The engine for this thread.

        regorus engines must be used and dropped on the thread that made them, so one
        engine is kept for the first thread that asks (the event loop's); any other thread
        gets a fresh engine it drops itself.
        """
        me = threading.get_ident()
        if self._engine is None:
            self._engine, self._owner = new_engine(self._serving), me
        if self._owner == me:
            return self._engine
        return new_engine(self._serving)

    def evaluate_raw(self, input_doc: JSONObject) -> JSONValue:
        """The raw result of the decision rule; raises `PDPUnavailable` on any failure."""
        try:
            text = _INPUT_ENCODER.encode(input_doc)
        except (TypeError, ValueError) as exc:
            raise PDPUnavailable(f"policy input is not JSON: {exc}") from None
        engine = self.engine()
        try:
            engine.set_input_json(text)
            result: JSONValue = engine.eval_rule(self.rule)
        except RuntimeError as exc:
            raise PDPUnavailable(f"policy evaluation failed: {engine_message(exc)}") from None
        return plain_value(result)


def plain_value(value: object) -> JSONValue:
    """regorus returns sets as Python sets; turn them into sorted lists (OPA's JSON)."""
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain_value(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def decision_from_raw(raw: JSONValue) -> Decision:
    """Undefined is unavailable (503); anything else goes through `Decision.from_result`."""
    if raw is None:
        raise PDPUnavailable("policy decision is undefined")
    return Decision.from_result(raw)


class EmbeddedEngine:
    """`PolicyEngine` evaluating in process; `activate` swaps the policy in force."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self._policy = policy

    @classmethod
    def from_path(
        cls,
        path: Path,
        decision: str = DEFAULT_DECISION,
        *,
        verification_key: bytes | None = None,
    ) -> EmbeddedEngine:
        """Load a bundle directory or archive and prepare its decision."""
        source = load_source(path, verification_key=verification_key)
        return cls(CompiledPolicy(source, decision))

    @property
    def revision(self) -> str:
        """The revision of the policy in force."""
        return self._policy.revision

    @property
    def policy(self) -> CompiledPolicy:
        """The compiled policy in force."""
        return self._policy

    def activate(self, policy: CompiledPolicy) -> None:
        """Make `policy` the one in force (one reference swap)."""
        self._policy = policy

    def decide(self, input_doc: JSONObject) -> Decision:
        """Synchronous evaluation (the CLI and replay use it)."""
        return decision_from_raw(self._policy.evaluate_raw(input_doc))

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        """Evaluate the decision for `input_doc` inline (tens of microseconds)."""
        return self.decide(input_doc)

    async def close(self) -> None:
        """Nothing to release: engines are freed with the policy."""
