"""The SQLite request log's write path: appends that wait behind another commit are committed
together (one transaction, one fsync), each still gets its own LSN, and a failed group commit
fails every append in it with nothing written. Deletes do not zero the freed pages."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from spruce.storage.sqlite_store import SqliteStore

IDX = "idx-1"


@pytest.fixture()
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "spruce.db")


def _count_transactions(store: SqliteStore) -> list[str]:
    """Wrap ``_begin`` to record each write transaction's mode."""
    seen: list[str] = []
    begin = store._begin

    def counting(mode: str):
        seen.append(mode)
        return begin(mode)

    store._begin = counting  # type: ignore[method-assign]
    return seen


def _append_while_locked(store: SqliteStore, items: list[tuple[str, bytes]]) -> tuple[list, list]:
    """Start one append per item while the writer lock is held elsewhere, wait until all are
    queued, then release the lock: they form one group."""
    results: list = [None] * len(items)
    errors: list = [None] * len(items)

    def run(i: int, namespace: str, payload: bytes) -> None:
        try:
            results[i] = store.append(IDX, namespace, "upsert", payload)
        except Exception as exc:  # noqa: BLE001 - asserted by the caller
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i, ns, p)) for i, (ns, p) in enumerate(items)]
    with store._write_lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(store._queue) < len(items):
            assert time.monotonic() < deadline, "appends did not queue"
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=10)
    return results, errors


def test_appends_waiting_for_the_writer_commit_in_one_transaction(store):
    seen = _count_transactions(store)
    items = [("a", b"a1"), ("b", b"b1"), ("a", b"a2"), ("a", b"a3")]
    results, errors = _append_while_locked(store, items)
    assert errors == [None] * 4
    assert seen == ["IMMEDIATE"]  # one group commit for the four
    # Each namespace's LSNs are gap-free, in the order the group committed them.
    assert sorted(lsn for (ns, _), lsn in zip(items, results) if ns == "a") == [1, 2, 3]
    assert [lsn for (ns, _), lsn in zip(items, results) if ns == "b"] == [1]
    tail = store.read_tail(IDX, "a", 0)
    assert tail.last_lsn == 3
    by_lsn = {e.lsn: e.payload for e in tail.entries}
    assert {by_lsn[lsn] for (ns, _), lsn in zip(items, results) if ns == "a"} == {b"a1", b"a2", b"a3"}
    assert {lsn: p for (ns, p), lsn in zip(items, results) if ns == "a"} == by_lsn


def test_a_failed_group_commit_fails_every_append_in_it_and_writes_nothing(store):
    store.append(IDX, "a", "upsert", b"before")
    begin = store._begin

    def failing(mode: str):
        # The last statement of the group fails (a full disk, say), after the others ran.
        ctx = begin(mode)
        conn = ctx.__enter__()
        conn.execute("CREATE TEMP TRIGGER fail_third BEFORE INSERT ON log "
                     "WHEN NEW.payload = X'6333' BEGIN SELECT RAISE(ABORT, 'disk full'); END")

        class Wrapped:
            def __enter__(self):
                return conn

            def __exit__(self, *exc):
                try:
                    return ctx.__exit__(*exc)
                finally:
                    conn.execute("DROP TRIGGER IF EXISTS temp.fail_third")

        return Wrapped()

    store._begin = failing  # type: ignore[method-assign]
    results, errors = _append_while_locked(store, [("a", b"c1"), ("a", b"c2"), ("a", b"c3")])
    assert results == [None, None, None]
    assert all(isinstance(e, sqlite3.IntegrityError) and "disk full" in str(e) for e in errors), errors
    store._begin = begin  # type: ignore[method-assign]
    tail = store.read_tail(IDX, "a", 0)
    assert [(e.lsn, e.payload) for e in tail.entries] == [(1, b"before")]
    assert tail.last_lsn == 1  # no LSN was spent on the failed group
    assert store.append(IDX, "a", "upsert", b"after") == 2


def test_an_append_alone_commits_at_once(store):
    seen = _count_transactions(store)
    assert [store.append(IDX, "a", "upsert", b"%d" % i) for i in range(3)] == [1, 2, 3]
    assert seen == ["IMMEDIATE"] * 3


def test_deletes_do_not_zero_freed_overflow_pages(store):
    """``secure_delete=FAST``: truncating the log after a flush frees the payloads' overflow
    pages without writing zeros over them (with SQLite's compiled-in default, a truncate
    rewrote every freed page into the WAL: 239 ms against 32 ms for 33 MB)."""
    assert store._conn().execute("PRAGMA secure_delete").fetchone()[0] == 2  # 2: FAST
