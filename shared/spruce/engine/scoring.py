"""Exact scores per metric, and top-k selection, on numpy matrices.

Scores follow Pinecone: cosine similarity and dot product (higher is better) and the
*squared* Euclidean distance (lower is better, CP-TYPE-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spruce.engine.records import SparseVector
from spruce.engine.sparse import SparsePostings
from spruce.errors import InvalidArgumentError

#: LanceDB's name for each metric; its distances are 1 - cos, squared L2 and -dot.
LANCE_DISTANCE = {"cosine": "cosine", "euclidean": "l2", "dotproduct": "dot"}


def query_norm(metric: str, q: np.ndarray) -> float:
    sq = float(np.dot(q, q))
    if metric == "cosine":
        if sq == 0.0:
            raise InvalidArgumentError("Query vector must not be all zeros for an index with metric cosine.")
        return 1.0 / np.sqrt(sq)
    return sq


def dense_scores(metric: str, matrix: np.ndarray, norms: np.ndarray | None, q: np.ndarray, qn: float) -> np.ndarray:
    """Scores of every row of ``matrix`` against ``q``; ``norms`` as cached by SlabData."""
    dots = matrix @ q
    if metric == "dotproduct":
        return dots
    if metric == "cosine":
        return dots * norms * np.float32(qn)
    return np.maximum(norms - 2.0 * dots + np.float32(qn), 0.0)


def row_norms(metric: str, matrix: np.ndarray) -> np.ndarray | None:
    return norms_from_squares(metric, np.einsum("ij,ij->i", matrix, matrix))


def norms_from_squares(metric: str, sq: np.ndarray) -> np.ndarray | None:
    """What ``dense_scores`` needs of each row, from its squared norm: the inverse norm for
    cosine, the squared norm for euclidean, nothing for dot product."""
    if metric == "cosine":
        with np.errstate(divide="ignore"):
            return np.where(sq > 0, 1.0 / np.sqrt(sq), 0.0).astype(np.float32)
    if metric == "euclidean":
        return sq.astype(np.float32)
    return None


def higher_is_better(metric: str) -> bool:
    return metric != "euclidean"


def best(scores: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Positions of the ``k`` best scores, best first."""
    if k <= 0 or not len(scores):
        return np.empty(0, dtype=np.int64)
    key = -scores if higher_is_better(metric) else scores
    if k < len(key):
        part = np.argpartition(key, k - 1)[:k]
        return part[np.argsort(key[part], kind="stable")]
    return np.argsort(key, kind="stable")


#: 2025-10 ``scanFactor`` (0.5–4.0): 4.0, Pinecone's default and best recall, is the full ANN
#: probe width; lower values scan proportionally less of an IVF/HNSW index.
DEFAULT_SCAN_FACTOR = 4.0


@dataclass(slots=True, frozen=True)
class ResolvedQuery:
    """Query vectors ready to score: dense (with its cached norm), sparse, or both (hybrid)."""

    dense: np.ndarray | None
    norm: float
    sparse: SparseVector | None
    scan_factor: float = DEFAULT_SCAN_FACTOR
    max_candidates: int | None = None


def exact_scores(metric: str, q: ResolvedQuery, matrix: np.ndarray | None, norms: np.ndarray | None,
                 postings: SparsePostings | None, rows: np.ndarray | None = None) -> np.ndarray:
    """Exact scores of ``matrix``'s rows (already restricted to ``rows``) plus, for sparse and
    hybrid queries, the sparse dot products of the same rows."""
    scores = None
    if q.dense is not None:
        scores = dense_scores(metric, matrix, norms, q.dense, q.norm)
    if q.sparse is not None:
        lexical = postings.scores(q.sparse)
        if rows is not None:
            lexical = lexical[rows]
        scores = lexical if scores is None else scores + lexical
    return scores


def top(scores: np.ndarray, keep: np.ndarray | None, k: int, metric: str, *, drop_zero: bool) -> np.ndarray:
    """Positions of the ``k`` best ``scores`` among those ``keep`` allows (None: all); sparse
    queries also drop scores of exactly 0, which are not matches (SP-6)."""
    if drop_zero:
        nonzero = scores != 0
        keep = nonzero if keep is None else keep & nonzero
    if keep is None or keep.all():
        return best(scores, k, metric)
    eligible = np.flatnonzero(keep)
    return eligible[best(scores[eligible], k, metric)]
