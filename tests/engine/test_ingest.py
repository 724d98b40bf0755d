"""Bulk writes through ``Spruce.ingest`` (what a bulk import does with each chunk): the records are
written once, as a slab, and an ``Ingest`` log entry gives them their LSN. They must behave as an
upsert at that LSN would, on both read paths: visible when ``ingest`` returns, shadowing older
versions, shadowed by every later write, and never lost once the entry is logged."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from spruce.engine.builder import BuilderSettings, ShadowedIds
from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.namespaces import namespace_key
from spruce.engine.records import Ingest, Record, Update
from spruce.engine.slabs import RecordColumns
from tests.engine.conftest import make_index

NS = "ns"
DIM = 8


def _records(ids, seed: int, tag: str) -> tuple[list[Record], np.ndarray]:
    vectors = np.random.default_rng(seed).normal(size=(len(ids), DIM)).astype(np.float32)
    return [Record(rid, vectors[i], metadata={"tag": tag, "n": i}) for i, rid in enumerate(ids)], vectors


def _columns(records: list[Record], vectors: np.ndarray) -> RecordColumns:
    return RecordColumns.of(records, DIM, vectors)


def _ids(start: int, stop: int) -> list[str]:
    return [f"r{i}" for i in range(start, stop)]


def _log_ingest(engine, records: list[Record], vectors: np.ndarray) -> int:
    """Log an Ingest entry without flushing it (what a crash, or a flush still to come, leaves)."""
    cfg = engine.describe_index("idx")
    ref = engine.builder.write_ingest_slab(cfg, NS, _columns(records, vectors))
    return engine._write(cfg, NS, Ingest(ref.slab_id, ref.rows)).lsn


def _tags(engine, ids) -> dict[str, str]:
    return {rid: rec.metadata["tag"] for rid, rec in engine.fetch("idx", NS, ids).value.items()}


def test_an_ingest_is_visible_when_it_returns_and_its_slab_is_committed_as_written(any_engine):
    engine = any_engine
    cfg = make_index(engine, dimension=DIM)
    records, vectors = _records(_ids(0, 500), 1, "bulk")
    result = engine.ingest("idx", NS, _columns(records, vectors))
    assert result.lsn == 1
    manifest = engine._cache.manifest(cfg.id, NS)
    assert manifest.flushed_lsn == 1 and manifest.record_count == 500
    (ref,) = manifest.slabs
    assert (ref.rows, ref.min_lsn, ref.max_lsn, ref.dead) == (500, 1, 1, 0)
    stored = engine.builder._slabs.list_objects(cfg.id, namespace_key(NS))
    assert stored == [f"slab-{ref.slab_id}"]  # written once: no second slab flushed from a log payload
    hits = engine.query("idx", NS, QuerySpec(top_k=1, vector=vectors[42], include_metadata=True)).value
    assert hits[0].id == "r42" and hits[0].metadata == {"tag": "bulk", "n": 42}
    np.testing.assert_array_equal(engine.fetch("idx", NS, ["r7"]).value["r7"].values, vectors[7])
    assert engine.stats("idx").value == {NS: 500}
    assert engine.describe_namespace("idx", NS).record_count == 500


def test_an_ingest_shadows_older_versions_flushed_or_in_the_tail(any_engine):
    engine = any_engine
    make_index(engine, dimension=DIM)
    engine.upsert("idx", NS, _records(_ids(0, 100), 2, "old")[0])
    engine.flush("idx", NS)
    engine.upsert("idx", NS, _records(_ids(100, 150), 3, "tail")[0])  # not flushed: the flush splits here
    engine.ingest("idx", NS, _columns(*_records(_ids(50, 120), 4, "bulk")))
    tags = _tags(engine, _ids(0, 150))
    assert tags == {**{r: "old" for r in _ids(0, 50)}, **{r: "bulk" for r in _ids(50, 120)},
                    **{r: "tail" for r in _ids(120, 150)}}
    assert engine.stats("idx").value == {NS: 150}
    again = _records(_ids(100, 130), 5, "again")
    engine.ingest("idx", NS, _columns(*again))  # one ingest over another
    assert set(_tags(engine, _ids(100, 130)).values()) == {"again"} and engine.stats("idx").value == {NS: 150}
    listed = engine.list_ids("idx", NS, prefix=None, limit=100, token=None).value
    assert len(listed[0]) == 100


def test_writes_logged_after_an_ingest_win_over_it_and_readers_see_it_only_once_committed(any_engine):
    engine = any_engine
    make_index(engine, dimension=DIM)
    records, vectors = _records(_ids(0, 20), 6, "bulk")
    lsn = _log_ingest(engine, records, vectors)
    engine.upsert("idx", NS, _records(["r1"], 7, "later")[0])
    engine.delete("idx", NS, ids=["r2"])
    engine.update("idx", NS, Update("r3", set_metadata={"extra": True}))
    # Not committed yet: readers see the later writes alone (the update found no r3 then).
    assert _tags(engine, ["r0", "r1", "r3"]) == {"r1": "later"}
    assert engine.query("idx", NS, QuerySpec(top_k=5, vector=vectors[0])).max_lsn == lsn + 3
    engine.flush("idx", NS)
    # Committed at its LSN: every later write resolved over it.
    got = engine.fetch("idx", NS, _ids(0, 20)).value
    assert sorted(got) == sorted(set(_ids(0, 20)) - {"r2"})
    assert got["r1"].metadata["tag"] == "later"
    assert got["r3"].metadata == {"tag": "bulk", "n": 3, "extra": True}
    assert engine.stats("idx").value == {NS: 19}
    hits = engine.query("idx", NS, QuerySpec(top_k=20, vector=vectors[0])).value
    assert {h.id for h in hits} == set(got)


def test_a_delete_all_after_an_ingest_clears_it_too(any_engine):
    engine = any_engine
    make_index(engine, dimension=DIM)
    _log_ingest(engine, *_records(_ids(0, 10), 8, "bulk"))
    engine.delete("idx", NS, delete_all=True)
    engine.upsert("idx", NS, _records(["z"], 9, "after")[0])
    engine.flush("idx", NS)
    assert engine.stats("idx").value == {NS: 1}
    assert _tags(engine, _ids(0, 10) + ["z"]) == {"z": "after"}


def test_a_logged_ingest_survives_a_crash_before_its_flush_and_an_unlogged_slab_is_swept(tmp_path):
    settings = BuilderSettings(gc_grace_s=0.0, ann_min_rows=10**9)
    engine = open_local(tmp_path / "d", settings=settings, start=False)
    cfg = make_index(engine, dimension=DIM)
    records, vectors = _records(_ids(0, 30), 10, "bulk")
    _log_ingest(engine, records, vectors)
    orphan = engine.builder.write_ingest_slab(cfg, NS, _columns(*_records(["x"], 11, "orphan")))  # never logged
    engine.close()  # the process dies: nothing flushed

    reopened = open_local(tmp_path / "d", settings=settings)  # sweeps orphans, then flushes in the background
    try:
        stored = reopened.builder._slabs.list_objects(cfg.id, namespace_key(NS))
        assert f"slab-{orphan.slab_id}" not in stored
        reopened.flush("idx", NS)
        assert reopened.stats("idx").value == {NS: 30}
        assert _tags(reopened, ["r0", "r29", "x"]) == {"r0": "bulk", "r29": "bulk"}
    finally:
        reopened.close()


def test_an_ingest_needs_unique_ids(engine):
    make_index(engine, dimension=DIM)
    records, vectors = _records(["a", "b", "a"], 12, "bulk")
    with pytest.raises(ValueError):
        engine.ingest("idx", NS, _columns(records, vectors))
    assert engine.stats("idx").value == {}


@pytest.mark.parametrize("probe_rows_per_id", [0, 10**9], ids=["scanned-by-arrow", "probed-id-by-id"])
def test_the_rows_a_write_shadows_are_found_alike_either_way(engine, monkeypatch, probe_rows_per_id):
    """``ShadowedIds`` finds the live rows holding its ids in each older slab, whichever way it looks."""
    cfg = make_index(engine, dimension=DIM)
    engine.upsert("idx", NS, _records(_ids(0, 300), 1, "a")[0])
    engine.flush("idx", NS)
    engine.upsert("idx", NS, _records(_ids(200, 400), 2, "b")[0])  # shadows r200..r299 of the first slab
    engine.flush("idx", NS)
    manifest = engine._cache.manifest(cfg.id, NS)
    views = engine.builder._local.open(cfg.id, NS, manifest, metric=cfg.metric).views
    monkeypatch.setattr(ShadowedIds, "PROBE_ROWS_PER_ID", probe_rows_per_id)
    wanted = {"r5", "r250", "r350", "r999"}  # live in the first, dead there and live in the second, nowhere
    for shadowed in (ShadowedIds(wanted), ShadowedIds(pa.array(sorted(wanted)))):
        found = [sorted(view.data.ids[rows].tolist()) for view, rows in zip(views, shadowed.rows_in(views))]
        assert found == [["r5"], ["r250", "r350"]]
    assert [len(rows) for rows in ShadowedIds(set()).rows_in(views)] == [0, 0]


def test_an_ingest_that_cannot_be_logged_leaves_neither_its_slab_nor_its_cached_view(engine, monkeypatch):
    cfg = make_index(engine, dimension=DIM)

    def refuse(*args, **kwargs):
        raise OSError("the log is unavailable")
    monkeypatch.setattr(engine, "_write", refuse)
    with pytest.raises(OSError):
        engine.ingest("idx", NS, _columns(*_records(_ids(0, 50), 1, "bulk")))
    assert engine.builder._slabs.list_objects(cfg.id, namespace_key(NS)) == []
    assert not [key for key in engine.builder._local._slab_data if key[0] == cfg.id]


def test_a_seeded_slab_derives_its_ids_and_norms_on_first_use():
    """A slab seeded with its vectors (an ingested chunk) derives ids, id lookups and norms only
    when a reader asks, and then as a slab read from storage has them."""
    from spruce.engine.scoring import row_norms
    from spruce.engine.slabs import SlabData, slab_table

    records, vectors = _records(_ids(0, 30), 12, "bulk")
    table = slab_table(_columns(records, vectors), np.zeros(30, dtype=np.int64))

    class Stored:  # what SlabData reads of a LanceDB table when the slab was just written
        schema = table.schema

    data = SlabData("s", Stored(), indexed=False, metric="cosine", written=table, matrix=vectors)
    assert data.matrix is vectors and not data._norms_known and "ids" not in vars(data)
    np.testing.assert_array_equal(data.norms, row_norms("cosine", vectors))
    assert data.ids.tolist() == _ids(0, 30) and data.id_to_row["r7"] == 7 and data.rows == 30
    assert data.sorted_ids[:3] == ["r0", "r1", "r10"]
