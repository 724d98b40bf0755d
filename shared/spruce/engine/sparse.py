"""Sparse vectors laid out as postings (term → rows), scored exactly with numpy.

A slab's sparse column is a forward index (row → terms); queries want the inverse. The
postings are derived once per slab (slabs never change) from the Arrow list arrays, and
the log tail builds the same structure from its records, so both score identically:
``score(row) = Σ_t q[t] · x_row[t]`` over the terms both hold (SP-5), accumulated in
float64. Records scoring exactly 0 are not results of a sparse query (SP-6).
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import TYPE_CHECKING

import numpy as np

from spruce.engine.records import SparseVector

if TYPE_CHECKING:  # the API Lambdas score the log tail without pyarrow; only slabs hand in Arrow arrays
    import pyarrow as pa


class SparsePostings:
    """Inverse index of the sparse vectors of ``rows`` records: for each distinct term, the
    rows holding it and their values, contiguous (CSC layout)."""

    __slots__ = ("rows", "terms", "starts", "posting_rows", "posting_values")

    def __init__(self, rows: int, entry_rows: np.ndarray, entry_terms: np.ndarray, entry_values: np.ndarray) -> None:
        self.rows = rows
        order = np.argsort(entry_terms, kind="stable")
        sorted_terms = entry_terms[order]
        self.terms, first = np.unique(sorted_terms, return_index=True)
        self.starts = np.append(first, len(sorted_terms)).astype(np.int64)
        self.posting_rows = entry_rows[order].astype(np.int32, copy=False)
        self.posting_values = entry_values[order].astype(np.float32, copy=False)

    @staticmethod
    def from_arrow(indices: pa.ChunkedArray | pa.Array, values: pa.ChunkedArray | pa.Array) -> SparsePostings:
        """From a slab's ``sparse_indices`` / ``sparse_values`` list columns (nulls = no sparse)."""
        indices = _combined(indices)
        values = _combined(values)
        n = len(indices)
        lengths = indices.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        entry_rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
        terms = indices.flatten().to_numpy(zero_copy_only=False).astype(np.uint32, copy=False)
        vals = values.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return SparsePostings(n, entry_rows, terms, vals)

    @staticmethod
    def from_vectors(vectors: Sequence[SparseVector | None]) -> SparsePostings:
        """From in-memory records (the log tail); ``None`` entries hold no sparse values."""
        lengths = np.fromiter((0 if v is None else len(v.indices) for v in vectors), np.int64, len(vectors))
        present = [v for v in vectors if v is not None]
        if present:
            terms = np.concatenate([v.indices for v in present]).astype(np.uint32, copy=False)
            vals = np.concatenate([v.values for v in present]).astype(np.float32, copy=False)
        else:
            terms, vals = np.empty(0, np.uint32), np.empty(0, np.float32)
        entry_rows = np.repeat(np.arange(len(vectors), dtype=np.int32), lengths)
        return SparsePostings(len(vectors), entry_rows, terms, vals)

    @property
    def empty(self) -> bool:
        return not len(self.posting_rows)

    def scores(self, query: SparseVector) -> np.ndarray:
        """float64 score of every row against ``query`` (0 where no term is shared)."""
        out = np.zeros(self.rows, dtype=np.float64)
        if self.empty:
            return out
        rows, weights = self._contributions(query)
        if len(rows):
            out += np.bincount(rows, weights=weights, minlength=self.rows)
        return out

    def _contributions(self, query: SparseVector) -> tuple[np.ndarray, np.ndarray]:
        """The (row, q[t]·x[t]) pairs of every posting of every query term present here."""
        pos = np.searchsorted(self.terms, query.indices)
        pos = np.minimum(pos, len(self.terms) - 1)
        hit = self.terms[pos] == query.indices
        if not hit.any():
            return np.empty(0, np.int32), np.empty(0, np.float64)
        pos, qvals = pos[hit], query.values[hit].astype(np.float64)
        starts, ends = self.starts[pos], self.starts[pos + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        # Gather every posting range at once: entry j of term i sits at starts[i] + j.
        owner = np.repeat(np.arange(len(pos)), lengths)
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
        return self.posting_rows[offsets], self.posting_values[offsets] * qvals[owner]


def _combined(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    return arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr
