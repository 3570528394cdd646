"""Hot reload of the embedded engine's policy.

`PolicyReloader` polls the bundle directory (or archive) for changed mtimes and sizes.
On a change it loads the source, compiles it, runs its tests (in a worker thread, so the
event loop keeps serving), and only when all of that succeeds swaps the new policy into the
`EmbeddedEngine`. A broken policy never replaces the one in force: the failure is logged,
counted (``zonegate_pdp_policy_reloads_total{result="failure"}``) and kept in
`last_error`; the next change is tried again. Each activation is recorded in `history`
with its revision; ``zonegate_pdp_policy_last_reload_success_timestamp_seconds`` and
``zonegate_pdp_policy_info{revision}`` follow it. Caches keyed on the revision
(`gateway.pdp.cache`) empty themselves when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.pdp.embedded import CompiledPolicy, EmbeddedEngine
from gateway.pdp.metrics import metrics_for
from gateway.pdp.port import PDPError, PolicyLoadError
from gateway.pdp.source import PolicySource, load_source
from gateway.pdp.testing import run_tests

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: Path) -> Fingerprint:
    """(relative name, mtime_ns, size) of every file that makes up the bundle."""
    try:
        if path.is_file():
            stat = path.stat()
            return ((path.name, stat.st_mtime_ns, stat.st_size),)
        entries = []
        for file in sorted(path.rglob("*")):
            if file.is_file() and (file.suffix in (".rego", ".json") or file.name == ".manifest"):
                stat = file.stat()
                entries.append((file.relative_to(path).as_posix(), stat.st_mtime_ns, stat.st_size))
        return tuple(entries)
    except OSError:
        return ()  # vanished mid-scan: the next poll sees the settled state


def prepare_policy(
    path: Path,
    decision: str,
    *,
    verification_key: bytes | None = None,
    require_tests: bool = True,
) -> CompiledPolicy:
    # Safe to run in a worker thread: every regorus engine it makes is dropped there.
    """Load, compile and test a bundle; raise `PolicyLoadError` saying why it cannot be used."""
    source = load_source(path, verification_key=verification_key)
    # compiles, checks builtins and the entrypoint; binds no engine to this (worker) thread
    policy = CompiledPolicy(source, decision, bind=False)
    if require_tests and source.test_modules:
        report = run_tests(source)
        failed = [r for r in report.results if r.status in ("fail", "error")]
        if failed:
            names = ", ".join(f"{r.rule} ({r.detail})" for r in failed[:5])
            raise PolicyLoadError(f"{path}: {len(failed)} policy test(s) failed: {names}")
    elif require_tests:
        log.warning("%s: the bundle has no *_test.rego; activating it untested", path)
    return policy


def checked_source(
    path: Path, decision: str, verification_key: bytes | None, require_tests: bool
) -> PolicySource | str:
    """`prepare_policy` for a worker thread: the checked source, or why it was refused.

    regorus engines must be dropped on the thread that made them, so nothing that holds one
    crosses threads: not the arguments (plain data), not the result (the source, or the
    failure's message rather than the exception, whose traceback would carry engines).
    """
    try:
        return prepare_policy(path, decision, verification_key=verification_key,
                              require_tests=require_tests).source
    except PolicyLoadError as exc:
        message = str(exc)
        traceback.clear_frames(exc.__traceback__)
        return message


@dataclass(frozen=True, slots=True)
class Activation:
    """One successful activation."""

    revision: str
    at: float  # Unix time


class PolicyReloader:
    """Polls a bundle and swaps a tested new policy into an `EmbeddedEngine`."""

    def __init__(
        self,
        engine: EmbeddedEngine,
        path: Path,
        *,
        interval_seconds: float = 1.0,
        require_tests: bool = True,
        verification_key: bytes | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise PDPError("policy reload interval must be positive")
        self.engine = engine
        self.path = path
        self.interval = interval_seconds
        self.require_tests = require_tests
        self.verification_key = verification_key
        self._metrics = metrics_for(registry)
        self._seen = fingerprint(path)
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.history: list[Activation] = [Activation(engine.revision, time.time())]
        self._metrics.policy_info.labels(revision=engine.revision).set(1)
        self._metrics.last_reload_success.set(time.time())

    async def check(self) -> bool:
        """Reload if the bundle changed; True when a new policy was activated."""
        current = fingerprint(self.path)
        if current == self._seen:
            return False
        self._seen = current
        # only plain data crosses to the worker: see `checked_source`
        outcome = await asyncio.to_thread(
            checked_source, self.path, self.engine.policy.decision, self.verification_key,
            self.require_tests)
        if isinstance(outcome, PolicySource):
            try:  # the loop thread's own engine: a re-parse, a few ms
                policy = CompiledPolicy(outcome, self.engine.policy.decision,
                                        builtins_checked=True)
            except PolicyLoadError as exc:
                outcome = str(exc)
        if isinstance(outcome, str):
            self.last_error = outcome
            self._metrics.reloads.labels(result="failure").inc()
            log.error("policy reload refused, %s stays in force: %s", self.engine.revision,
                      outcome)
            return False
        old = self.engine.revision
        self.engine.activate(policy)
        self.last_error = None
        now = time.time()
        self.history.append(Activation(policy.revision, now))
        self._metrics.reloads.labels(result="success").inc()
        self._metrics.last_reload_success.set(now)
        if old != policy.revision:
            with contextlib.suppress(KeyError):
                self._metrics.policy_info.remove(old)
        self._metrics.policy_info.labels(revision=policy.revision).set(1)
        log.info("policy %s activated (was %s)", policy.revision, old)
        return True

    async def run(self) -> None:
        """Poll forever (cancel the task to stop).

        A check that fails in a way `prepare_policy` did not foresee must not end the
        polling (later edits would then never be activated, silently): it is logged with
        its traceback, counted as a failed reload and kept in `last_error`; the policy in
        force stays, and the next change of the bundle is tried again.
        """
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{self.path}: reload failed unexpectedly: " \
                                  f"{type(exc).__name__}: {exc}"
                self._metrics.reloads.labels(result="failure").inc()
                log.exception("policy reload failed, %s stays in force", self.engine.revision)
            await asyncio.sleep(self.interval)

    def start(self) -> asyncio.Task[None]:
        """Start polling in a task on the running loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="policy-reloader")
        return self._task

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
