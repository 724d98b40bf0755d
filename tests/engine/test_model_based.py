"""Random write sequences (bulk ingests among them), with flushes and compactions at random points (some merges planned before
and committed after later writes and flushes), checked against a plain-Python oracle: newest wins
(invariant 4) and read-your-writes (invariant 3) hold for query, fetch, list and counts whether a
version lives in the tail or in slabs."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.filters import parse_filter
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record, SparseVector, Update
from spruce.engine.slabs import RecordColumns
from tests.engine.conftest import make_index

NS = "ns"


#: (metric, record kind): dense indexes per metric, a sparse index, and a hybrid one
#: (dense dotproduct index whose records also carry sparse values, queried with both).
KINDS = [("cosine", "dense"), ("euclidean", "dense"), ("dotproduct", "dense"),
         ("dotproduct", "sparse"), ("dotproduct", "hybrid")]
VOCAB = 40  # sparse term ids 0..VOCAB-1 (small, so records share terms)


class Oracle:
    def __init__(self) -> None:
        # id -> (dense values | None, sparse {term: value} | None, metadata | None)
        self.records: dict[str, tuple[np.ndarray | None, dict[int, float] | None, dict | None]] = {}

    def upsert(self, recs):
        for r in recs:
            self.records[r.id] = (None if r.values is None else r.values.copy(), _as_dict(r.sparse),
                                  None if r.metadata is None else dict(r.metadata))

    def update(self, rid, values, sparse, md):
        if rid in self.records:
            v, sp, m = self.records[rid]
            self.records[rid] = (v if values is None else values, sp if sparse is None else _as_dict(sparse),
                                 {**(m or {}), **md} if md else m)

    def delete_ids(self, ids):
        for i in ids:
            self.records.pop(i, None)

    def update_filter(self, flt, md):
        for rid, (v, sp, m) in list(self.records.items()):
            if flt.matches(m):
                self.records[rid] = (v, sp, {**(m or {}), **md})

    def delete_filter(self, flt):
        for rid in [r for r, (_, _, m) in self.records.items() if flt.matches(m)]:
            del self.records[rid]


def _as_dict(sv: SparseVector | None) -> dict[int, float] | None:
    return None if sv is None else {int(i): float(v) for i, v in zip(sv.indices, sv.values)}


def random_sparse(rng, nnz_max: int = 6) -> SparseVector:
    idx = np.sort(rng.choice(VOCAB, size=int(rng.integers(1, nnz_max + 1)), replace=False)).astype(np.uint32)
    return SparseVector(idx, rng.normal(size=len(idx)).astype(np.float32))


def expected_top(oracle: Oracle, q: np.ndarray | None, qs: SparseVector | None, metric: str, k: int,
                 flt=None) -> list[tuple[str, float]]:
    """Brute force in float64: dense score per metric, plus the sparse dot product when the
    query has a sparse part; sparse-only queries drop records scoring 0 (SP-6)."""
    qsd = _as_dict(qs)
    scored = []
    for rid, (v, sp, m) in oracle.records.items():
        if flt is not None and not flt.matches(m):
            continue
        s = 0.0
        if q is not None:
            vd, qd = v.astype(np.float64), q.astype(np.float64)
            if metric == "cosine":
                s = float(vd @ qd / (np.linalg.norm(vd) * np.linalg.norm(qd)))
            elif metric == "dotproduct":
                s = float(vd @ qd)
            else:
                s = float(((vd - qd) ** 2).sum())
        if qsd is not None:
            s += sum(val * (sp or {}).get(t, 0.0) for t, val in qsd.items())
            if q is None and s == 0.0:
                continue
        scored.append((rid, s))
    scored.sort(key=lambda x: x[1] if metric == "euclidean" else -x[1])
    return scored[:k]


def check(engine, oracle: Oracle, metric: str, kind: str, rng, dim: int) -> None:
    res = engine.fetch("idx", NS, sorted(oracle.records) + ["missing-id"]).value
    assert set(res) == set(oracle.records)
    for rid, rec in res.items():
        values, sparse, md = oracle.records[rid]
        if values is None:
            assert rec.values is None
        else:
            np.testing.assert_allclose(rec.values, values, rtol=1e-6)
        assert _as_dict(rec.sparse) == sparse
        assert rec.metadata == md
    ids, token = [], None
    while True:
        page, token = engine.list_ids("idx", NS, prefix=None, limit=7, token=token).value
        ids += page
        if token is None:
            break
    assert ids == sorted(oracle.records)
    stats = engine.stats("idx").value
    assert stats.get(NS, 0) == len(oracle.records)
    q = None if kind == "sparse" else rng.normal(size=dim).astype(np.float32)
    qs = None if kind == "dense" else random_sparse(rng, 10)
    for flt_doc in (None, {"color": "red"}, {"n": {"$gte": 5}}):
        flt = parse_filter(flt_doc)
        want = expected_top(oracle, q, qs, metric, 10, flt)
        got = engine.query("idx", NS, QuerySpec(top_k=10, vector=q, sparse=qs, filter=flt,
                                                include_metadata=True)).value
        # scores equal to numpy's; ids equal up to ties
        np.testing.assert_allclose([m.score for m in got], [s for _, s in want], rtol=1e-4, atol=1e-5)
        assert {m.id for m in got} == {i for i, _ in want} or len(want) > 10


@pytest.mark.parametrize("metric,kind", KINDS, ids=[f"{m}-{k}" for m, k in KINDS])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_histories_match_the_oracle(any_engine, metric, kind, seed):
    engine = any_engine
    dim = 6
    make_index(engine, dimension=None if kind == "sparse" else dim, metric=metric)
    rng = np.random.default_rng(seed)
    oracle = Oracle()
    colors = ["red", "green", "blue"]

    def new_record(i: int) -> Record:
        values = None if kind == "sparse" else rng.normal(size=dim).astype(np.float32)
        # hybrid indexes hold records with and without sparse values
        sparse = random_sparse(rng) if kind == "sparse" or (kind == "hybrid" and rng.random() < 0.7) else None
        return Record(f"id{i:03d}", values, sparse,
                      metadata={"color": str(rng.choice(colors)), "n": float(rng.integers(0, 10))})

    merging = None
    for step in range(60):
        action = rng.choice(["upsert", "ingest", "update", "update_filter", "delete", "delete_filter", "flush",
                             "compact", "merge", "check"], p=[0.3, 0.1, 0.1, 0.05, 0.1, 0.05, 0.12, 0.03, 0.07, 0.08])
        if action == "upsert":
            recs = [new_record(int(i)) for i in rng.integers(0, 80, size=int(rng.integers(1, 12)))]
            engine.upsert("idx", NS, recs)
            oracle.upsert(recs)
        elif action == "ingest":  # a bulk import's chunk: a slab of its own, committed at its LSN
            recs = list({r.id: r for r in (new_record(int(i)) for i in rng.integers(0, 80, size=12))}.values())
            engine.ingest("idx", NS, RecordColumns.of(recs, None if kind == "sparse" else dim))
            oracle.upsert(recs)
        elif action == "update":
            rid = f"id{int(rng.integers(0, 80)):03d}"
            values = rng.normal(size=dim).astype(np.float32) if kind != "sparse" and rng.random() < 0.5 else None
            sparse = random_sparse(rng) if kind != "dense" and rng.random() < 0.5 else None
            md = {"color": str(rng.choice(colors))} if (values is None and sparse is None) or rng.random() < 0.5 \
                else None
            engine.update("idx", NS, Update(rid, values=values, sparse=sparse, set_metadata=md))
            oracle.update(rid, values, sparse, md)
        elif action == "delete":
            ids = [f"id{int(i):03d}" for i in rng.integers(0, 80, size=5)]
            engine.delete("idx", NS, ids=ids)
            oracle.delete_ids(ids)
        elif action == "update_filter":
            flt = parse_filter({"color": str(rng.choice(colors))})
            md = {"n": float(rng.integers(0, 10)), "tag": "bulk"}
            matched, _ = engine.update_by_filter("idx", NS, flt, md)
            assert matched == sum(1 for _, _, m in oracle.records.values() if flt.matches(m))
            oracle.update_filter(flt, md)
        elif action == "delete_filter":
            flt = parse_filter({"color": str(rng.choice(colors)), "n": {"$lt": 3}})
            engine.delete("idx", NS, filter=flt)
            oracle.delete_filter(flt)
        elif action == "flush":
            engine.flush("idx", NS)
        elif action == "compact":
            engine.compact("idx", NS, force=True)
        elif action == "merge":  # a merge planned now and committed later, after other writes and flushes
            if merging is None:
                merging = engine.builder.plan_compaction(engine.describe_index("idx"), NS, force=True)
            else:
                engine.builder.install_compaction(merging)
                merging = None
        else:
            check(engine, oracle, metric, kind, rng, dim)
    check(engine, oracle, metric, kind, rng, dim)
    engine.flush("idx", NS)
    if merging is not None:
        engine.builder.install_compaction(merging)
    check(engine, oracle, metric, kind, rng, dim)
    engine.compact("idx", NS, force=True)
    check(engine, oracle, metric, kind, rng, dim)


def test_delete_all_then_reupsert_across_flushes(engine):
    make_index(engine, dimension=2, metric="dotproduct")
    engine.upsert("idx", NS, [Record("a", np.array([1, 0], np.float32)), Record("b", np.array([0, 1], np.float32))])
    engine.flush("idx", NS)
    engine.delete("idx", NS, delete_all=True)
    engine.upsert("idx", NS, [Record("b", np.array([2, 2], np.float32))])
    assert set(engine.fetch("idx", NS, ["a", "b"]).value) == {"b"}
    engine.flush("idx", NS)
    assert set(engine.fetch("idx", NS, ["a", "b"]).value) == {"b"}
    assert engine.stats("idx").value == {NS: 1}
