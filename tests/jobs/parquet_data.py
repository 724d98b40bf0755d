"""Import directories for tests and the benchmark: Pinecone's layout (``ROOT/<namespace>/*.parquet``)
written with pyarrow from numpy, fast enough for 100k+ rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SPARSE_TYPE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])


def dense_table(start: int, count: int, dimension: int, *, seed: int = 0, prefix: str = "id-",
                metadata: bool = True) -> pa.Table:
    """``count`` records ``prefix<start>..``, random float32 values, metadata ``{"n": i, "even": bool}``."""
    rng = np.random.default_rng(seed + start)
    matrix = rng.standard_normal((count, dimension), dtype=np.float32)
    ids = [f"{prefix}{i}" for i in range(start, start + count)]
    columns = {"id": pa.array(ids, pa.string()),
               "values": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dimension).cast(
                   pa.list_(pa.float32()))}
    if metadata:
        columns["metadata"] = pa.array([json.dumps({"n": i, "even": i % 2 == 0}) for i in range(start, start + count)],
                                       pa.string())
    return pa.table(columns)


def write(root: Path, namespace: str, name: str, table: pa.Table, *, row_group_size: int | None = None) -> Path:
    folder = root / namespace
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(table, path, row_group_size=row_group_size)
    return path
