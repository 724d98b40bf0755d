"""Random write sequences, with flushes and compactions at random points, checked against
a plain-Python oracle: newest wins (invariant 4) and read-your-writes (invariant 3) hold
for query, fetch, list and counts whether a version lives in the tail or in slabs."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.filters import parse_filter
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record, Update
from tests.engine.conftest import make_index

NS = "ns"


class Oracle:
    def __init__(self) -> None:
        self.records: dict[str, tuple[np.ndarray, dict | None]] = {}

    def upsert(self, recs):
        for r in recs:
            self.records[r.id] = (r.values.copy(), None if r.metadata is None else dict(r.metadata))

    def update(self, rid, values, md):
        if rid in self.records:
            v, m = self.records[rid]
            self.records[rid] = (v if values is None else values, {**(m or {}), **md} if md else m)

    def delete_ids(self, ids):
        for i in ids:
            self.records.pop(i, None)

    def delete_filter(self, flt):
        for rid in [r for r, (_, m) in self.records.items() if flt.matches(m)]:
            del self.records[rid]


def expected_top(oracle: Oracle, q: np.ndarray, metric: str, k: int, flt=None) -> list[tuple[str, float]]:
    items = [(rid, v) for rid, (v, m) in oracle.records.items() if flt is None or flt.matches(m)]
    if not items:
        return []
    ids = [i for i, _ in items]
    X = np.stack([v for _, v in items]).astype(np.float64)
    qd = q.astype(np.float64)
    if metric == "cosine":
        s = X @ qd / (np.linalg.norm(X, axis=1) * np.linalg.norm(qd))
        order = np.argsort(-s, kind="stable")
    elif metric == "dotproduct":
        s = X @ qd
        order = np.argsort(-s, kind="stable")
    else:
        s = ((X - qd) ** 2).sum(axis=1)
        order = np.argsort(s, kind="stable")
    return [(ids[i], float(s[i])) for i in order[:k]]


def check(engine, oracle: Oracle, metric: str, rng, dim: int) -> None:
    res = engine.fetch("idx", NS, sorted(oracle.records) + ["missing-id"]).value
    assert set(res) == set(oracle.records)
    for rid, rec in res.items():
        np.testing.assert_allclose(rec.values, oracle.records[rid][0], rtol=1e-6)
        assert rec.metadata == oracle.records[rid][1]
    ids, token = [], None
    while True:
        page, token = engine.list_ids("idx", NS, prefix=None, limit=7, token=token).value
        ids += page
        if token is None:
            break
    assert ids == sorted(oracle.records)
    stats = engine.stats("idx").value
    assert stats.get(NS, 0) == len(oracle.records)
    q = rng.normal(size=dim).astype(np.float32)
    for flt_doc in (None, {"color": "red"}, {"n": {"$gte": 5}}):
        flt = parse_filter(flt_doc)
        want = expected_top(oracle, q, metric, 10, flt)
        got = engine.query("idx", NS, QuerySpec(top_k=10, vector=q, filter=flt, include_metadata=True)).value
        # scores equal to numpy's; ids equal up to ties
        np.testing.assert_allclose([m.score for m in got], [s for _, s in want], rtol=1e-4, atol=1e-5)
        assert {m.id for m in got} == {i for i, _ in want} or len(want) > 10


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_histories_match_the_oracle(engine, metric, seed):
    dim = 6
    make_index(engine, dimension=dim, metric=metric)
    rng = np.random.default_rng(seed)
    oracle = Oracle()
    colors = ["red", "green", "blue"]
    for step in range(60):
        action = rng.choice(["upsert", "upsert", "update", "delete", "delete_filter", "flush", "compact", "check"],
                            p=[0.3, 0.1, 0.15, 0.1, 0.05, 0.12, 0.08, 0.1])
        if action == "upsert":
            recs = [Record(f"id{int(i):03d}", rng.normal(size=dim).astype(np.float32),
                           metadata={"color": str(rng.choice(colors)), "n": float(rng.integers(0, 10))})
                    for i in rng.integers(0, 80, size=int(rng.integers(1, 12)))]
            engine.upsert("idx", NS, recs)
            oracle.upsert(recs)
        elif action == "update":
            rid = f"id{int(rng.integers(0, 80)):03d}"
            values = rng.normal(size=dim).astype(np.float32) if rng.random() < 0.5 else None
            md = {"color": str(rng.choice(colors))} if values is None or rng.random() < 0.5 else None
            engine.update("idx", NS, Update(rid, values=values, set_metadata=md))
            oracle.update(rid, values, md)
        elif action == "delete":
            ids = [f"id{int(i):03d}" for i in rng.integers(0, 80, size=5)]
            engine.delete("idx", NS, ids=ids)
            oracle.delete_ids(ids)
        elif action == "delete_filter":
            flt = parse_filter({"color": str(rng.choice(colors)), "n": {"$lt": 3}})
            engine.delete("idx", NS, filter=flt)
            oracle.delete_filter(flt)
        elif action == "flush":
            engine.flush("idx", NS)
        elif action == "compact":
            engine.compact("idx", NS, force=True)
        else:
            check(engine, oracle, metric, rng, dim)
    check(engine, oracle, metric, rng, dim)
    engine.flush("idx", NS)
    check(engine, oracle, metric, rng, dim)
    engine.compact("idx", NS, force=True)
    check(engine, oracle, metric, rng, dim)


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
