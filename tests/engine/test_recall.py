"""Recall@10 ≥ 0.95 against exact numpy on 100k × 128-d after compaction has built the
ANN index (IVF-HNSW-SQ with exact refine) — and the index is really what served it."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record
from tests.engine.conftest import make_index

N, DIM = 100_000, 128


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_recall_after_compaction(tmp_path, metric):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(N // 1000, DIM)).astype(np.float32)  # embedding-like clusters
    X = centres[rng.integers(0, len(centres), N)] + 0.35 * rng.normal(size=(N, DIM)).astype(np.float32)
    Q = X[rng.integers(0, N, 100)] + 0.1 * rng.normal(size=(100, DIM)).astype(np.float32)
    eng = open_local(tmp_path, settings=BuilderSettings(ann_min_rows=50_000), start=False)
    make_index(eng, dimension=DIM, metric=metric)
    for start in range(0, N, 1000):
        eng.upsert("idx", "ns", [Record(f"v{i}", X[i]) for i in range(start, start + 1000)])
        if start % 25_000 == 24_000:
            eng.flush("idx", "ns")
    eng.flush("idx", "ns")
    assert eng.compact("idx", "ns", force=True)
    manifest = eng._cache.manifest(eng.describe_index("idx").id, "ns")
    assert [(s.rows, s.indexed) for s in manifest.slabs] == [(N, True)]

    if metric == "cosine":
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        exact = np.argsort(-(Q @ Xn.T), axis=1)[:, :10]
    else:
        exact = np.argsort((X * X).sum(1) - 2 * Q @ X.T, axis=1)[:, :10]
    hits = 0
    for qi, q in enumerate(Q):
        got = eng.query("idx", "ns", QuerySpec(top_k=10, vector=q)).value
        hits += len({m.id for m in got} & {f"v{j}" for j in exact[qi]})
    eng.close()
    assert hits / (10 * len(Q)) >= 0.95


@pytest.mark.parametrize("top_k", [1, 10, 100, 1000])
def test_every_scan_factor_answers_on_an_ann_indexed_slab(tmp_path, top_k):
    """A narrow beam (scanFactor 0.5) must still be at least the candidates LanceDB refines."""
    rng = np.random.default_rng(1)
    n, dim = 6000, 16
    X = rng.normal(size=(n, dim)).astype(np.float32)
    eng = open_local(tmp_path, settings=BuilderSettings(ann_min_rows=5000), start=False)
    make_index(eng, dimension=dim, metric="cosine")
    eng.upsert("idx", "ns", [Record(f"v{i}", X[i]) for i in range(n)])
    eng.flush("idx", "ns")
    assert eng.compact("idx", "ns", force=True)
    assert [s.indexed for s in eng._cache.manifest(eng.describe_index("idx").id, "ns").slabs] == [True]
    for scan_factor in (0.5, 1.0, 2.5, 4.0):
        got = eng.query("idx", "ns", QuerySpec(top_k=top_k, vector=X[7], scan_factor=scan_factor)).value
        assert len(got) == top_k and got[0].id == "v7", scan_factor
    eng.close()
