"""LanceDB in process on the same vectors: the floor under Spruce's slab search.

Built the way Spruce's builder builds a large compacted slab: one table, an IVF-HNSW-SQ index
with ``ceil(rows / 32768)`` partitions (``spruce.storage.lance_slabs``), cosine distance,
filters as SQL pre-filters on a plain column (no scalar index, as in Spruce's slabs). The knobs
are the (nprobes, ef) pairs Spruce derives from ``scanFactor`` 0.5–4 with refine factor 4
(``spruce.engine.slabset._ann``), ef raised to LanceDB's minimum of top_k × refine factor (40),
then wider settings, and, up to ``FLAT_MAX_ROWS``, a flat scan that bypasses the index (what
Spruce does in RAM with numpy below its ANN threshold; at 50k rows it already takes ~0.2 s a
query here, so a 1M-row pass would take about an hour).
"""

from __future__ import annotations

import math
from importlib.metadata import version
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import IvfHnswSq

from spruce.storage.lance_slabs import ROWS_PER_PARTITION
from systems.base import Knob, Setup

BATCH = 100_000
REFINE = 4
FLAT_MAX_ROWS = 250_000
#: (nprobes, ef): Spruce's scanFactor 0.5, 1, 2, 4 at top_k 10 (ef ≥ 40), then wider.
SETTINGS = ((1, 40), (2, 40), (4, 40), (8, 64), (16, 128), (32, 256))


class LanceDbRaw:
    name = "LanceDB (in-process)"

    def __init__(self) -> None:
        self._table = None

    def start(self, workdir: Path) -> Setup:
        self._db = lancedb.connect(str(workdir / "lancedb"))
        return Setup("IVF-HNSW-SQ (partitions = ceil(n / 32768)), cosine, refine factor 4; "
                     "\"flat\" = exact scan bypassing the index", ["filters: SQL pre-filter, no scalar index"])

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        dim = vectors.shape[1]
        for start in range(0, len(vectors), BATCH):
            part = slice(start, start + BATCH)
            flat = pa.array(np.ascontiguousarray(vectors[part], dtype=np.float32).reshape(-1))
            batch = pa.table({"id": pa.array(ids[part], pa.int64()), "cat": pa.array(cats[part], pa.int64()),
                              "vector": pa.FixedSizeListArray.from_arrays(flat, dim)})
            if self._table is None:
                self._table = self._db.create_table("vectors", batch)
            else:
                self._table.add(batch)
        self._rows = len(vectors)

    def wait_until_queryable(self) -> None:
        """Build the ANN index (LanceDB builds it on request, synchronously)."""
        self._table.create_index("vector", config=IvfHnswSq(
            distance_type="cosine", num_partitions=max(1, math.ceil(self._rows / ROWS_PER_PARTITION))))

    def knobs(self) -> list[Knob]:
        flat = [Knob("flat", None, repeat=False)] if self._rows <= FLAT_MAX_ROWS else []
        return [Knob(f"nprobes={p},ef={ef}", (p, ef)) for p, ef in SETTINGS] + flat

    def use(self, knob: Knob) -> None:
        self._setting = knob.value

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        search = (self._table.search(vector, vector_column_name="vector").distance_type("cosine").limit(k)
                  .select(["id", "_distance"]))
        if self._setting is None:
            search = search.bypass_vector_index()
        else:
            nprobes, ef = self._setting
            search = search.nprobes(nprobes).ef(ef).refine_factor(REFINE)
        if below is not None:
            search = search.where(f"cat < {below}", prefilter=True)
        return search.to_arrow().column("id").to_pylist()

    def layout(self) -> str:
        return ""

    def server_pids(self) -> list[int]:
        return []

    def versions(self) -> dict[str, str]:
        return {"lancedb": version("lancedb"), "pyarrow": version("pyarrow")}

    def close(self) -> None:
        self._table = None
