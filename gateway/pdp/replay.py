"""`zonegate policy replay`: re-decide logged inputs under a candidate policy.

Reads a decision log (JSONL of OPA-shaped events, rotated files included when named),
evaluates each logged ``input`` with the candidate, and lists what would change:
``allow->deny``, ``deny->allow``, ``reasons`` (still the same verdict, other reasons) and
``error`` (the candidate cannot decide). Masked fields were erased from the log, so a
policy that reads them sees them missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.pdp.embedded import CompiledPolicy, decision_from_raw
from gateway.pdp.port import Decision, JSONObject, PDPError, PDPUnavailable


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """One event read back from a decision log."""

    line: int
    decision_id: str
    input: JSONObject
    result: Decision | None  # None when the logged evaluation failed


@dataclass(frozen=True, slots=True)
class Change:
    """A logged decision the candidate would decide differently."""

    decision_id: str
    line: int
    kind: str  # "allow->deny" | "deny->allow" | "reasons" | "error"
    before: Decision | None
    after: Decision | None
    detail: str
    input: JSONObject


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """How many events were replayed and which would change."""

    total: int
    changes: tuple[Change, ...]

    def count(self, kind: str) -> int:
        """How many changes are of `kind`."""
        return sum(1 for c in self.changes if c.kind == kind)


def read_log(path: Path) -> Iterator[LoggedDecision]:
    """Events of a JSONL decision log; a malformed line raises `PDPError` naming it."""
    try:
        handle = path.open("rb")  # decoded per line, so a bad byte names its line
    except OSError as exc:
        raise PDPError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise PDPError(f"{path}:{number}: not UTF-8 (byte {exc.start})") from None
            except json.JSONDecodeError as exc:
                raise PDPError(f"{path}:{number}: not a JSON event: {exc}") from None
            except RecursionError:
                raise PDPError(f"{path}:{number}: JSON nested too deeply") from None
            if not isinstance(event, dict) or not isinstance(event.get("input"), dict):
                raise PDPError(f"{path}:{number}: not a decision event (no input object)")
            result = event.get("result")
            before = Decision.from_result(result) if "result" in event else None
            yield LoggedDecision(number, str(event.get("decision_id", "")), event["input"],
                                 before)


def replay(path: Path, candidate: CompiledPolicy) -> ReplayReport:
    """Re-evaluate every logged input under `candidate`."""
    total = 0
    changes: list[Change] = []
    for logged in read_log(path):
        total += 1
        try:
            after: Decision | None = decision_from_raw(candidate.evaluate_raw(logged.input))
            error = ""
        except PDPUnavailable as exc:
            after, error = None, str(exc)
        change = _compare(logged, after, error)
        if change is not None:
            changes.append(change)
    return ReplayReport(total, tuple(changes))


def _compare(logged: LoggedDecision, after: Decision | None, error: str) -> Change | None:
    before = logged.result

    def made(kind: str, detail: str) -> Change:
        return Change(logged.decision_id, logged.line, kind, before, after, detail, logged.input)

    if after is None:
        return made("error", error) if before is not None else None
    was_allowed = before is not None and before.allow
    if was_allowed and not after.allow:
        return made("allow->deny", ", ".join(after.reasons))
    if not was_allowed and after.allow:
        return made("deny->allow", ", ".join(before.reasons) if before else "was an error")
    if before is not None and before.reasons != after.reasons:
        return made("reasons", f"{list(before.reasons)} -> {list(after.reasons)}")
    return None
