"""The views a read derives from the log tail (its live records, ``engine.tail``, and the base
rows it hides, per slab) are derived from the previous overlay's for the ids that changed, not
rebuilt from the whole tail: a reader that keeps its overlay across random writes, flushes and
compactions answers exactly as one that resolves everything from scratch (newest wins,
invariant 4), and a read after a small write derives its views instead of building them."""

from __future__ import annotations

import random

import numpy as np
import pytest

import spruce.engine.tail as tail_module
from spruce.engine.filters import parse_filter
from spruce.engine.model import QuerySpec
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.records import Record, Update
from spruce.engine.tail import TailRecords, _merge_sorted
from tests.engine.conftest import make_index

NS = "ns"
DIM = 4


def _records(ids, colour: str, rng: np.random.Generator):
    return [Record(i, rng.normal(size=DIM).astype(np.float32), metadata={"colour": colour}) for i in ids]


def _view(engine, cache: NamespaceCache) -> tuple:
    """Everything a reader through ``cache`` sees: count, listing, bodies, a query, a filter scan."""
    cfg = engine.describe_index("idx")
    snap = cache.snapshot(cfg.id, NS, metric=cfg.metric, dimension=cfg.dimension)
    ids, _ = snap.list_ids("", None, 10_000)
    page, more = snap.list_ids("k1", None, 3)
    bodies = {i: (r.values.tolist(), r.metadata) for i, r in snap.fetch(ids).items()}
    hits = snap.query(QuerySpec(top_k=7, vector=np.ones(DIM, np.float32)))
    red = snap.query(QuerySpec(top_k=5, vector=np.ones(DIM, np.float32), filter=parse_filter({"colour": "red"})))
    return (snap.record_count, ids, page, more, bodies, [m.id for m in hits], [m.id for m in red],
            snap.matching_ids(parse_filter({"colour": "blue"})), snap.metadata_keys(), [m.score for m in hits + red])


def _same(seen: tuple, expected: tuple) -> None:
    """Equal views; scores up to float32 rounding (a row's sums may differ in the last bit)."""
    assert seen[:-1] == expected[:-1]
    assert seen[-1] == pytest.approx(expected[-1], rel=1e-5)


def _fresh(engine) -> NamespaceCache:
    """A reader with no overlay and no derived views: it resolves the whole tail from the log."""
    return NamespaceCache(engine._store, engine._store, engine._cache.slabs)


@pytest.mark.parametrize("seed", range(6))
def test_derived_views_match_views_built_from_scratch(engine, seed):
    make_index(engine, dimension=DIM)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    ids = [f"k{i:02d}" for i in range(40)]
    for _ in range(60):
        step = pick.random()
        if step < 0.45:
            engine.upsert("idx", NS, _records(pick.sample(ids, pick.randint(1, 6)), pick.choice(["red", "blue"]), rng))
        elif step < 0.55:
            engine.delete("idx", NS, ids=pick.sample(ids, 3))
        elif step < 0.62:
            engine.delete("idx", NS, filter=parse_filter({"colour": pick.choice(["red", "blue"])}))
        elif step < 0.68:
            engine.update_by_filter("idx", NS, parse_filter({"colour": "red"}), {"colour": "blue"}, dry_run=False)
        elif step < 0.74:
            engine.update("idx", NS, Update(pick.choice(ids), set_metadata={"colour": "red"}))
        elif step < 0.90:
            engine.flush("idx", NS)
        else:
            engine.compact("idx", NS)
        if pick.random() < 0.7:  # the engine's reader keeps its overlay and derives from it
            _same(_view(engine, engine._cache), _view(engine, _fresh(engine)))
    _same(_view(engine, engine._cache), _view(engine, _fresh(engine)))


