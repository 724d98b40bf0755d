"""Spruce embedded, loaded the bulk way a Pinecone user loads millions of records: Parquet
files in Pinecone's import layout, then ``start_import`` through the official pinecone SDK
(10.x), polled with ``describe_import`` until ``Completed``. Everything else (the server, the
queries, time until queryable) is ``SpruceSdk``'s.

The ingest time covers what a user would do from vectors in memory: writing the Parquet files
(ids as strings, ``values`` as float32 lists, ``metadata`` as JSON text, as Pinecone's import
takes them) and the import itself, through to ``Completed``, when every record is queryable.
The ``values`` column is written plain (``WRITE_OPTIONS``): embeddings do not compress, so
snappy, a dictionary and min/max statistics only cost time on both sides (the README's advice).
This is the load path to set beside pgvector's binary ``COPY``: both read a bulk binary format
rather than one request per batch of records."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from systems.base import Setup
from systems.spruce_sdk import SpruceSdk

#: Rows per Parquet file (a user's export job writes files of about this many rows).
FILE_ROWS = 100_000
#: Files written at once: Arrow encodes and writes a file without the GIL, so two threads keep both
#: cores busy (1M × 384-d: 1.6–2.2 s, against 2.1–3.7 s one file after another, 2026-12-06).
WRITERS = 2
#: ``pq.write_table`` options: ``id`` and ``metadata`` with the writer's defaults, ``values`` plain.
WRITE_OPTIONS = {"compression": {"id": "snappy", "values": "none", "metadata": "snappy"},
                 "use_dictionary": ["id", "metadata"], "write_statistics": ["id", "metadata"]}


class SpruceImport(SpruceSdk):
    name = "Spruce (embedded, bulk import through the pinecone SDK)"

    def start(self, workdir: Path) -> Setup:
        setup = super().start(workdir)
        self._import_dir = workdir / "import"
        setup.notes[0] = (f"load: Parquet files of {FILE_ROWS:,} rows written from the vectors, {WRITERS} at a "
                          "time (`values` uncompressed, without dictionary or statistics), then start_import "
                          "(errorMode abort) through the SDK, polled every 0.1 s until Completed; both timed")
        return setup

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        self._rows = len(vectors)
        self._probe = vectors[0].tolist()
        folder = self._import_dir / "__default__"  # the SDK upserts into the default namespace too
        shutil.rmtree(self._import_dir, ignore_errors=True)
        folder.mkdir(parents=True)
        dim = vectors.shape[1]
        started = time.perf_counter()

        def write(start: int) -> None:
            part = slice(start, start + FILE_ROWS)
            table = pa.table({  # built by Arrow, as pgvector's COPY stream is by numpy: no object per row
                "id": pa.array(ids[part]).cast(pa.string()),
                "values": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(vectors[part], dtype=np.float32).reshape(-1)), dim),
                "metadata": pc.binary_join_element_wise('{"cat":', pa.array(cats[part]).cast(pa.string()), "}", ""),
            })
            pq.write_table(table, folder / f"part-{start // FILE_ROWS:04d}.parquet", **WRITE_OPTIONS)
        with ThreadPoolExecutor(WRITERS) as pool:  # list(): a writer's error is raised here
            list(pool.map(write, range(0, len(vectors), FILE_ROWS)))
        written = time.perf_counter()
        job = self._index.start_import(uri=f"file://{self._import_dir}", error_mode="ABORT")
        while (described := self._index.describe_import(id=job.id)).status not in ("Completed", "Failed", "Cancelled"):
            time.sleep(0.1)
        print(f"Parquet files written in {written - started:.2f} s, imported in {time.perf_counter() - written:.2f} s",
              flush=True)
        if described.status != "Completed" or described.records_imported != self._rows:
            raise RuntimeError(f"import {job.id} ended {described.status} with {described.records_imported} records: "
                               f"{described.error}")
