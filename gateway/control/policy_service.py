"""The policy lifecycle behind `/api/policies`: upload, check, test, activate, roll back,
diff, shadow and replay. Plain Python (no FastAPI), so the gateway and tests use it too.

An upload (a bundle ``.tar.gz`` or a set of ``.rego``/``.json`` files) is first read
defensively: sizes bounded, names plain and relative, nothing but Rego, JSON and the
manifest. What cannot be read is refused (`UploadRefused`) and nothing is stored. What can
be read is checked (parse, lint, unknown builtins, the decision rule) and its
``*_test.rego`` run; it is then stored as a revision whose tests passed (and activated when
asked) or failed, with the failures. A failing upload is stored for the record but never
touches the policy in force: the store itself refuses to activate it.

The store keeps a canonical unsigned bundle per revision (rebuilt by
`gateway.pdp.bundle.bundle_members`, so uploads of either kind look alike); the active one
is also written to `publish_path`, signed with the control plane's key when one is set,
where gateways' `PolicyReloader` and OPA sidecars pick it up.

regorus engines may only be used and dropped on the thread that made them, so nothing
here keeps an engine: sources are plain data, each call compiles what it needs in its own
thread, and `shadow_compare` keeps its compiled pair in a thread-local slot.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import re
import tarfile
import tempfile
import threading
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# the service's refusals live in the package's exception tree; re-exported from here
from gateway.control.errors import NotReady as NotReady
from gateway.control.errors import PolicyServiceError as PolicyServiceError
from gateway.control.errors import UploadRefused as UploadRefused
from gateway.control.errors import UploadTooLarge as UploadTooLarge
from gateway.control.policy_upload import (
    check_manifest,
    check_name,
    check_unicode,
    gunzip_bounded,
)
from gateway.pdp.bundle import (
    SIGNATURES,
    bundle_members,
    members_from_tar,
    sign_members,
    unpacked_limit,
    verify_members,
    write_archive,
)
from gateway.pdp.embedded import DEFAULT_DECISION, CompiledPolicy, decision_from_raw
from gateway.pdp.lint import check_source
from gateway.pdp.nesting import PolicyTooNested
from gateway.pdp.port import Decision, JSONObject, PDPError, PDPUnavailable, PolicyLoadError
from gateway.pdp.replay import read_log, replay
from gateway.pdp.source import PolicySource, source_from_files
from gateway.pdp.testing import run_tests
from gateway.store import (
    DecisionRecord,
    PolicyActivationRecord,
    PolicyRevisionRecord,
    Store,
    StoreError,
)

log = logging.getLogger("zonegate.control.policies")
T = TypeVar("T")
Status = Literal["active", "accepted", "rejected"]
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+\-]{0,127}$")  # the store's rule
_MAX_PRINTS = 20
_MAX_DISAGREEMENTS = 200


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Bounds on one upload, checked before anything is parsed."""

    max_archive_bytes: int = 4 * 1024 * 1024  # the compressed .tar.gz or the request body
    max_file_bytes: int = 1024 * 1024
    max_total_bytes: int = 8 * 1024 * 1024  # all files, unpacked
    max_files: int = 500


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """What became of one upload: the stored revision, its status and why."""

    record: PolicyRevisionRecord
    status: Status
    failures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileDiff:
    """Per-file differences between two revisions (unified diffs)."""

    revision: str
    against: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: dict[str, str]


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One input on which the shadow candidate decides otherwise than the active policy."""

    kind: str  # "allow->deny" | "deny->allow" | "reasons" | "error"
    active: Decision | None
    shadow: Decision | None
    detail: str
    decision_id: str = ""
    # live: a decision as it arrived in the index (shadow sweep); log: its input from the
    # decision log; recorded: the input the gateway indexed; index: an input rebuilt
    input_source: str = "live"  # "live" | "log" | "recorded" | "index"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class ShadowState:
    """The shadow candidate (if any), who set it, and what it has disagreed on so far."""

    revision: str | None
    active_revision: str | None
    set_by: str | None
    set_at: datetime | None
    compared: int
    disagreements: tuple[Disagreement, ...]


@dataclass(frozen=True, slots=True)
class RecordedInput:
    """A recorded decision with the input to re-evaluate: the one the gateway indexed
    with it, else from the decision log, else rebuilt from the index row."""

    decision_id: str
    input: JSONObject
    recorded: Decision | None
    source: Literal["recorded", "log", "index"]


@dataclass(frozen=True, slots=True)
class ComparisonReport:
    """Shadow or replay over recorded decisions."""

    revision: str
    against: str
    total: int
    from_log: int
    changes: tuple[Disagreement, ...]
    rebuilt: int = 0  # decisions whose input had to be rebuilt: indicative results only


@dataclass(frozen=True, slots=True)
class _ThreadPair:
    key: tuple[str, str]  # (active bundle sha256, shadow revision)
    active: CompiledPolicy
    shadow: CompiledPolicy


def status_of(record: PolicyRevisionRecord) -> Status:
    """``active``, ``accepted`` (tests passed, not in force) or ``rejected``."""
    if record.active:
        return "active"
    return "accepted" if record.tests_passed else "rejected"


def _isolated(work: Callable[[], T]) -> T | str:
    # a PolicyLoadError raised under regorus carries frames holding engines; keep only the
    # message so that nothing bound to this thread outlives the call (see gateway.pdp.reload)
    try:
        return work()
    except PDPError as exc:
        message = str(exc)
        traceback.clear_frames(exc.__traceback__)
        return message


def _disagreement(active: Decision | None, shadow: Decision | None, error: str
                  ) -> tuple[str, str] | None:
    if shadow is None or active is None:
        return ("error", error) if shadow is not active else None
    if active.allow and not shadow.allow:
        return "allow->deny", ", ".join(shadow.reasons)
    if not active.allow and shadow.allow:
        return "deny->allow", ", ".join(active.reasons)
    if active.reasons != shadow.reasons:
        return "reasons", f"{list(active.reasons)} -> {list(shadow.reasons)}"
    return None


def _decide(policy: CompiledPolicy, input_doc: JSONObject) -> tuple[Decision | None, str]:
    try:
        return decision_from_raw(policy.evaluate_raw(input_doc)), ""
    except PDPUnavailable as exc:
        return None, str(exc)


class PolicyService:
    """The policy lifecycle over one store; safe to share between threads."""

    def __init__(self, store: Store, *, decision: str = DEFAULT_DECISION,
                 limits: UploadLimits | None = None, publish_path: Path | None = None,
                 signing_key: bytes | None = None, key_id: str | None = None,
                 verification_key: bytes | None = None, decision_log: Path | None = None,
                 zone_prefixes: Mapping[str, str] | None = None,
                 require_tests: bool = True) -> None:
        self.store = store
        self.decision = decision
        self.limits = limits or UploadLimits()
        self.publish_path = publish_path
        self.signing_key = signing_key
        self.key_id = key_id
        self.verification_key = verification_key
        self.decision_log = decision_log
        self.zone_prefixes = dict(zone_prefixes or {})
        self.require_tests = require_tests
        self._lock = threading.Lock()
        self._sources: dict[str, PolicySource] = {}  # by bundle sha256: immutable
        self._shadow: tuple[str, str, datetime] | None = None  # (revision, by, at)
        self._active_sha: str | None = None
        self._compared = 0
        self._disagreements: deque[Disagreement] = deque(maxlen=_MAX_DISAGREEMENTS)
        self._local = threading.local()
        self._changes = threading.Lock()  # one shadow change (audit, then effect) at a time

    # --- upload ------------------------------------------------------------------------

    def upload_archive(self, archive: bytes, actor: str, *, revision: str | None = None,
                       activate: bool = True) -> UploadOutcome:
        """Read, check, test and store a bundle ``.tar.gz`` (signed ones are verified)."""
        limits = self.limits
        if len(archive) > limits.max_archive_bytes:
            raise UploadTooLarge("too-large", f"the bundle is {len(archive)} bytes, more than "
                                 f"{limits.max_archive_bytes}")
        # inflated once, bounded by the upload limits, and read from memory: tarfile never
        # sees a stream longer than they allow, whatever its headers declare
        tar = gunzip_bounded(archive, unpacked_limit(limits.max_total_bytes, limits.max_files))
        try:
            members = members_from_tar(tar, "the bundle")
            if SIGNATURES in members:
                if self.verification_key is None:
                    raise UploadRefused("signature-unverifiable",
                                        "the bundle is signed but this control plane has "
                                        "no verification key")
                verify_members("the bundle", members, self.verification_key, key_id=None,
                               scope="")
        except PDPError as exc:
            raise UploadRefused("bad-bundle", str(exc)) from None
        files = {name: raw for name, raw in members.items() if name != SIGNATURES}
        return self._accept(files, "bundle", actor, revision, activate)

    def upload_files(self, files: Mapping[str, bytes | str], actor: str, *,
                     revision: str | None = None, activate: bool = True) -> UploadOutcome:
        """Check, test and store a set of files laid out as a policy directory."""
        raw: dict[str, bytes] = {}
        for name, body in files.items():
            check_name(name)
            try:
                raw[name] = body.encode("utf-8") if isinstance(body, str) else body
            except UnicodeEncodeError as exc:  # a lone surrogate ("\udc80" in a JSON string)
                raise UploadRefused("not-utf8", f"{name}: not UTF-8 text (character "
                                    f"{exc.start})") from None
        return self._accept(raw, "directory", actor, revision, activate)

    def _accept(self, files: Mapping[str, bytes], layout: Literal["directory", "bundle"],
                actor: str, revision: str | None, activate: bool) -> UploadOutcome:
        self._check_files(files)
        if revision is not None and not _REVISION.match(revision):
            raise UploadRefused("bad-revision",
                                f"revision {revision!r} must be 1-128 of [A-Za-z0-9._:+-]")
        try:
            source = source_from_files("upload", files, layout=layout)
        except PolicyTooNested as exc:
            raise UploadRefused("too-deeply-nested", str(exc)) from None
        except PolicyLoadError as exc:
            raise UploadRefused("unreadable-policy", str(exc)) from None
        check_manifest(source.manifest)
        check_unicode(source)
        name = revision or source.revision
        if not _REVISION.match(name):
            raise UploadRefused("bad-revision", f"the manifest revision {name!r} must be "
                                "1-128 of [A-Za-z0-9._:+-]; give ?revision=")
        members = bundle_members(source, revision=name)
        checked = _isolated(lambda: self._check_and_test(source))
        failures, results = (([checked], {}) if isinstance(checked, str) else checked)
        passed = not failures
        results["failures"] = list(failures)
        results["files"] = sorted(files)
        record = self.store.policies.add(name, _archive(members), actor, tests_passed=passed,
                                         test_results=results)
        if passed and activate:
            record = self.activate(name, actor)
        return UploadOutcome(record, status_of(record), tuple(failures))

    def _check_files(self, files: Mapping[str, bytes]) -> None:
        limits = self.limits
        if not files:
            raise UploadRefused("no-files", "the upload holds no files")
        if len(files) > limits.max_files:
            raise UploadTooLarge("too-large", f"{len(files)} files, more than {limits.max_files}")
        total = 0
        for name, raw in files.items():
            check_name(name)
            if len(raw) > limits.max_file_bytes:
                raise UploadTooLarge("too-large", f"{name}: {len(raw)} bytes, more than "
                                     f"{limits.max_file_bytes}")
            total += len(raw)
        if total > limits.max_total_bytes:
            raise UploadTooLarge("too-large", f"{total} bytes in all, more than "
                                 f"{limits.max_total_bytes}")

    def _check_and_test(self, source: PolicySource) -> tuple[list[str], dict[str, object]]:
        findings = check_source(source)
        results: dict[str, object] = {"findings": [
            {"file": f.file, "line": f.line, "code": f.code, "severity": f.severity,
             "message": f.message} for f in findings]}
        failures = [str(f) for f in findings if f.severity == "error"]
        if failures:
            return failures, results
        CompiledPolicy(source, self.decision, bind=False)  # the decision rule, prepared
        if not source.test_modules:
            if self.require_tests:
                failures.append("the policy has no tests (*_test.rego); upload them with it")
            return failures, results
        report = run_tests(source)
        results["tests"] = {
            "summary": {s: report.count(s) for s in ("pass", "fail", "error", "skip")},
            "results": [{"rule": r.rule, "status": r.status, "detail": r.detail,
                         "prints": list(r.prints[:_MAX_PRINTS])} for r in report.results],
        }
        failures += [f"{r.rule}: {r.status}" + (f": {r.detail}" if r.detail else "")
                     for r in report.results if r.status in ("fail", "error")]
        if not report.ok and not failures:
            failures.append("no test ran")
        return failures, results

    # --- activation --------------------------------------------------------------------

    def activate(self, revision: str, actor: str) -> PolicyRevisionRecord:
        """Put an accepted revision in force and publish it."""
        record = self.store.policies.activate(revision, actor)
        self.refresh()
        self.publish()
        return record

    def rollback(self, actor: str) -> PolicyRevisionRecord:
        """Go back to the revision in force before the current one, and publish it."""
        record = self.store.policies.rollback(actor)
        self.refresh()
        self.publish()
        return record

    def publish(self) -> Path | None:
        """Write the active bundle to `publish_path` (signed when a key is set)."""
        active = self.store.policies.active()
        if self.publish_path is None or active is None:
            return None
        write_archive(self.publish_path, self.published_members(active.revision))
        return self.publish_path

    def published_members(self, revision: str) -> dict[str, bytes]:
        """The bundle files of `revision` as published: signed when a key is set."""
        members = _members(self.store.policies.bundle(revision))
        if self.signing_key is not None:
            members[SIGNATURES] = sign_members(members, self.signing_key, key_id=self.key_id,
                                               algorithm=_algorithm(self.signing_key))
        return members

    def published_bundle(self) -> bytes:
        """The active bundle as an archive (what OPA sidecars download)."""
        active = self.store.policies.active()
        if active is None:
            raise NotReady("no-active-policy", "no policy revision is active")
        return _archive(self.published_members(active.revision))

    # --- reading -----------------------------------------------------------------------

    def revisions(self) -> tuple[PolicyRevisionRecord, ...]:
        """Every revision, newest first."""
        return self.store.policies.revisions()

    def history(self) -> tuple[PolicyActivationRecord, ...]:
        """Activations and rollbacks, newest first."""
        return self.store.policies.history()

    def get(self, revision: str) -> PolicyRevisionRecord:
        """One revision (NotFound from the store when absent)."""
        return self.store.policies.get(revision)

    def active(self) -> PolicyRevisionRecord | None:
        """The revision in force."""
        return self.store.policies.active()

    def source(self, revision: str) -> PolicySource:
        """The policy source of a stored revision (cached by content hash)."""
        record = self.store.policies.get(revision)
        with self._lock:
            cached = self._sources.get(record.sha256)
        if cached is not None:
            return cached
        loaded = source_from_files(f"revision {revision}", _members(
            self.store.policies.bundle(revision)), layout="bundle")
        with self._lock:
            self._sources[record.sha256] = loaded
        return loaded

    def diff(self, revision: str, against: str | None = None) -> FileDiff:
        """Unified diff per file from `against` (default: the active revision, or the one
        uploaded before `revision` when it is the active one) to `revision`."""
        if against is None:
            against = self._default_base(revision)
        new = _members(self.store.policies.bundle(revision))
        old = _members(self.store.policies.bundle(against))
        changed: dict[str, str] = {}
        for name in sorted(set(new) & set(old)):
            if new[name] == old[name]:
                continue
            lines = difflib.unified_diff(
                _text_lines(old[name]), _text_lines(new[name]),
                fromfile=f"{against}/{name}", tofile=f"{revision}/{name}")
            changed[name] = "".join(lines)
        return FileDiff(revision, against, tuple(sorted(set(new) - set(old))),
                        tuple(sorted(set(old) - set(new))), changed)

    def _default_base(self, revision: str) -> str:
        active = self.store.policies.active()
        if active is not None and active.revision != revision:
            return active.revision
        self.store.policies.get(revision)  # NotFound first
        ordered = [r.revision for r in self.store.policies.revisions()]  # newest first
        before = ordered[ordered.index(revision) + 1:]
        if not before:
            raise NotReady("nothing-to-diff", f"no revision before {revision!r} to diff against")
        return before[0]

    # --- shadow ------------------------------------------------------------------------

    def set_shadow(self, revision: str, actor: str) -> ShadowState:
        """Evaluate `revision` beside the active policy from now on (never enforced).

        Audited (``policy.shadow-set``) before it takes effect: a store that cannot record
        the change refuses it (StoreError) and the shadow stays as it was.
        """
        record = self.store.policies.get(revision)
        if not record.tests_passed:
            raise NotReady("policy-rejected",
                           f"revision {revision!r} failed its checks; it cannot shadow")
        self.source(revision)  # readable now, not on the first request
        active = self.store.policies.active()
        with self._changes:
            with self._lock:
                previous = self._shadow[0] if self._shadow else None
            self.store.audit.record(actor, "policy.shadow-set", f"policy:{revision}", {
                "active": active.revision if active else None, "replaces": previous})
            with self._lock:
                self._shadow = (revision, actor, datetime.now(UTC))
                self._compared = 0
                self._disagreements.clear()
        log.warning("policy shadow set to %s by %s", revision, actor)
        return self.shadow()

    def clear_shadow(self, actor: str) -> ShadowState:
        """Stop shadow evaluation; audited (``policy.shadow-clear``) when one was set."""
        with self._changes:
            with self._lock:
                current, compared = self._shadow, self._compared
                disagreements = len(self._disagreements)
            if current is not None:
                self.store.audit.record(actor, "policy.shadow-clear", f"policy:{current[0]}", {
                    "set_by": current[1], "set_at": current[2].isoformat(),
                    "compared": compared, "disagreements": disagreements})
            with self._lock:
                self._shadow = None
        log.warning("policy shadow cleared by %s", actor)
        return self.shadow()

    def restore_shadow(self) -> str | None:
        """Take up the shadow candidate the change audit says is set; its revision or None.

        The shadow lives in memory, so a restarted control plane would silently stop
        comparing. At start-up the latest ``policy.shadow-set`` or ``policy.shadow-clear``
        decides: a set one is restored with who set it and when, and the shadow sweep
        rebuilds its disagreements from the decisions indexed since then. A candidate
        whose revision is gone or cannot be read is not restored, and the log says why.
        """
        sets = self.store.audit.list(action="policy.shadow-set", limit=1).items
        if not sets:
            return None
        clears = self.store.audit.list(action="policy.shadow-clear", limit=1).items
        row = sets[0]
        if clears and clears[0].id > row.id:
            return None
        revision = row.target.removeprefix("policy:")
        try:
            if not self.store.policies.get(revision).tests_passed:
                raise NotReady("policy-rejected", f"revision {revision!r} failed its checks")
            self.source(revision)
        except (StoreError, PolicyServiceError, PDPError) as exc:
            log.error("policy shadow %s (set by %s at %s) not restored: %s", revision,
                      row.actor, row.at.isoformat(), exc)
            return None
        with self._changes, self._lock:
            if self._shadow is None:
                self._shadow = (revision, row.actor, row.at)
        log.warning("policy shadow %s restored (set by %s at %s)", revision, row.actor,
                    row.at.isoformat())
        return revision

    def shadow_candidate(self) -> tuple[str, datetime] | None:
        """(revision, set_at) of the shadow, without reading the store; None: no shadow."""
        with self._lock:
            return None if self._shadow is None else (self._shadow[0], self._shadow[2])

    def shadow(self) -> ShadowState:
        """The shadow candidate and the disagreements seen since it was set."""
        active = self.store.policies.active()
        with self._lock:
            shadow = self._shadow
            return ShadowState(
                revision=shadow[0] if shadow else None,
                active_revision=active.revision if active else None,
                set_by=shadow[1] if shadow else None, set_at=shadow[2] if shadow else None,
                compared=self._compared, disagreements=tuple(self._disagreements))

    def refresh(self) -> None:
        """Re-read which revision is active (another replica may have changed it)."""
        active = self.store.policies.active()
        with self._lock:
            self._active_sha = None if active is None else active.sha256

    def shadow_compare(self, input_doc: JSONObject, enforced: Decision | None = None,
                       *, decision_id: str = "") -> Disagreement | None:
        """Decide `input_doc` with the shadow candidate beside the active policy (or the
        decision the gateway `enforced`); the disagreement, if any, is also kept for the
        report. None when no shadow is set or both agree. Never enforces anything."""
        with self._lock:
            shadow = self._shadow
        if shadow is None:
            return None
        pair = self._compiled_pair(shadow[0])
        if pair is None:
            return None
        active_policy, shadow_policy = pair
        if enforced is None:
            enforced, _ = _decide(active_policy, input_doc)
        candidate, error = _decide(shadow_policy, input_doc)
        found = _disagreement(enforced, candidate, error)
        with self._lock:
            self._compared += 1
            if found is None:
                return None
            kind, detail = found
            seen = Disagreement(kind, enforced, candidate, detail, decision_id)
            self._disagreements.append(seen)
            return seen

    def _compiled_pair(self, shadow_revision: str) -> tuple[CompiledPolicy, CompiledPolicy] | None:
        with self._lock:
            active_sha = self._active_sha
        if active_sha is None:
            self.refresh()
            with self._lock:
                active_sha = self._active_sha
        if active_sha is None:
            return None
        slot: _ThreadPair | None = getattr(self._local, "pair", None)
        if slot is not None and slot.key == (active_sha, shadow_revision):
            return slot.active, slot.shadow
        active = self.store.policies.active()
        if active is None:
            return None
        slot = _ThreadPair((active.sha256, shadow_revision),
                           CompiledPolicy(self.source(active.revision), self.decision,
                                          builtins_checked=True),
                           CompiledPolicy(self.source(shadow_revision), self.decision,
                                          builtins_checked=True))
        self._local.pair = slot  # replaced, and so dropped, on this very thread
        return slot.active, slot.shadow

    def shadow_report(self, limit: int = 100) -> ComparisonReport:
        """Evaluate the shadow and the active policy over the last `limit` recorded
        decisions; each disagreement is listed (nothing is kept or enforced)."""
        with self._lock:
            shadow = self._shadow
        if shadow is None:
            raise NotReady("no-shadow", "no shadow policy is set")
        active = self.store.policies.active()
        if active is None:
            raise NotReady("no-active-policy", "no policy revision is active")
        recorded = self.recorded_inputs(limit)
        active_source, shadow_source = self.source(active.revision), self.source(shadow[0])

        def compare() -> list[Disagreement]:
            first = CompiledPolicy(active_source, self.decision, builtins_checked=True)
            second = CompiledPolicy(shadow_source, self.decision, builtins_checked=True)
            out = []
            for item in recorded:
                before, _ = _decide(first, item.input)
                after, error = _decide(second, item.input)
                found = _disagreement(before, after, error)
                if found is not None:
                    out.append(Disagreement(found[0], before, after, found[1],
                                            item.decision_id, item.source))
            return out

        changes = _isolated(compare)
        if isinstance(changes, str):
            raise NotReady("policy-unloadable", changes)
        return ComparisonReport(shadow[0], active.revision, len(recorded),
                                sum(1 for r in recorded if r.source == "log"), tuple(changes),
                                sum(1 for r in recorded if r.source == "index"))

    # --- replay ------------------------------------------------------------------------

    def replay(self, revision: str, limit: int = 100) -> ComparisonReport:
        """Re-decide the last `limit` recorded decisions with `revision`; list what would
        change against what was recorded (gateway.pdp.replay does the comparing)."""
        candidate_source = self.source(revision)
        recorded = self.recorded_inputs(limit)
        by_id = {r.decision_id: r for r in recorded}
        with tempfile.TemporaryDirectory(prefix="zonegate-replay-") as tmp:
            log_path = Path(tmp) / "decisions.jsonl"
            with log_path.open("w", encoding="utf-8") as handle:
                for item in recorded:
                    event: JSONObject = {"decision_id": item.decision_id, "input": item.input}
                    if item.recorded is not None:
                        event["result"] = item.recorded.to_result()
                    handle.write(json.dumps(event) + "\n")

            def run() -> list[Disagreement]:
                candidate = CompiledPolicy(candidate_source, self.decision,
                                           builtins_checked=True)
                report = replay(log_path, candidate)
                return [Disagreement(c.kind, c.before, c.after, c.detail, c.decision_id,
                                     by_id[c.decision_id].source) for c in report.changes]

            changes = _isolated(run)
        if isinstance(changes, str):
            raise NotReady("policy-unloadable", changes)
        return ComparisonReport(revision, "recorded", len(recorded),
                                sum(1 for r in recorded if r.source == "log"), tuple(changes),
                                sum(1 for r in recorded if r.source == "index"))

    def recorded_inputs(self, limit: int) -> list[RecordedInput]:
        """The last `limit` indexed decisions, each with its full input: the (masked) one
        the gateway indexed with it, else the decision log's, else one rebuilt from the
        index row (subject, device, zone, method, path: roles, clearance and context are
        then missing)."""
        if not 1 <= limit <= 1000:
            raise NotReady("bad-limit", "limit must be 1-1000")
        indexed = self.store.decisions.search(limit=limit).items
        logged = self._logged(frozenset(d.decision_id for d in indexed if d.input is None))
        out: list[RecordedInput] = []
        for d in indexed:
            outcome = Decision(allow=d.allow, reasons=d.reasons)
            if d.input is not None:
                out.append(RecordedInput(d.decision_id, cast(JSONObject, d.input), outcome,
                                         "recorded"))
            else:
                out.append(logged.get(d.decision_id) or RecordedInput(
                    d.decision_id, self._rebuilt(d), outcome, "index"))
        return out

    def _logged(self, wanted: frozenset[str]) -> dict[str, RecordedInput]:
        path = self.decision_log
        if path is None or not wanted or not path.is_file():
            return {}
        found: dict[str, RecordedInput] = {}
        try:
            for event in read_log(path):
                if event.decision_id in wanted:
                    found[event.decision_id] = RecordedInput(event.decision_id, event.input,
                                                             event.result, "log")
        except PDPError as exc:
            raise NotReady("decision-log-unreadable", str(exc)) from None
        return found

    def _rebuilt(self, d: DecisionRecord) -> JSONObject:
        prefix = self.zone_prefixes.get(d.zone or "", "")
        inner = "/" + d.path[len(prefix):].lstrip("/") if prefix and d.path.startswith(
            prefix) else d.path
        return {
            "request": {"id": d.decision_id, "method": d.method, "path": d.path,
                        "time": d.time.isoformat(), "query": {}},
            "subject": {"authenticated": bool(d.subject), "id": d.subject, "roles": [],
                        "groups": []},
            "device": {"id": d.device or "", "trust": "unknown", "posture": {}},
            "source": {},
            "resource": {"zone": d.zone or "", "level": d.level or "", "path": inner},
            "context": {"risk": 0},
        }


# --- helpers ---------------------------------------------------------------------------


def _archive(members: Mapping[str, bytes]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="zonegate-bundle-") as tmp:
        out = Path(tmp) / "bundle.tar.gz"
        write_archive(out, members)
        return out.read_bytes()


def _members(archive: bytes) -> dict[str, bytes]:
    # stored bundles were written by `_archive`; read back in memory without re-checking
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for info in tar:
            handle = tar.extractfile(info) if info.isreg() else None
            if handle is not None:
                members[info.name.lstrip("/")] = handle.read()
    return members


def _text_lines(raw: bytes) -> Sequence[str]:
    return raw.decode("utf-8", "replace").splitlines(keepends=True)


def _algorithm(private_pem: bytes) -> str:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError):
        return "ES256"  # sign_members reports the unusable key
    return "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
