"""Synthetic sparse data shaped like learned sparse / BM25 vectors: term ids drawn from a
Zipf law (a few very common terms, a long tail), positive weights. Shared by the tests and
``bench/`` so both measure the same set."""

from __future__ import annotations

import numpy as np

from spruce.engine.records import SparseVector

VOCAB = 30_000


def _zipf_terms(rng: np.random.Generator, count: int, vocab: int) -> np.ndarray:
    """``count`` distinct term ids (fewer if the draw repeats itself), sorted."""
    draw = rng.zipf(1.15, size=count * 3) - 1
    draw = draw[draw < vocab]
    return np.sort(np.unique(draw)[:count]).astype(np.uint32) if len(draw) else np.zeros(1, np.uint32)


def zipf_corpus(n: int, *, seed: int, nnz: int = 100, vocab: int = VOCAB) -> list[SparseVector]:
    """``n`` documents of about ``nnz`` non-zeros each; ids are scattered over the vocabulary by a
    fixed permutation so frequent terms are not simply the small ids."""
    rng = np.random.default_rng(seed)
    shuffle = np.random.default_rng(0).permutation(vocab).astype(np.uint32)
    docs = []
    for _ in range(n):
        terms = np.sort(shuffle[_zipf_terms(rng, nnz, vocab)])
        docs.append(SparseVector(terms, rng.gamma(2.0, 0.5, size=len(terms)).astype(np.float32)))
    return docs


def zipf_queries(n: int, *, seed: int, nnz: int = 12, vocab: int = VOCAB) -> list[SparseVector]:
    return zipf_corpus(n, seed=seed, nnz=nnz, vocab=vocab)
