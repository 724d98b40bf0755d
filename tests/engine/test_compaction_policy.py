"""Which slabs compaction merges: unindexed (L0) slabs once there are enough of them, and the
ANN-indexed slabs into one once those besides the largest hold ``tier_share`` of its rows
(every query searches every slab), leaving alone slabs of ``tier_max_rows``; the embedded host keeps merging while the policy finds work,
without waiting for another flush."""

from __future__ import annotations

import time

import numpy as np

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.records import Record
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
    assert engine.compact("idx", NS)
    assert _layout(engine) == [(2000, True), (450, True), (400, True)]
    assert engine.compact("idx", NS)  # 850 ≥ 600: all three become one
    assert _layout(engine) == [(2850, True)]
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
    """The last flush of an ingest leads to an L0 merge that makes an indexed slab; the merge of
    the indexed slabs it makes due follows on its own."""
    engine = open_local(tmp_path / "d", settings=BuilderSettings(gc_grace_s=0.0, ann_min_rows=400, tier_share=0.3,
                                                                 flush_interval_s=0.0, poll_s=0.02))
    make_index(engine, dimension=8)
    _write(engine, 0, 2000)
    _wait_for(engine, [(2000, True)])
    _write(engine, 2000, 700)  # one flush: an L0 slab of 700 rows, merged (indexed), then tiered
    _wait_for(engine, [(2700, True)])
    engine.close()


def _wait_for(engine, layout, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _layout(engine) != layout:
        assert time.monotonic() < deadline, f"layout {_layout(engine)}, expected {layout}"
        time.sleep(0.05)
