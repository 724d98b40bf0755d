"""Garbage collection: objects a commit stops referencing are retired in the manifest and
deleted by a later commit after the grace period, by whichever process commits next."""

from __future__ import annotations

import numpy as np

from spruce.engine import builder as builder_module
from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.namespaces import namespace_key
from spruce.engine.records import Record
from spruce.storage.lance_slabs import LanceSlabStore
from tests.engine.conftest import make_index

NS = "ns"


def _records(ids, seed=0):
    rng = np.random.default_rng(seed)
    return [Record(i, rng.normal(size=4).astype(np.float32), metadata={"n": k}) for k, i in enumerate(ids)]


def _stored(engine) -> set[str]:
    """What is on disk, read through a second store on the same directory."""
    cfg = engine.describe_index("idx")
    return set(LanceSlabStore(str(engine.data_dir / "slabs")).list_objects(cfg.id, namespace_key(NS)))


def _manifest(engine):
    return engine._cache.manifest(engine.describe_index("idx").id, NS)


def _referenced(engine) -> set[str]:
    m = _manifest(engine)
    return {f"slab-{r.slab_id}" for r in m.slabs} | {f"tomb-{r.tombstones}" for r in m.slabs if r.tombstones}


def _open(path, grace):
    engine = open_local(path, settings=BuilderSettings(gc_grace_s=grace, l0_merge_count=2, ann_min_rows=10**9),
                        start=False)
    engine.data_dir = path
    return engine


def test_replaced_objects_wait_out_the_grace_period_then_go(tmp_path, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(builder_module.time, "time", lambda: clock[0])
    engine = _open(tmp_path / "d", grace=30.0)
    make_index(engine, dimension=4)
    engine.upsert("idx", NS, _records(["a", "b", "c"]))
    engine.flush("idx", NS)
    engine.upsert("idx", NS, _records(["b"], seed=1))  # shadows a row: a tombstone set
    engine.flush("idx", NS)
    engine.compact("idx", NS, force=True)  # merges both slabs: everything before is retired
    retired = {r.name for r in _manifest(engine).retired}
    assert len(retired) == 3 and retired.isdisjoint(_referenced(engine))
    assert _stored(engine) == _referenced(engine) | retired  # readers of older manifests still see them

    clock[0] += 29.0
    assert not engine.collect_garbage("idx", NS)
    clock[0] += 2.0
    assert engine.collect_garbage("idx", NS)
    assert _manifest(engine).retired == ()
    assert _stored(engine) == _referenced(engine)
    assert sorted(engine.fetch("idx", NS, ["a", "b", "c"]).value) == ["a", "b", "c"]
    engine.close()


def test_collection_survives_the_process_that_retired_the_objects(tmp_path, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(builder_module.time, "time", lambda: clock[0])
    first = _open(tmp_path / "d", grace=30.0)
    make_index(first, dimension=4)
    for seed in range(2):
        first.upsert("idx", NS, _records(["a", "b"], seed=seed))
        first.flush("idx", NS)
    assert _manifest(first).retired
    first.close()  # the process goes away with objects still in their grace period

    clock[0] += 60.0
    second = _open(tmp_path / "d", grace=30.0)
    second.maintain_once()  # the embedded worker's periodic pass over every namespace
    assert _manifest(second).retired == ()
    assert _stored(second) == _referenced(second)
    second.close()


def test_a_flush_that_loses_the_manifest_race_leaves_nothing_behind(tmp_path, monkeypatch):
    engine = _open(tmp_path / "d", grace=0.0)
    make_index(engine, dimension=4)
    engine.upsert("idx", NS, _records(["a", "b"]))
    engine.flush("idx", NS)
    engine.upsert("idx", NS, _records(["a", "z"], seed=2))  # a new slab and a tombstone set
    before = _stored(engine)
    monkeypatch.setattr(engine._store, "commit_manifest", lambda *a: False)
    assert not engine.flush("idx", NS)
    assert _stored(engine) == before
    monkeypatch.undo()
    assert engine.flush("idx", NS)
    assert sorted(engine.fetch("idx", NS, ["a", "b", "z"]).value) == ["a", "b", "z"]
    engine.close()


def test_a_hold_keeps_every_retired_object_until_it_is_released(tmp_path, monkeypatch):
    from spruce.engine.holds import GcHolds

    clock = [1_000_000.0]
    monkeypatch.setattr(builder_module.time, "time", lambda: clock[0])
    engine = _open(tmp_path / "d", grace=30.0)
    cfg = make_index(engine, dimension=4)
    holds = GcHolds(engine._store)
    engine.upsert("idx", NS, _records(["a", "b", "c"]))
    engine.flush("idx", NS)
    engine.upsert("idx", NS, _records(["b"], seed=1))
    engine.flush("idx", NS)
    holds.hold(cfg.id, "backup-1")
    holds.hold("other-index", "backup-2")  # holds are per index
    assert holds.held(cfg.id) and not holds.held(cfg.id[:-1])
    engine.compact("idx", NS, force=True)
    retired = {r.name for r in _manifest(engine).retired}
    clock[0] += 60.0
    assert not engine.collect_garbage("idx", NS)
    engine.upsert("idx", NS, _records(["d"], seed=2))
    engine.flush("idx", NS)  # a commit past the grace period deletes nothing while held
    assert retired <= {r.name for r in _manifest(engine).retired} and retired <= _stored(engine)
    holds.release(cfg.id, "backup-1")
    assert not holds.held(cfg.id)
    assert engine.collect_garbage("idx", NS)
    assert _stored(engine) == _referenced(engine) | {r.name for r in _manifest(engine).retired}
    assert retired.isdisjoint(_stored(engine))
    engine.close()
