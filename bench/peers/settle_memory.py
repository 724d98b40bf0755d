"""The embedded host's resident memory once a bulk load has settled, with and without handing
freed memory back to the system after merges (``spruce.engine.local._malloc_trim``).

Each variant runs in its own process: the peer data set is upserted in 1,000-record calls into an
embedded engine with its background builder running (a query every 20 calls, so slabs get graphs
as they would under reads), then it waits until the namespace is one slab of every row, builds
the graphs of a few queries, waits 3 s and prints the process's VmRSS.

Run: ``.venv/bin/python bench/peers/settle_memory.py --n 200000`` (the peer data set must exist:
``make bench-peers`` builds it). Prints what it measured.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH = 1000


def rss_mib() -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def measure(n: int, queries: int, trim: bool) -> None:
    sys.path[:0] = [str(HERE.parent.parent / "shared"), str(HERE)]
    import dataset
    import spruce.engine.local as local
    from embedded import create_index
    from spruce.engine.model import QuerySpec
    from spruce.engine.records import Record

    if not trim:
        local._LIBC = None
    ds = dataset.load_run(n, queries)
    work = Path(tempfile.mkdtemp(prefix="settle-memory-"))
    engine = local.open_local(work)
    try:
        cfg = create_index(engine, ds.base.shape[1])
        for call, start in enumerate(range(0, n, BATCH)):
            engine.upsert("idx", "", [Record(str(i), ds.base[i]) for i in range(start, min(n, start + BATCH))])
            if call % 20 == 0:
                engine.query("idx", "", QuerySpec(top_k=10, vector=ds.queries[0]))
        started = time.monotonic()
        while [r.live for r in engine._cache.manifest(cfg.id, "").slabs] != [n]:
            if time.monotonic() - started > 900:
                raise SystemExit("the namespace did not settle into one slab in 15 minutes")
            time.sleep(0.5)
        for q in ds.queries[:20]:
            engine.query("idx", "", QuerySpec(top_k=10, vector=q))
        while not engine.graphs.idle():
            time.sleep(0.2)
        time.sleep(3)
        gc.collect()
        print(f"| {'after each merge' if trim else 'never'} | {rss_mib():,.0f} MiB |", flush=True)
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--variant", choices=("trim", "no-trim"))
    args = parser.parse_args()
    if args.variant:
        measure(args.n, args.queries, args.variant == "trim")
        return
    sys.path.insert(0, str(HERE.parent))
    from results import machine
    print(f"Machine: {machine()}. {args.n:,} records, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| freed memory handed back | RSS once settled |\n|---|---|", flush=True)
    for variant in ("trim", "no-trim"):
        subprocess.run([sys.executable, __file__, "--n", str(args.n), "--queries", str(args.queries),
                        "--variant", variant], check=True)


if __name__ == "__main__":
    main()
