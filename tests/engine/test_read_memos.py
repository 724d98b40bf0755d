"""Reads re-read the manifest every time (each read sees every flush), but decode it and open
its slab set only when it changed: repeated queries reuse one decoded manifest and one slab
set, and a flush, a compaction or a deleted and re-created index is seen by the next read."""

from __future__ import annotations

import numpy as np

import spruce.engine.namespaces as namespaces
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record
from tests.engine.conftest import make_index

NS = "ns"


def _put(engine, ids, seed):
    rng = np.random.default_rng(seed)
    engine.upsert("idx", NS, [Record(i, rng.normal(size=4).astype(np.float32)) for i in ids])


def _query(engine, vector=(1.0, 0.0, 0.0, 0.0)):
    spec = QuerySpec(top_k=3, vector=np.asarray(vector, dtype=np.float32))
    return [m.id for m in engine.query("idx", NS, spec).value]


def _snapshot(engine):
    cfg = engine.describe_index("idx")
    return engine._cache.snapshot(cfg.id, NS, metric=cfg.metric, dimension=cfg.dimension)


def test_repeated_reads_decode_the_manifest_once_and_share_the_slab_set(engine, monkeypatch):
    make_index(engine, dimension=4)
    _put(engine, ["a", "b", "c"], 0)
    engine.flush("idx", NS)
    decodes = []
    real = namespaces.Manifest.decode
    monkeypatch.setattr(namespaces.Manifest, "decode", lambda *a: decodes.append(a) or real(*a))
    first, second = _snapshot(engine), _snapshot(engine)
    assert len(decodes) == 1
    assert first.manifest is second.manifest and first.base is second.base


def test_a_flush_and_a_compaction_are_seen_by_the_next_read(engine):
    make_index(engine, dimension=4)
    _put(engine, ["a", "b"], 0)
    engine.flush("idx", NS)
    before = _snapshot(engine)
    engine.upsert("idx", NS, [Record("x", np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32))])
    engine.flush("idx", NS)
    flushed = _snapshot(engine)
    assert flushed.manifest.version > before.manifest.version and flushed.base is not before.base
    assert len(flushed.manifest.slabs) == 2 and not flushed.overlay.touched  # "x" is read from its slab
    assert _query(engine)[0] == "x"
    engine.compact("idx", NS, force=True)
    compacted = _snapshot(engine)
    assert len(compacted.manifest.slabs) == 1 and compacted.base is not flushed.base
    assert _query(engine)[0] == "x" and compacted.record_count == 3


def test_a_re_created_index_is_not_read_through_the_old_ones_slabs(engine):
    make_index(engine, dimension=4)
    engine.upsert("idx", NS, [Record("old", np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32))])
    engine.flush("idx", NS)
    assert _query(engine) == ["old"]
    engine.delete_index("idx")
    make_index(engine, dimension=4)
    engine.upsert("idx", NS, [Record("new", np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32))])
    engine.flush("idx", NS)
    assert _query(engine) == ["new"]
