"""Concurrent writers: separate processes (and threads) writing one store lose nothing."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from gateway.store import AlertFilter, Store
from tests.gateway.store import _workers
from tests.gateway.store.conftest import Target, make_alert

WORKERS, PER_WORKER = 3, 40


@pytest.mark.slow
def test_concurrent_writer_processes_lose_no_records(target: Target) -> None:
    store = target.open()
    store.migrate()
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_workers.ingest, target.url, target.schema, w, PER_WORKER)
                   for w in range(WORKERS)]
        created = [f.result(timeout=240) for f in futures]
    assert created == [PER_WORKER] * WORKERS
    assert store.alerts.count() == WORKERS * PER_WORKER
    for worker in range(WORKERS):
        assert store.alerts.count(AlertFilter(group_key=f"dev-{worker}")) == PER_WORKER
    # every process added its IPs to the one shared device row: no update was lost
    assert len(store.devices.get("shared").ips) == WORKERS * PER_WORKER


def test_concurrent_threads_ingesting_the_same_alerts_create_each_once(
        target: Target) -> None:
    stores = [target.open() for _ in range(4)]
    stores[0].migrate()
    alerts = [make_alert(n) for n in range(60)]

    def run(store: Store) -> int:
        return sum(store.alerts.ingest(a)[1] for a in alerts)

    with ThreadPoolExecutor(len(stores)) as pool:
        created = list(pool.map(run, stores))
    assert sum(created) == len(alerts)
    assert stores[0].alerts.count() == len(alerts)
