"""Concurrent writers: gap-free, unique LSNs and single winners of conditional writes.

``[local]`` runs SQLite with real threads. ``[aws]`` runs the DynamoDB adapters under moto
behind ``LockedClient`` (one lock per API call, DynamoDB's own atomicity; threads interleave
between calls, so reads go stale and conditional transactions get cancelled and retried)."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract.conftest import LockedClient, Stores, aws_stores

IDX = "idx-race"
THREADS = 8
HOT_APPENDS = 25  # per thread, on one namespace
COLD_EVERY = 5  # every 5th iteration also appends to a second namespace


@pytest.fixture
def racing(stores: Stores) -> tuple[Stores, LockedClient | None]:
    """The stores under test; for AWS rebuilt over a LockedClient, returned alongside."""
    if stores.kind == "local":
        return stores, None
    locked = LockedClient(stores.aws.dynamodb)
    return aws_stores(stores.aws, locked), locked


def _run_threads(work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            barrier.wait()
            results[t] = work(t)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_concurrent_appends_get_gap_free_unique_lsns(racing):
    stores, locked = racing
    log = stores.log

    def writer(t: int) -> list[tuple[str, int, bytes]]:
        acked = []
        for i in range(HOT_APPENDS):
            payload = b"t%d-i%d" % (t, i)
            acked.append(("hot", log.append(IDX, "hot", "upsert", payload), payload))
            if i % COLD_EVERY == 0:
                # One spilled payload per thread on AWS: spill + retry under contention.
                cold = payload + (os.urandom(360_000) if i == 0 and locked else b"")
                acked.append(("cold", log.append(IDX, "cold", "delete_ids", cold), cold))
        return acked

    acked: dict[str, dict[int, bytes]] = defaultdict(dict)
    for results in _run_threads(writer):
        for ns, lsn, payload in results:
            assert lsn not in acked[ns], f"LSN {lsn} acknowledged twice in {ns}"
            acked[ns][lsn] = payload
    for ns, count in (("hot", THREADS * HOT_APPENDS), ("cold", THREADS * -(-HOT_APPENDS // COLD_EVERY))):
        assert sorted(acked[ns]) == list(range(1, count + 1)), ns
        read = log.read_tail(IDX, ns, 0)
        assert read.last_lsn == count
        assert {e.lsn: e.payload for e in read.entries} == acked[ns]
        assert [e.lsn for e in read.entries] == list(range(1, count + 1))
    if locked is not None:
        assert locked.cancelled_transactions > 0, "no append ever lost a race: the test proved nothing"


def test_concurrent_create_namespace_has_one_winner(racing):
    stores, _ = racing
    wins = _run_threads(lambda t: stores.log.create_namespace(IDX, "fresh", b"schema-%d" % t))
    assert wins.count(True) == 1
    row = stores.log.namespace(IDX, "fresh")
    assert (row.exists, row.last_lsn, row.schema) == (True, 0, b"schema-%d" % wins.index(True))


def test_concurrent_manifest_commits_have_one_winner(racing):
    stores, _ = racing
    stores.manifests.commit_manifest(IDX, "ns", 0, b"v1")
    wins = _run_threads(lambda t: stores.manifests.commit_manifest(IDX, "ns", 1, b"v2-%d" % t))
    assert wins.count(True) == 1
    assert stores.manifests.load_manifest(IDX, "ns") == (2, b"v2-%d" % wins.index(True))
