"""JobStore contract, against SQLite and DynamoDB: ids, optimistic versions, ordered paging."""

from __future__ import annotations

import threading

from spruce.storage.dynamo_jobs import DynamoJobStore
from tests.contract.conftest import LockedClient, Stores


def test_job_numbers_are_per_kind_and_never_repeat(stores: Stores):
    jobs = stores.jobs
    assert [jobs.next_job_number("import") for _ in range(3)] == [1, 2, 3]
    assert jobs.next_job_number("backup") == 1
    assert stores.reopen().jobs.next_job_number("import") == 4


def test_job_numbers_are_unique_under_concurrency(stores: Stores):
    # moto is not linearizable across threads; one lock per API call models DynamoDB's
    # per-request atomicity (see LockedClient).
    jobs = stores.jobs if stores.aws is None else DynamoJobStore(LockedClient(stores.aws.dynamodb), stores.aws.tables)
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            n = jobs.next_job_number("import")
            with lock:
                got.append(n)
    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 41))


def test_create_load_and_versioned_update(stores: Stores):
    jobs = stores.jobs
    assert jobs.load_job("import", "1") is None
    assert jobs.create_job("import", "1", b"pending") is True
    assert jobs.create_job("import", "1", b"again") is False
    assert jobs.load_job("import", "1") == (1, b"pending")
    assert jobs.load_job("backup", "1") is None  # kinds do not share ids
    assert jobs.update_job("import", "1", 1, b"running") is True
    assert jobs.update_job("import", "1", 1, b"cancelled") is False  # lost race: stale version
    assert stores.reopen().jobs.load_job("import", "1") == (2, b"running")
    assert jobs.update_job("import", "nope", 1, b"x") is False


def test_list_in_bitwise_order_with_paging(stores: Stores):
    jobs = stores.jobs
    for job_id in ("b", "a", "c", "B", "é", "a1"):
        jobs.create_job("backup", job_id, job_id.encode())
    jobs.create_job("import", "z", b"other kind")
    every = [i for i, _ in jobs.list_jobs("backup")]
    assert every == sorted(every, key=lambda s: s.encode()) == ["B", "a", "a1", "b", "c", "é"]
    assert jobs.list_jobs("backup", limit=2) == [("B", b"B"), ("a", b"a")]
    assert [i for i, _ in jobs.list_jobs("backup", after="a", limit=2)] == ["a1", "b"]
    assert [i for i, _ in jobs.list_jobs("backup", after="c")] == ["é"]
    assert jobs.list_jobs("backup", after="é") == []


def test_delete_is_idempotent(stores: Stores):
    jobs = stores.jobs
    jobs.create_job("restore", "r1", b"x")
    jobs.delete_job("restore", "r1")
    jobs.delete_job("restore", "r1")
    assert jobs.load_job("restore", "r1") is None
    assert jobs.list_jobs("restore") == []
    assert jobs.create_job("restore", "r1", b"y") is True
