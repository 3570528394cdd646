"""Live shadow mode: the decisions gateways record, compared with the shadow as they arrive.

Gateways write every decision, with its masked policy input, to the store's decision
index (`gateway.ingress.decision_index`). While a shadow candidate is set, `ShadowSweep`
reads the decisions indexed since the last sweep and hands each one to
`PolicyService.shadow_compare(input, enforced=<what the gateway decided>)`, which keeps
each disagreement for ``GET /api/policies/shadow``. Nothing here decides a request: the
gateways enforce the active policy, the candidate's answer only lands in that report.

A sweep runs every `interval` seconds on one thread of its own (compiled policies are bound
to the thread that made them), and also on request (`sweep_now`, which the shadow route
calls so that what it shows is current). It reads the decisions whose time is between the
newest one already compared and `settle` seconds ago: a gateway writes in batches, so a
decision may reach the store shortly after a newer one. A decision that reaches the store
more than `settle` seconds after it was made (a gateway whose queue is backed up, clocks
further apart than that) is not compared; nor is one indexed without its input (written by
an older gateway), nor, when more than `max_per_sweep` arrive between two sweeps, the
oldest of them; each sweep that leaves decisions out logs how many.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import cast

from gateway.control.policy_service import PolicyService
from gateway.pdp.port import Decision, JSONObject, PDPError
from gateway.store import DecisionFilter, DecisionRecord, StoreError

log = logging.getLogger("zonegate.control.shadow")
_PAGE = 500


class ShadowSweep:
    """Feeds newly indexed decisions to `PolicyService.shadow_compare`."""

    def __init__(self, service: PolicyService, *, interval: float = 2.0,
                 settle: float = 2.0, max_per_sweep: int = 5000,
                 clock: Callable[[], datetime] | None = None) -> None:
        if interval <= 0 or settle < 0 or max_per_sweep < 1:
            raise ValueError("shadow sweep: interval and max_per_sweep must be positive")
        self.service = service
        self.interval = interval
        self.settle = timedelta(seconds=settle)
        self.max_per_sweep = max_per_sweep
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sweep_lock = threading.Lock()
        # what has been compared for the shadow set at _key: up to _high, and which
        # decisions exactly at _high (the next window starts there, inclusive)
        self._key: tuple[str, datetime] | None = None
        self._high: datetime | None = None
        self._at_high: set[str] = set()
        # the sweeper thread and the requests it serves
        self._cond = threading.Condition()
        self._wanted = False
        self._started = 0
        self._finished = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sweeper thread (idempotent)."""
        with self._cond:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="shadow-sweep",
                                                daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the sweeper thread (blocking; run it in a thread from async code)."""
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    def sweep_now(self, timeout: float = 10.0) -> bool:
        """Run a sweep that starts after this call and wait for it; True when it finished
        in time. Without a sweeper thread the sweep runs here."""
        with self._cond:
            running = self._thread is not None and self._thread.is_alive()
            if running and not self._stopping:
                target = self._started + 1
                self._wanted = True
                self._cond.notify_all()
                return self._cond.wait_for(lambda: self._finished >= target, timeout)
        self._sweep_logged()
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted or self._stopping, self.interval)
                if self._stopping:
                    return
                self._wanted = False
                self._started += 1
            self._sweep_logged()
            with self._cond:
                self._finished += 1
                self._cond.notify_all()

    def _sweep_logged(self) -> None:
        # a store that is down or a candidate that will not compile must not end the
        # thread: say so and try again at the next sweep
        try:
            self.sweep()
        except StoreError as exc:
            log.error("shadow sweep: cannot read the decision index: %s", exc)
        except PDPError as exc:
            log.error("shadow sweep: cannot evaluate the shadow policy: %s", exc)
        except Exception:
            log.exception("shadow sweep failed")

    # --- one sweep ----------------------------------------------------------------------

    def sweep(self) -> int:
        """Compare the decisions indexed since the last sweep; how many were compared."""
        with self._sweep_lock:
            key = self.service.shadow_candidate()
            if key is None:  # no shadow: not even a store query
                self._key, self._high, self._at_high = None, None, set()
                return 0
            if key != self._key:  # a new candidate: decisions made from now on
                self._key, self._high, self._at_high = key, key[1], set()
            since = self._high or key[1]
            until = self._clock() - self.settle
            if until <= since:
                return 0
            fresh, capped = self._fetch(since, until)
            compared = without_input = 0
            for record in reversed(fresh):  # oldest first
                if record.input is None:
                    without_input += 1
                    continue
                self.service.shadow_compare(
                    cast(JSONObject, record.input),
                    Decision(allow=record.allow, reasons=record.reasons),
                    decision_id=record.decision_id)
                compared += 1
            if fresh:
                newest = fresh[0].time
                if newest != self._high:
                    self._high, self._at_high = newest, set()
                self._at_high.update(r.decision_id for r in fresh if r.time == newest)
            if capped or without_input:
                log.warning("shadow sweep: %s%d decision(s) indexed without their input "
                            "were not compared",
                            f"more than {self.max_per_sweep} decisions since the last "
                            "sweep, the oldest were not compared; " if capped else "",
                            without_input)
            return compared

    def _fetch(self, since: datetime, until: datetime) -> tuple[list[DecisionRecord], bool]:
        """Decisions in [since, until) not compared yet, newest first; True when capped."""
        flt = DecisionFilter(since=since, until=until)
        out: list[DecisionRecord] = []
        cursor: str | None = None
        while True:
            page = self.service.store.decisions.search(flt, limit=_PAGE, cursor=cursor)
            for record in page.items:
                if record.time == since and record.decision_id in self._at_high:
                    continue
                out.append(record)
                if len(out) >= self.max_per_sweep:
                    return out, page.next_cursor is not None or record is not page.items[-1]
            if page.next_cursor is None:
                return out, False
            cursor = page.next_cursor
