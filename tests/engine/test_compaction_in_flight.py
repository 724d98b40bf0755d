"""A merge runs apart from flushes (the namespace lock is held only for its commit): writes
acknowledged and flushed while it ran stay exactly as written once it commits (invariants 2
and 4), a merge whose slabs left the manifest is dropped without leaving objects behind, and
reads do not re-resolve the log tail because a compaction changed the slabs under it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.namespaces import namespace_key
from spruce.engine.records import Record, Update
from spruce.storage.lance_slabs import LanceSlabStore
from tests.engine.conftest import make_index

NS = "ns"


def _engine(tmp_path, **settings):
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=10**9, **settings),
                        start=False)
    make_index(engine, dimension=4)
    return engine


def _records(ids, seed=0, **metadata):
    rng = np.random.default_rng(seed)
    return [Record(i, rng.normal(size=4).astype(np.float32), metadata={"seed": seed, **metadata}) for i in ids]


def _everything(engine) -> dict:
    ids = engine.list_ids("idx", NS, prefix=None, limit=1000, token=None).value[0]
    return {i: (r.values.tolist(), r.metadata) for i, r in engine.fetch("idx", NS, ids).value.items()}


def _manifest(engine):
    return engine._cache.manifest(engine.describe_index("idx").id, NS)


def _stored(engine, tmp_path) -> set[str]:
    cfg = engine.describe_index("idx")
    return set(LanceSlabStore(str(tmp_path / "d" / "slabs")).list_objects(cfg.id, namespace_key(NS)))


def test_writes_flushed_during_a_merge_survive_its_commit(tmp_path):
    engine = _engine(tmp_path)
    ids = [f"r{i:02d}" for i in range(30)]
    for part in (ids[:10], ids[10:20], ids[20:]):
        engine.upsert("idx", NS, _records(part))
        engine.flush("idx", NS)
    plan = engine.builder.plan_compaction(engine.describe_index("idx"), NS, force=True)
    assert plan is not None and len(plan.chosen) == 3

    engine.delete("idx", NS, ids=["r01", "r15"])  # rows the merged slab holds
    engine.upsert("idx", NS, _records(["r02", "r25", "new"], seed=7))  # newer versions of merged rows
    engine.update("idx", NS, Update("r12", set_metadata={"touched": True}))
    engine.flush("idx", NS)
    expected = _everything(engine)

    assert engine.builder.install_compaction(plan)
    manifest = _manifest(engine)
    merged = next(ref for ref in manifest.slabs if ref.slab_id == plan.merged.slab_id)
    assert (merged.rows, merged.dead) == (30, 5)  # r01 r15 deleted; r02 r25 r12 live in the flushed slab
    assert len(manifest.slabs) == 2
    assert _everything(engine) == expected
    assert engine.stats("idx").value == {NS: 29}
    got = engine.query("idx", NS, _query(expected["r02"][0])).value
    assert got[0].id == "r02" and sum(m.id == "r02" for m in got) == 1


def _query(vector) -> QuerySpec:
    return QuerySpec(top_k=40, vector=np.array(vector, np.float32))


@pytest.mark.parametrize("how", ["delete_all", "every_row"])
def test_a_merge_whose_slabs_left_the_manifest_is_dropped_and_leaves_nothing(tmp_path, how):
    engine = _engine(tmp_path)
    for part in (["a", "b"], ["c"]):
        engine.upsert("idx", NS, _records(part))
        engine.flush("idx", NS)
    plan = engine.builder.plan_compaction(engine.describe_index("idx"), NS, force=True)
    if how == "delete_all":
        engine.delete("idx", NS, delete_all=True)
    else:  # a flush drops a slab once every row of it is shadowed
        engine.upsert("idx", NS, _records(["a", "c"], seed=5))
        engine.delete("idx", NS, ids=["b"])
    engine.upsert("idx", NS, _records(["d"], seed=3))
    engine.flush("idx", NS)
    before, expected = _manifest(engine), _everything(engine)
    assert not {ref.slab_id for ref in plan.chosen} & {ref.slab_id for ref in before.slabs}

    assert not engine.builder.install_compaction(plan)
    assert _manifest(engine) == before
    assert f"slab-{plan.merged.slab_id}" not in _stored(engine, tmp_path)
    assert _everything(engine) == expected


def test_a_second_merge_of_the_same_slabs_is_dropped(tmp_path):
    engine = _engine(tmp_path)
    for part in (["a"], ["b"]):
        engine.upsert("idx", NS, _records(part))
        engine.flush("idx", NS)
    cfg = engine.describe_index("idx")
    first = engine.builder.plan_compaction(cfg, NS, force=True)
    second = engine.builder.plan_compaction(cfg, NS, force=True)
    assert engine.builder.install_compaction(first)
    assert not engine.builder.install_compaction(second)
    assert [ref.slab_id for ref in _manifest(engine).slabs] == [first.merged.slab_id]
    assert f"slab-{second.merged.slab_id}" not in _stored(engine, tmp_path)
    assert set(_everything(engine)) == {"a", "b"}


def test_reads_after_a_compaction_extend_the_tail_they_had(tmp_path, monkeypatch):
    """A compaction commits a new manifest but not a new flushed LSN: the overlay over the same
    records is carried to it, so a read after it reads only log entries it had not seen."""
    engine = _engine(tmp_path)
    for part in (["a"], ["b"]):
        engine.upsert("idx", NS, _records(part))
        engine.flush("idx", NS)
    engine.upsert("idx", NS, _records(["c", "d"], seed=2))
    engine.delete("idx", NS, ids=["a"])
    assert set(_everything(engine)) == {"b", "c", "d"}
    reads: list[int] = []
    read_tail = engine._store.read_tail
    monkeypatch.setattr(engine._store, "read_tail", lambda index_id, ns, after: reads.append(after) or read_tail(
        index_id, ns, after))

    assert engine.compact("idx", NS, force=True)
    assert set(_everything(engine)) == {"b", "c", "d"}
    manifest = _manifest(engine)
    assert reads and min(reads) > manifest.flushed_lsn  # never re-read from the flushed LSN


def test_the_embedded_host_flushes_while_a_merge_runs(tmp_path, monkeypatch):
    """With the background workers running, a merge blocked half-way does not hold up flushes."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=10**9,
                                                                 l0_merge_count=2, flush_interval_s=0.0,
                                                                 poll_s=0.01), start=False)
    make_index(engine, dimension=4)
    planning, release = threading.Event(), threading.Event()
    plan = engine.builder.plan_compaction

    def slow_plan(*args, **kwargs):
        result = plan(*args, **kwargs)
        if result is not None:
            planning.set()
            release.wait(30)
        return result

    monkeypatch.setattr(engine.builder, "plan_compaction", slow_plan)
    engine.start()
    try:
        for part in (["a"], ["b"]):
            engine.upsert("idx", NS, _records(part))
            _wait(lambda: _flushed(engine))
        assert planning.wait(30)  # two L0 slabs: the compactor is merging them, and stays there
        engine.upsert("idx", NS, _records(["c"]))
        _wait(lambda: _flushed(engine))  # flushed meanwhile
        assert len(_manifest(engine).slabs) == 3
        release.set()
        _wait(lambda: len(_manifest(engine).slabs) == 2)
        assert set(_everything(engine)) == {"a", "b", "c"}
    finally:
        release.set()
        engine.close()


def _flushed(engine) -> bool:
    read = engine.fetch("idx", NS, ["a"])
    return read.reconciled_lsn == read.max_lsn


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
