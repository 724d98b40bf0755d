"""Exact scores per metric, and top-k selection, on numpy matrices.

Scores follow Pinecone: cosine similarity and dot product (higher is better) and the
*squared* Euclidean distance (lower is better, CP-TYPE-5).
"""

from __future__ import annotations

import numpy as np

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
    sq = np.einsum("ij,ij->i", matrix, matrix)
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