def test_a_read_after_a_small_write_derives_its_views(engine, monkeypatch):
    make_index(engine, dimension=DIM)
    rng = np.random.default_rng(0)
    engine.upsert("idx", NS, _records([f"a{i:04d}" for i in range(2_000)], "red", rng))
    engine.flush("idx", NS)
    engine.upsert("idx", NS, _records([f"b{i:04d}" for i in range(500)], "red", rng))
    _view(engine, engine._cache)
    builds = []
    monkeypatch.setattr(TailRecords, "build", staticmethod(lambda *a: builds.append(a) or pytest.fail("built")))
    before = engine._cache.snapshot(engine.describe_index("idx").id, NS, metric="cosine", dimension=DIM).overlay
    matrix_before = before.live(DIM).matrix
    engine.upsert("idx", NS, _records(["b0000", "c0"], "blue", rng))  # one overwrite, one new record
    after = engine._cache.snapshot(engine.describe_index("idx").id, NS, metric="cosine", dimension=DIM).overlay
    derived = _view(engine, engine._cache)
    tail = after.live(DIM)
    assert not builds
    assert len(tail.ids) == 502 and len(tail.row_of) == 501  # the overwritten row is dead, not copied away
    assert np.shares_memory(tail.matrix, matrix_before)  # appended in place to the shared buffer
    assert after._parent is before and before._parent is None  # never a chain of overlays
    monkeypatch.undo()
    _same(derived, _view(engine, _fresh(engine)))


def test_a_reader_that_kept_an_older_overlay_still_sees_its_own_rows(engine):
    """Appending in place is only for the tail at the buffer's end: an older tail extended
    again gets a copy, and neither sees the other's rows."""
    make_index(engine, dimension=DIM)
    rng = np.random.default_rng(1)
    engine.upsert("idx", NS, _records(["a", "b"], "red", rng))
    cfg = engine.describe_index("idx")
    old = engine._cache.snapshot(cfg.id, NS, metric="cosine", dimension=DIM)
    old_tail = old.overlay.live(DIM)
    old_rows = old_tail.matrix.copy()
    engine.upsert("idx", NS, _records(["c"], "red", rng))
    newer = engine._cache.snapshot(cfg.id, NS, metric="cosine", dimension=DIM).overlay.live(DIM)
    sibling = old_tail.derive({**old.overlay.touched, "d": (Record("d", np.full(DIM, 9, np.float32)), 99)},
                              {"d"}, DIM)
    assert np.array_equal(old_tail.matrix, old_rows)
    assert newer.ids == ["a", "b", "c"] and sibling.ids == ["a", "b", "d"]
    assert np.array_equal(sibling.matrix[2], np.full(DIM, 9, np.float32))
    assert not np.array_equal(newer.matrix[2], sibling.matrix[2])


def test_a_tail_of_mostly_dead_rows_is_compacted(monkeypatch):
    monkeypatch.setattr(tail_module, "_MIN_CAPACITY", 4)
    touched = {f"r{i}": (Record(f"r{i}", np.full(DIM, i, np.float32)), i) for i in range(10)}
    tail = TailRecords.build(touched, DIM)
    for round_ in range(5):  # every record replaced each round
        touched = {rid: (Record(rid, np.full(DIM, 100 * round_ + i, np.float32)), 100 + i)
                   for i, rid in enumerate(sorted(touched))}
        tail = tail.derive(touched, set(touched), DIM)
        assert len(tail.ids) <= 2 * len(touched) + 4
    assert tail.sorted_ids == sorted(touched)
    assert all(np.array_equal(tail.matrix[tail.row_of[rid]], touched[rid][0].values) for rid in touched)
    assert np.allclose(tail.sq, np.einsum("ij,ij->i", tail.matrix, tail.matrix))


@pytest.mark.parametrize("seed", range(20))
def test_merge_sorted_matches_sorting(seed):
    pick = random.Random(seed)
    universe = [f"{pick.choice('abc')}{pick.randint(0, 99)}" for _ in range(200)]
    old = sorted(set(pick.sample(universe, 60)))
    remove = pick.sample(old, pick.randint(0, len(old)))
    insert = [rid for rid in set(pick.sample(universe, 30)) if rid not in old]
    assert _merge_sorted(old, remove, insert) == sorted(set(old) - set(remove) | set(insert))
