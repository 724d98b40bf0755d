"""Which slabs compaction merges: unindexed (L0) slabs once there are enough of them, from the
largest that the smaller ones hold ``l0_share`` of; all of a namespace's unindexed slabs once it
has settled (no flush for ``settle_s``) if the smaller ones hold ``settle_share`` of the largest;
and the ANN-indexed slabs into one once those besides the largest hold ``tier_share`` of its rows
(every query searches every slab), leaving alone slabs of ``tier_max_rows``. The embedded host
keeps merging while the policy finds work, without waiting for another flush, and settles
namespaces on its own."""

from __future__ import annotations

import logging
import time

import numpy as np

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.records import Record
from spruce.engine.slabs import RecordColumns
from tests.engine.conftest import make_index

NS = "ns"
_rng = np.random.default_rng(0)


def _write(engine, start: int, count: int) -> None:
    engine.upsert("idx", NS, [Record(f"r{i:05d}", _rng.normal(size=8).astype(np.float32))
                              for i in range(start, start + count)])


def _layout(engine) -> list[tuple[int, bool]]:
    manifest = engine._cache.manifest(engine.describe_index("idx").id, NS)
    return sorted(((r.live, r.indexed) for r in manifest.slabs), reverse=True)


def test_indexed_slabs_merge_once_the_smaller_ones_hold_the_tier_share(tmp_path):
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=400, tier_share=0.3),
                        start=False)
    make_index(engine, dimension=8)
    _write(engine, 0, 2000)
    engine.flush("idx", NS)
    assert engine.compact("idx", NS)  # one L0 slab past ann_min_rows: indexed
    _write(engine, 2000, 450)
    engine.flush("idx", NS)
    assert engine.compact("idx", NS)
    assert _layout(engine) == [(2000, True), (450, True)]
    assert not engine.compact("idx", NS)  # 450 < 0.3 × 2000: two slabs stay
    _write(engine, 2450, 400)
    engine.flush("idx", NS)
    assert engine.compact("idx", NS)  # 450 + 400 ≥ 0.3 × 2000: the L0 slab and both indexed ones in one merge
    assert _layout(engine) == [(2850, True)]
    assert not engine.compact("idx", NS)
    engine.builder.settings.tier_max_rows = 2850  # a slab this large is left alone
    _write(engine, 2850, 1000)
    engine.flush("idx", NS)
    assert engine.compact("idx", NS)
    assert not engine.compact("idx", NS)
    assert _layout(engine) == [(2850, True), (1000, True)]
    ids = engine.list_ids("idx", NS, prefix=None, limit=4000, token=None).value[0]
    assert ids == [f"r{i:05d}" for i in range(3850)]
    engine.close()


def test_the_embedded_host_merges_again_after_a_merge_without_another_flush(tmp_path):
    """The last flush of an ingest leads to a merge on its own: the L0 slab makes an indexed slab
    with the indexed one."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=400, tier_share=0.3,
                                                                 flush_interval_s=0.0, poll_s=0.02))
    make_index(engine, dimension=8)
    _write(engine, 0, 2000)
    _wait_for(engine, [(2000, True)])
    _write(engine, 2000, 700)  # one flush: an L0 slab of 700 rows, merged (indexed), then tiered
    _wait_for(engine, [(2700, True)])
    engine.close()


def test_unindexed_rows_that_make_the_tier_merge_due_join_it_rather_than_make_a_slab_of_their_own(tmp_path, caplog):
    """Without this, the L0 merge would write a 700-row indexed slab (its ANN index too) and the
    tier merge would rewrite it at once: at 1M rows that cost a 716,200-row index and graph."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=400, tier_share=0.3),
                        start=False)
    make_index(engine, dimension=8)
    _write(engine, 0, 2000)
    engine.flush("idx", NS)
    assert engine.compact("idx", NS)
    for start in range(2000, 2700, 100):
        _write(engine, start, 100)
        engine.flush("idx", NS)
    with caplog.at_level(logging.INFO, logger="spruce.builder"):
        assert engine.compact("idx", NS)
    assert [r.getMessage().split(" of ")[0] for r in caplog.records] == ["built ANN index on 2700 rows"]
    assert _layout(engine) == [(2700, True)]
    ids = engine.list_ids("idx", NS, prefix=None, limit=4000, token=None).value[0]
    assert ids == [f"r{i:05d}" for i in range(2700)]
    engine.close()


def _wait_for(engine, layout, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _layout(engine) != layout:
        assert time.monotonic() < deadline, f"layout {_layout(engine)}, expected {layout}"
        time.sleep(0.05)


def _flat_engine(tmp_path, **settings):
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=10**6, **settings),
                        start=False)
    make_index(engine, dimension=8)
    return engine


def _flushed(engine, start: int, count: int) -> None:
    _write(engine, start, count)
    assert engine.flush("idx", NS)


