"""After a flush, a reader's overlay is rebased (the entries the flush wrote into slabs dropped)
instead of being rebuilt by decoding the log tail again: reads then decode only entries they
have not seen, and answer exactly as a reader that resolved the tail from scratch (newest
wins, invariant 4), also when deletes by filter and delete-all straddle the flush."""

from __future__ import annotations

import numpy as np
import pytest

import spruce.engine.namespaces as namespaces
from spruce.engine.filters import parse_filter
from spruce.engine.model import QuerySpec
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.records import Record
from tests.engine.conftest import make_index

NS = "ns"


def _records(ids, colour: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [Record(i, rng.normal(size=4).astype(np.float32), metadata={"colour": colour}) for i in ids]


def _view(engine, cache: NamespaceCache) -> tuple[int, dict, list[str]]:
    """Count, every record and a query's ids, as a reader through ``cache`` sees them."""
    cfg = engine.describe_index("idx")
    snap = cache.snapshot(cfg.id, NS, metric=cfg.metric, dimension=cfg.dimension)
    ids, _ = snap.list_ids("", None, 1000)
    records = {i: (r.values.tolist(), r.metadata) for i, r in snap.fetch(ids).items()}
    hits = [m.id for m in snap.query(QuerySpec(top_k=5, vector=np.ones(4, dtype=np.float32)))]
    return snap.record_count, records, hits


def _fresh(engine) -> NamespaceCache:
    """A reader with no overlay yet: it resolves the whole tail from the log."""
    return NamespaceCache(engine._store, engine._store, engine._cache.slabs)


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """How many log entries readers decoded."""
    calls = [0]
    real = namespaces.decode_op

    def counting(kind, payload):
        calls[0] += 1
        return real(kind, payload)

    monkeypatch.setattr(namespaces, "decode_op", counting)
    return calls


def test_a_read_after_a_flush_decodes_only_new_entries(engine, decoded, monkeypatch):
    make_index(engine, dimension=4)
    for i in range(3):
        engine.upsert("idx", NS, _records([f"a{i}"], "red", seed=i))
    builder, commit = engine.builder, engine.builder._commit

    def commit_after_more_writes(*args, **kwargs):
        """Writes acknowledged, and read, while the flush was writing its slab."""
        for i in range(2):
            engine.upsert("idx", NS, _records([f"b{i}"], "blue", seed=i))
        assert set(engine.fetch("idx", NS, ["a0", "b1"]).value) == {"a0", "b1"}
        return commit(*args, **kwargs)

    monkeypatch.setattr(builder, "_commit", commit_after_more_writes)
    engine.flush("idx", NS)
    assert engine._cache.manifest(engine.describe_index("idx").id, NS).flushed_lsn == 3
    assert decoded[0] == 5  # each entry once: the flush's read, then the read during the flush
    engine.upsert("idx", NS, _records(["c0"], "green"))
    assert set(engine.fetch("idx", NS, ["a0", "b0", "b1", "c0"]).value) == {"a0", "b0", "b1", "c0"}
    assert decoded[0] == 6  # the entries read before the flush committed are not decoded again


@pytest.mark.parametrize("history", ["filter-delete-straddles", "delete-all-before", "delete-all-after"])
def test_rebased_reads_match_a_reader_that_resolved_the_tail_from_scratch(engine, history):
    make_index(engine, dimension=4)
    engine.upsert("idx", NS, _records([f"r{i}" for i in range(6)], "red") + _records(["g0", "g1"], "green"))
    engine.flush("idx", NS)
    reader = NamespaceCache(engine._store, engine._store, engine._cache.slabs)  # kept across the flush
    red = parse_filter({"colour": "red"})
    if history == "filter-delete-straddles":
        engine.delete("idx", NS, filter=parse_filter({"colour": "green"}))  # flushed below
        engine.upsert("idx", NS, _records(["r0", "n0"], "red", seed=1))
        _view(engine, reader)
        engine.flush("idx", NS)
        engine.delete("idx", NS, filter=red)  # after the flush: hides base rows and r0's new version
        engine.upsert("idx", NS, _records(["r1"], "blue", seed=2))
    elif history == "delete-all-before":
        engine.delete("idx", NS, delete_all=True)
        engine.upsert("idx", NS, _records(["n0", "n1"], "red", seed=1))
        _view(engine, reader)
        engine.flush("idx", NS)
        engine.upsert("idx", NS, _records(["n2"], "blue", seed=2))
    else:
        engine.upsert("idx", NS, _records(["n0"], "red", seed=1))
        _view(engine, reader)
        engine.flush("idx", NS)
        engine.delete("idx", NS, delete_all=True)
        engine.upsert("idx", NS, _records(["n1"], "blue", seed=2))
    seen = _view(engine, reader)  # rebased over the flush, extended with what followed it
    assert seen == _view(engine, _fresh(engine))
    engine.flush("idx", NS)
    assert _view(engine, reader) == seen == _view(engine, _fresh(engine))
    expected = {"filter-delete-straddles": {"r1"},
                "delete-all-before": {"n0", "n1", "n2"}, "delete-all-after": {"n1"}}[history]
    assert set(seen[1]) == expected and seen[0] == len(expected)
