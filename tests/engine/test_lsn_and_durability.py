"""LSNs are per namespace, gap-free and never reused (invariant 2), across threads and
processes; data survives closing and reopening the engine."""

from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np

from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record
from tests.engine.conftest import make_index


def _writer(data_dir: str, worker: int, n: int, out) -> None:
    eng = open_local(data_dir, start=False)
    lsns = []
    for i in range(n):
        res = eng.upsert("idx", "shared", [Record(f"w{worker}-{i}", np.ones(4, np.float32))])
        lsns.append(res.lsn)
    eng.close()
    out.put((worker, lsns))


def test_concurrent_writer_processes_get_gap_free_lsns(tmp_path):
    data = str(tmp_path / "data")
    eng = open_local(data, start=False)
    make_index(eng, dimension=4)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(data, w, 40, out)) for w in range(4)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    every = sorted(lsn for lsns in results.values() for lsn in lsns)
    assert every == list(range(1, 161))  # gap-free, no duplicates
    for lsns in results.values():
        assert lsns == sorted(lsns)  # strictly increasing per writer
    fetched = eng.fetch("idx", "shared", [f"w{w}-{i}" for w in range(4) for i in range(40)]).value
    assert len(fetched) == 160  # every acknowledged write is readable
    eng.close()


def test_threads_and_namespaces_have_independent_counters(engine):
    make_index(engine, dimension=2)
    got: dict[str, list[int]] = {"a": [], "b": []}

    def write(ns: str) -> None:
        for i in range(25):
            got[ns].append(engine.upsert("idx", ns, [Record(f"{ns}{i}", np.ones(2, np.float32))]).lsn)

    threads = [threading.Thread(target=write, args=(ns,)) for ns in ("a", "b", "a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got["a"]) == list(range(1, 51))
    assert sorted(got["b"]) == list(range(1, 51))


def test_lsn_is_not_reused_after_namespace_delete(engine):
    make_index(engine, dimension=2)
    engine.upsert("idx", "ns", [Record("x", np.ones(2, np.float32))])
    dropped = engine.delete_namespace("idx", "ns")
    again = engine.upsert("idx", "ns", [Record("y", np.ones(2, np.float32))])
    assert again.lsn == dropped.lsn + 1
    assert set(engine.fetch("idx", "ns", ["x", "y"]).value) == {"y"}


def test_data_survives_reopen_with_tail_and_slabs(tmp_path):
    data = tmp_path / "data"
    eng = open_local(data, start=False)
    make_index(eng, dimension=3, metric="euclidean")
    eng.upsert("idx", "", [Record("flushed", np.array([1, 2, 3], np.float32), metadata={"k": "v"})])
    eng.flush("idx", "")
    eng.upsert("idx", "", [Record("tail", np.array([0, 0, 1], np.float32))])
    eng.close()
    eng = open_local(data, start=True)
    res = eng.query("idx", "", QuerySpec(top_k=5, vector=np.array([0, 0, 1], np.float32), include_metadata=True))
    assert [(m.id, round(m.score, 5)) for m in res.value] == [("tail", 0.0), ("flushed", 9.0)]
    assert res.value[1].metadata == {"k": "v"}
    assert res.max_lsn == 2
    eng.close()
