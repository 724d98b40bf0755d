"""What a namespace's slab layout costs a query, in process (no HTTP, no SDK): the peer data set
loaded into an embedded engine whose builder is run by hand, so each layout is exactly the one
named, then the same queries timed on each.

Layouts, in order (each built from the one before):
- ``one``: every base vector but the last 1.3% in one slab (compacted);
- ``one + tail slab``: the last 1.3% flushed as a second slab (what a bulk load's last flush leaves
  when nothing merges it);
- ``merged``: both compacted into one slab of every row;
- ``merged + 3 overwrites``: three flushes of 500 records each that overwrite records of the big
  slab, so it has tombstones and three small slabs sit beside it (writes now and then).

Each layout: 50 queries to start its graphs, a wait until every graph is built, 50 warm-up
queries, then ``--passes`` passes of all queries at ``--scan-factor``, each timed as a whole.

Run: ``.venv/bin/python bench/peers/slab_layouts.py --n 200000`` (the peer data set must exist:
``make bench-peers`` builds it). ``--shared DIR`` runs another checkout's engine
(``git worktree add /tmp/base main``, then ``--shared /tmp/base/shared``). Prints what it measured.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--scan-factor", type=float, default=0.75)
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared")
    args = parser.parse_args()
    sys.path[:0] = [str(args.shared), str(HERE), str(HERE.parent)]  # engine, dataset.py, results.py

    import numpy as np

    import dataset
    from results import machine
    from spruce.engine.builder import BuilderSettings
    from spruce.engine.local import open_local
    from embedded import create_index
    from spruce.engine.model import QuerySpec
    from spruce.engine.records import Record

    ds = dataset.load_run(args.n, args.queries)
    work = Path(tempfile.mkdtemp(prefix="slab-layouts-"))
    engine = open_local(work, settings=BuilderSettings(gc_grace_s=0.0), start=False)
    create_index(engine, ds.base.shape[1])
    queries = [QuerySpec(top_k=10, vector=q, scan_factor=args.scan_factor) for q in ds.queries]

    def write(lo: int, hi: int) -> None:
        for start in range(lo, hi, 1000):
            engine.upsert("idx", "", [Record(str(i), ds.base[i]) for i in range(start, min(hi, start + 1000))])
        engine.flush("idx", "")

    def measure(label: str) -> None:
        for q in queries[:50]:
            engine.query("idx", "", q)
        while not engine.graphs.idle():
            time.sleep(0.2)
        for q in queries[:50]:
            engine.query("idx", "", q)
        rates = []
        for _ in range(args.passes):
            started = time.perf_counter()
            for q in queries:
                engine.query("idx", "", q)
            rates.append(len(queries) / (time.perf_counter() - started))
        manifest = engine._cache.manifest(engine.describe_index("idx").id, "")
        layout = " + ".join(f"{r.live:,}" for r in sorted(manifest.slabs, key=lambda r: -r.live))
        print(f"| {label} | {layout} | {' / '.join(f'{r:,.0f}' for r in rates)} | "
              f"{1000 / float(np.median(rates)):.3f} |", flush=True)

    print(f"Machine: {machine()}. {args.n:,} × {ds.base.shape[1]}-d, "
          f"{len(queries)} queries at scanFactor {args.scan_factor}, engine from {args.shared}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| layout | slabs (live rows) | QPS of each pass | ms per query (median) |\n|---|---|---|---|")
    cut = args.n - args.n * 13 // 1000
    try:
        write(0, cut)
        engine.compact("idx", "", force=True)
        measure("one")
        write(cut, args.n)
        measure("one + tail slab")
        engine.compact("idx", "", force=True)
        measure("merged")
        for lo in (0, 500, 1000):
            write(lo, lo + 500)
        measure("merged + 3 overwrites")
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
