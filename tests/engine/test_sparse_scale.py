"""Sparse search at scale: 50k synthetic documents (~100 non-zeros, Zipfian term ids), top-10
of 100 queries equal to a brute-force top-10, with the records spread over the log tail and
slabs, and again after everything is flushed and compacted into one slab (issue 3, SP-5/6).
Also hybrid queries on an ANN-indexed slab against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record, SparseVector
from tests.engine.conftest import executor_engine, make_index
from tests.sparse_data import zipf_corpus, zipf_queries

NS = "docs"


class BruteForce:
    """Forward-index scoring, independent of the engine's postings: gather the query weight of
    every (document, term) entry and sum per document in float64."""

    def __init__(self, corpus: list[SparseVector]) -> None:
        self.terms = np.concatenate([d.indices for d in corpus]).astype(np.int64)
        self.values = np.concatenate([d.values for d in corpus]).astype(np.float64)
        lengths = np.array([len(d.indices) for d in corpus])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.vocab = int(self.terms.max()) + 1

    def top(self, query: SparseVector, k: int) -> list[tuple[int, float]]:
        weights = np.zeros(max(self.vocab, int(query.indices.max()) + 1), dtype=np.float64)
        weights[query.indices] = query.values
        scores = np.add.reduceat(weights[self.terms] * self.values, self.starts)
        hits = np.flatnonzero(scores != 0)
        order = hits[np.argsort(-scores[hits], kind="stable")][:k]
        return [(int(i), float(scores[i])) for i in order]


def assert_same_top(engine, oracle: BruteForce, queries, k=10):
    for q in queries:
        want = oracle.top(q, k)
        got = engine.query("idx", NS, QuerySpec(top_k=k, sparse=q)).value
        assert [m.id for m in got] == [f"doc{i}" for i, _ in want]
        np.testing.assert_allclose([m.score for m in got], [s for _, s in want], rtol=1e-5)


def test_sparse_top10_equals_brute_force_on_50k_docs_before_and_after_compaction(engine):
    make_index(engine, dimension=None, metric="dotproduct")
    corpus = zipf_corpus(50_000, seed=7)
    queries = zipf_queries(100, seed=8)
    for start in range(0, len(corpus), 1000):
        engine.upsert("idx", NS, [Record(f"doc{i}", sparse=corpus[i]) for i in range(start, start + 1000)])
        if start in (9_000, 29_000):  # two L0 slabs, the rest in the log tail
            engine.flush("idx", NS)
    oracle = BruteForce(corpus)
    assert_same_top(engine, oracle, queries)
    engine.flush("idx", NS)
    engine.compact("idx", NS, force=True)
    assert_same_top(engine, oracle, queries)


@pytest.mark.parametrize("host", ["embedded", "executors"])
def test_hybrid_queries_on_an_ann_indexed_slab_find_the_brute_force_top10(tmp_path, host):
    settings = BuilderSettings(gc_grace_s=0.0, ann_min_rows=2_000)
    if host == "embedded":
        engine = open_local(tmp_path / "data", settings=settings, start=False)
    else:
        engine = executor_engine(tmp_path / "data", settings)
    try:
        dim, n = 32, 4_000
        make_index(engine, dimension=dim, metric="dotproduct")
        rng = np.random.default_rng(3)
        dense = rng.normal(size=(n, dim)).astype(np.float32)
        corpus = zipf_corpus(n, seed=4, nnz=20, vocab=500)
        for start in range(0, n, 1000):
            engine.upsert("idx", NS, [Record(f"doc{i}", dense[i], corpus[i]) for i in range(start, start + 1000)])
        engine.flush("idx", NS)
        engine.compact("idx", NS, force=True)
        hits = total = 0
        for q_sparse in zipf_queries(50, seed=5, vocab=500):
            q_dense = rng.normal(size=dim).astype(np.float32)
            lexical = np.array([_dot(d, q_sparse) for d in corpus])
            scores = dense.astype(np.float64) @ q_dense + lexical
            want = {f"doc{i}" for i in np.argsort(-scores)[:10]}
            got = engine.query("idx", NS, QuerySpec(top_k=10, vector=q_dense, sparse=q_sparse)).value
            by_id = {m.id: m.score for m in got}
            for rid, score in by_id.items():  # every returned score is the exact hybrid score
                assert score == pytest.approx(scores[int(rid[3:])], rel=1e-4, abs=1e-4)
            hits += len(want & set(by_id))
            total += 10
        assert hits / total >= 0.95
    finally:
        engine.close()


def _dot(a: SparseVector, b: SparseVector) -> float:
    common, ia, ib = np.intersect1d(a.indices, b.indices, return_indices=True)
    return float(np.dot(a.values[ia].astype(np.float64), b.values[ib])) if len(common) else 0.0
