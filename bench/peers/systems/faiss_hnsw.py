"""faiss ``IndexHNSWFlat`` in process: the practical limit of a graph index on this machine.

Inner product on unit vectors (= cosine). Filters use faiss's ``IDSelectorBitmap`` through
``SearchParametersHNSW``, which skips non-matching nodes during the graph search (a pre-filter).
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import faiss
import numpy as np

from systems.base import Knob, Setup

M = 32
EF_CONSTRUCTION = 128
EF_SEARCH = (16, 32, 64, 128, 256, 512)


class FaissHnsw:
    name = "faiss HNSW (in-process)"

    def __init__(self) -> None:
        self._index: faiss.IndexHNSWFlat | None = None
        self._bitmaps: dict[int, np.ndarray] = {}

    def start(self, workdir: Path) -> Setup:
        self._index = faiss.IndexHNSWFlat(384, M, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = EF_CONSTRUCTION
        return Setup(f"IndexHNSWFlat M={M}, efConstruction={EF_CONSTRUCTION}, inner product, float32",
                     [f"faiss OpenMP threads: {faiss.omp_get_max_threads()} (build); one query per search call"])

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        # ids are row numbers 0..n-1, which is what IndexHNSWFlat assigns itself
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._cats = cats

    def wait_until_queryable(self) -> None:
        """``add`` builds the graph synchronously."""

    def knobs(self) -> list[Knob]:
        return [Knob(f"efSearch={ef}", ef) for ef in EF_SEARCH]

    def use(self, knob: Knob) -> None:
        self._ef = knob.value

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        params = faiss.SearchParametersHNSW(efSearch=self._ef)
        if below is not None:
            if below not in self._bitmaps:
                self._bitmaps[below] = np.packbits(self._cats < below, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(self._cats), faiss.swig_ptr(self._bitmaps[below]))
        _, found = self._index.search(vector[None, :], k, params=params)
        return [int(i) for i in found[0] if i >= 0]

    def layout(self) -> str:
        return ""

    def server_pids(self) -> list[int]:
        return []

    def versions(self) -> dict[str, str]:
        return {"faiss-cpu": version("faiss-cpu")}

    def close(self) -> None:
        self._index = None