def test_unindexed_slabs_merge_from_the_largest_the_smaller_ones_hold_the_share_of(tmp_path):
    engine = _flat_engine(tmp_path, l0_merge_count=4, l0_share=0.3)
    for start, count in ((0, 100), (100, 100), (200, 100), (300, 100)):
        _flushed(engine, start, count)
    assert engine.compact("idx", NS)  # similar sizes: all four
    assert _layout(engine) == [(400, False)]
    for start in (400, 410, 420):
        _flushed(engine, start, 10)
    assert engine.compact("idx", NS)  # 30 < 0.3 × 400: the three small ones only, not the 400 rows again
    assert _layout(engine) == [(400, False), (30, False)]
    assert not engine.compact("idx", NS)  # two slabs: under the count
    for start in (430, 440):
        _flushed(engine, start, 10)
    assert engine.compact("idx", NS)  # 400, 30, 10, 10: 50 < 120, but 20 ≥ 0.3 × 30
    assert _layout(engine) == [(400, False), (50, False)]
    for start, count in ((450, 60), (510, 20)):
        _flushed(engine, start, count)
    assert engine.compact("idx", NS)  # 130 ≥ 0.3 × 400: everything
    assert _layout(engine) == [(530, False)]
    ids = engine.list_ids("idx", NS, prefix=None, limit=1000, token=None).value[0]
    assert ids == [f"r{i:05d}" for i in range(530)]
    engine.close()


def test_a_settled_namespace_merges_its_unindexed_slabs_unless_the_smaller_hold_under_the_settle_share(tmp_path):
    engine = _flat_engine(tmp_path, l0_merge_count=4, settle_share=0.05)
    _flushed(engine, 0, 1000)
    _flushed(engine, 1000, 40)
    assert not engine.compact("idx", NS)  # two slabs: the policy alone leaves them
    assert not engine.builder.compact(engine.describe_index("idx"), NS, settle=True)  # 40 < 0.05 × 1000
    _flushed(engine, 1040, 10)
    assert engine.builder.compact(engine.describe_index("idx"), NS, settle=True)  # 50 ≥ 50
    assert _layout(engine) == [(1050, False)]
    assert not engine.builder.compact(engine.describe_index("idx"), NS, settle=True)  # one slab: nothing to do
    engine.close()


def test_the_embedded_host_settles_a_namespace_after_its_last_flush(tmp_path):
    """A bulk load's last flushes leave slabs the count rule does not merge; once no flush has
    come for ``settle_s``, the host merges them. A write now and then that adds under the
    settle share is left as its own slab."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(
        gc_grace_s=0.0, ann_min_rows=10**6, flush_interval_s=0.0, poll_s=0.02, settle_s=0.3, settle_share=0.01))
    make_index(engine, dimension=8)
    _write(engine, 0, 2000)
    _wait_for(engine, [(2000, False)])
    _write(engine, 2000, 30)  # one flush: a second slab, which settles into the first
    _wait_for(engine, [(2030, False)])
    _write(engine, 2030, 5)  # 5 < 0.01 × 2030
    _wait_for(engine, [(2030, False), (5, False)])
    time.sleep(1.0)  # three settle periods
    assert _layout(engine) == [(2030, False), (5, False)]
    engine.close()


def _ingest(engine, start: int, count: int) -> None:
    vectors = _rng.normal(size=(count, 8)).astype(np.float32)
    records = [Record(f"r{i:05d}", None) for i in range(start, start + count)]
    engine.ingest("idx", NS, RecordColumns.of(records, 8, vectors))


def test_the_embedded_host_merges_ingested_chunks_once_they_stop_coming(tmp_path):
    """A bulk import's chunks are not merged as they come (each would be merged, and indexed,
    again with the next): the namespace settles ``settle_s`` after the last one."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(
        gc_grace_s=0.0, ann_min_rows=10**6, l0_merge_count=2, poll_s=0.02, settle_s=0.5))
    make_index(engine, dimension=8)
    started = time.monotonic()
    for chunk in range(5):  # a flush's slabs would merge at 2 (l0_merge_count)
        _ingest(engine, chunk * 100, 100)
    assert time.monotonic() - started < 0.5, "the chunks came too slowly to test this"
    assert _layout(engine) == [(100, False)] * 5
    _wait_for(engine, [(500, False)])
    assert time.monotonic() - started >= 0.5
    engine.close()


def test_a_long_import_merges_as_it_goes_once_its_unindexed_rows_fill_a_merge(tmp_path):
    """Once the unindexed slabs hold ``tier_max_rows``, each chunk has the namespace tried at once."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(
        gc_grace_s=0.0, ann_min_rows=10**6, poll_s=0.02, settle_s=60.0, tier_max_rows=300))
    make_index(engine, dimension=8)
    _ingest(engine, 0, 100)
    _ingest(engine, 100, 100)
    time.sleep(0.3)
    assert _layout(engine) == [(100, False)] * 2  # settles only in a minute
    _ingest(engine, 200, 100)
    _ingest(engine, 300, 100)  # 400 ≥ 300 unindexed: tried now (4 = l0_merge_count)
    _wait_for(engine, [(400, False)], timeout=30.0)
    engine.close()
