"""The embedded builder caches a slab it has just written from the Arrow table it wrote: the
slab's ids and vectors are not read back from its files, a query finds exactly what a fresh
process reading the files finds, and a merge that fails before its commit leaves nothing cached."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine import slabs as slabs_module
from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record
from tests.engine.conftest import make_index

NS = "ns"


def _engine(path, **settings):
    engine = open_local(path, settings=BuilderSettings(gc_grace_s=0.0, **settings), start=False)
    make_index(engine, dimension=8)
    return engine


def _upsert(engine, start: int, count: int) -> None:
    rng = np.random.default_rng(start)
    engine.upsert("idx", NS, [Record(f"r{i}", rng.normal(size=8).astype(np.float32), metadata={"i": i})
                              for i in range(start, start + count)])


def _top(engine, vector) -> list[tuple[str, float]]:
    hits = engine.query("idx", NS, QuerySpec(top_k=20, vector=vector)).value
    return [(h.id, round(h.score, 5)) for h in hits]


def test_flushed_and_merged_slabs_are_not_read_back(tmp_path, monkeypatch):
    engine = _engine(tmp_path / "d", ann_min_rows=10**9)
    scans: list[list[str]] = []
    real = slabs_module._scan
    monkeypatch.setattr(slabs_module, "_scan", lambda table, columns: scans.append(columns) or real(table, columns))
    for start in (0, 300, 600):
        _upsert(engine, start, 300)
        engine.flush("idx", NS)
    assert [c for c in scans if "row" in c] == []  # three flushes, no slab opened from its files
    assert engine.builder.compact(engine.describe_index("idx"), NS, force=True)
    assert len(engine._cache.manifest(engine.describe_index("idx").id, NS).slabs) == 1
    assert [c for c in scans if "row" in c] == []  # the merged slab neither (its inputs are read: live_rows)
    query = np.random.default_rng(9).normal(size=8).astype(np.float32)
    cached = _top(engine, query)
    engine.close()

    reopened = open_local(tmp_path / "d", start=False)  # a process that reads the slab's files
    try:
        assert _top(reopened, query) == cached and len(cached) == 20
    finally:
        reopened.close()


def test_a_merge_that_fails_before_its_commit_leaves_nothing_cached(tmp_path, monkeypatch):
    engine = _engine(tmp_path / "d", ann_min_rows=500)
    for start in (0, 300):
        _upsert(engine, start, 300)
        engine.flush("idx", NS)
    cfg = engine.describe_index("idx")
    local = engine.builder._local

    def broken(*args, **kwargs):
        raise OSError("index build failed")
    monkeypatch.setattr(engine.builder._slabs, "build_vector_index", broken)
    before = set(local._slab_data)
    with pytest.raises(OSError):
        engine.builder.compact(cfg, NS, force=True)
    assert set(local._slab_data) == before
    assert len(engine._cache.manifest(cfg.id, NS).slabs) == 2
    engine.close()
