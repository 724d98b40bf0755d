"""Bulk import throughput on the embedded host (issue 7): Parquet in Pinecone's layout →
``bulk-import`` on the in-process runner → each chunk of ≤ ``CHUNK_ROWS`` rows written once as a
slab, logged as one ``Ingest`` entry with its LSN and committed by a flush, queryable when the
job completes.

- data: ``--records`` × ``--dimension`` float32 vectors (seeded), metadata ``{"n": i, "even": bool}``
  as JSON text, in ``--files`` Parquet files of one namespace (pyarrow defaults: one row group per
  file up to 1Mi rows); generation is not timed;
- timed: from ``start_import`` to the job's ``Completed`` (plan, then per chunk: read, validate,
  write the slab, log its entry, commit it; finish), while the background compactor merges the
  committed slabs as it normally does; the records are queryable from then on;
- the process is set up as ``spruce serve`` sets up its own (``tune_server_process``);
- then a spot check: a query answers with the LSN of the last chunk. Merging 1M records into
  an indexed slab afterwards is the builder's ordinary work, measured by ``bench/run.py`` and
  ``bench/peers/``, not here.

Appends a dated section to ``bench/RESULTS.md`` (``--no-append`` prints only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from results import machine, publish  # bench/ is on sys.path when a script runs
from spruce.cli import tune_server_process
from spruce.engine.local import open_local
from spruce.engine.model import IndexConfig, QuerySpec
from spruce.jobs import bulk, imports
from spruce.jobs.embedded import open_jobs


def write_files(root: Path, records: int, dimension: int, files: int) -> int:
    """The import directory; returns its size in bytes."""
    folder = root / "bench"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(42)
    per_file = -(-records // files)
    for f in range(files):
        start, stop = f * per_file, min(records, (f + 1) * per_file)
        if start >= stop:
            break
        matrix = rng.standard_normal((stop - start, dimension), dtype=np.float32)
        table = pa.table({
            "id": pa.array([f"r{i}" for i in range(start, stop)]),
            "values": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dimension).cast(
                pa.list_(pa.float32())),
            "metadata": pa.array([f'{{"n": {i}, "even": {str(i % 2 == 0).lower()}}}' for i in range(start, stop)]),
        })
        pq.write_table(table, folder / f"part-{f:03d}.parquet")
    return sum(p.stat().st_size for p in folder.iterdir())


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    tune_server_process()  # as `spruce serve` runs: one BLAS thread, its collector threshold, Arrow on jemalloc
    work = Path(tempfile.mkdtemp(prefix="spruce-bench-imports-"))
    try:
        started = time.perf_counter()
        size = write_files(work / "src", args.records, args.dimension, args.files)
        generated = time.perf_counter() - started
        engine = open_local(work / "data")
        host, runner = open_jobs(engine)
        try:
            cfg = engine.create_index(IndexConfig(name="bench", id="bench-index", dimension=args.dimension,
                                                  metric="cosine", vector_type="dense", cloud="aws",
                                                  region="us-east-1"))
            load = os.getloadavg()[0]  # other work on the machine skews the numbers: report it
            started, cpu_started = time.perf_counter(), _cpu_s()
            job = bulk.start_import(host, "bench", {"uri": str(work / "src")})
            runner.wait(bulk.execution_name(bulk.IMPORT, cfg.id, job))
            elapsed, cpu = time.perf_counter() - started, _cpu_s() - cpu_started
            described = bulk.describe_import(host, "bench", job)
            assert described["status"] == "Completed", described
            assert described["recordsImported"] == args.records, described
            probe = QuerySpec(top_k=1, vector=np.ones(args.dimension, np.float32))
            last = engine.query("bench", "bench", probe).max_lsn
            per_file = -(-args.records // args.files)
            sizes = [min(per_file, args.records - f * per_file) for f in range(args.files)]
            chunk = imports.rows_per_chunk(cfg)
            assert last == sum(-(-rows // chunk) for rows in sizes if rows > 0), last  # one entry per chunk
        finally:
            runner.close()
            engine.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rate = args.records / elapsed
    publish(
        f"\n## {date.today().isoformat()} — Bulk import, embedded host: {args.records:,} × {args.dimension}-d\n"
        f"Machine: {machine()}; "
        f"`bench/imports.py --records {args.records} --dimension {args.dimension} --files {args.files}`; "
        f"chunks of ≤{imports.CHUNK_ROWS:,} rows, each one slab and one logged `Ingest` entry; 1-minute load average "
        f"{load:.1f} when the import started.\n\n"
        f"| measurement | result |\n|---|---|\n"
        f"| Parquet input | {args.files} files, {size / 2**20:,.0f} MiB (float32 values, JSON metadata), "
        f"generated in {generated:.1f} s (not timed) |\n"
        f"| start → Completed (plan, read, validate, {last:,} slabs written, logged and committed) | {elapsed:.1f} s: "
        f"**{rate:,.0f} records/s** ({size / 2**20 / elapsed:,.1f} MiB/s of Parquet) |\n"
        f"| CPU time of the process meanwhile (user + system, all threads) | {cpu:.1f} s "
        f"({cpu / elapsed:.2f} cores busy) |\n",
        append=not args.no_append)


if __name__ == "__main__":
    main()
