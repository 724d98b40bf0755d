"""Issue 8: the bulk loaders side by side, alternated. Spruce's bulk import through the SDK
(``spruce-import``: Parquet files written, ``start_import``, polled until ``Completed``) and
pgvector's binary ``COPY`` (``pgvector``) each load the same vectors ``--repeats`` times, every
load into a fresh system (new server, new data directory), in turns, the order rotated every
round. Only the load is timed, as ``run.py``'s ingest figure: from the first call until the
system acknowledged the last record (the index build that follows is not part of it).

Why beside ``run.py``: there each system loads once, one after another, so its ingest figures
compare loads made in different states of the machine. On this VM that state decides a lot:
right after another process freed gigabytes, the kernel hands out pages the hypervisor has taken
back, and a load that touches fresh memory runs up to 2-3× slower (bench/RESULTS.md,
2026-12-06). Alternated repeats put every loader through the same states.

Run: ``make bench-bulk-loads`` (N=200000 REPEATS=5), after ``make bench-peers`` has built the
data set of that size. Appends a dated section to ``bench/RESULTS.md`` (``--no-append`` prints).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # bench/results.py

import dataset  # noqa: E402
from results import machine, publish  # noqa: E402
from systems import SYSTEMS, create  # noqa: E402


def load_once(name: str, ds: dataset.Dataset, ids, workroot: Path) -> float:
    """Seconds one load of ``name`` took, into a fresh system that is stopped afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workroot))
    system = create(name)
    try:
        system.start(workdir)
        started = time.perf_counter()
        system.load(ds.base, ids, ds.cats)
        return time.perf_counter() - started
    finally:
        system.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="base vectors (the data set run.py built)")
    ap.add_argument("--queries", type=int, default=1000, help="the query count of that data set")
    ap.add_argument("--systems", default="spruce-import,pgvector", help=f"comma list of {', '.join(SYSTEMS)}")
    ap.add_argument("--repeats", type=int, default=5, help="loads of each system")
    ap.add_argument("--no-append", action="store_true", help="print the section, leave RESULTS.md alone")
    args = ap.parse_args()
    names = args.systems.split(",")
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown system(s): {', '.join(unknown)}")

    ds = dataset.load_run(args.n, args.queries)
    ids = np.arange(ds.n)
    workroot = dataset.run_dir(args.n, args.queries) / "bulk-loads"
    shutil.rmtree(workroot, ignore_errors=True)
    workroot.mkdir(parents=True)
    began = datetime.now(timezone.utc)
    load = os.getloadavg()[0]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    order = list(names)
    for r in range(args.repeats):
        for name in order:
            took = load_once(name, ds, ids, workroot)
            seconds[name].append(took)
            print(f"round {r + 1}: {name} {ds.n / took:,.0f} records/s ({took:.2f} s)", flush=True)
        order = order[1:] + order[:1]
    shutil.rmtree(workroot, ignore_errors=True)
    ended = datetime.now(timezone.utc)

    rows = []
    for name in names:
        runs = seconds[name]
        median = statistics.median(runs)
        each = ", ".join(f"{ds.n / s:,.0f}" for s in runs)
        rows.append(f"| {create(name).name} | **{ds.n / median:,.0f}** ({median:.2f} s) | "
                    f"{ds.n / min(runs):,.0f} – {ds.n / max(runs):,.0f} | {each} |")
    publish(
        f"\n## {began.date().isoformat()} — bulk loads alternated (issue 8): {ds.n:,} × {ds.base.shape[1]}-d, "
        f"{args.repeats} loads each\n"
        f"Machine: {machine()}; {began:%H:%M}–{ended:%H:%M} UTC; 1-minute load average {load:.1f} at the start. "
        f"Command: `bench/peers/bulk_loads.py --n {args.n} --queries {args.queries} --systems {args.systems} "
        f"--repeats {args.repeats}` (`make bench-bulk-loads`). Data: the vectors of `run.py`'s data set of this size. "
        "Each load goes into a fresh system (new server and data directory), the systems in turns, the order "
        "rotated every round; timed from the first call until the last record was acknowledged (client-side "
        "encoding included: Parquet writing for Spruce, the binary COPY stream for pgvector). The loads of every "
        "round, in order, are in the last column.\n\n"
        "| system | median records/s (s) | fastest – slowest | every load (records/s, in round order) |\n"
        "|---|---|---|---|\n" + "\n".join(rows) + "\n",
        append=not args.no_append)


if __name__ == "__main__":
    main()
