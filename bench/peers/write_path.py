"""The embedded engine's write path in process, without HTTP or the SDK: ``--threads`` threads
each parse 200-record upsert bodies (the peer data set, as JSON) and upsert them into a fresh
embedded host whose flush and compaction workers run as in ``spruce serve``. Prints records/s,
the process's CPU (user and system), and p50 / p99 / max of a whole request and of the
request-log append inside it (the acknowledgement's durable step).

Run: ``.venv/bin/python bench/peers/write_path.py --n 100000`` (after ``make bench-peers`` has
saved the 200k data set). To compare with another checkout, run it again with
``PYTHONPATH=OTHER/shared`` and alternate the two: on this 2-core VM one version's figures move
by tens of percent between runs. Nothing is written to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402
import embedded  # noqa: E402
from spruce.engine.local import open_local  # noqa: E402
from spruce.engine.validation import parse_json, parse_upsert  # noqa: E402

BATCH = 200  # records per request, as the peer harness sends them


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="records to upsert (the first n of the 200k set)")
    ap.add_argument("--threads", type=int, default=4, help="request threads (the harness: 2 clients x 2)")
    args = ap.parse_args()
    data = dataset.load_run(200_000, 1_000)
    base, cats = data.base[: args.n], data.cats[: args.n]
    bodies = [orjson.dumps({"namespace": "", "vectors": [
        {"id": str(i), "values": base[i].tolist(), "metadata": {"cat": int(cats[i])}}
        for i in range(start, min(args.n, start + BATCH))]}) for start in range(0, args.n, BATCH)]

    with tempfile.TemporaryDirectory(prefix="spruce-write-path-") as tmp:
        engine = open_local(Path(tmp))
        cfg = embedded.create_index(engine, base.shape[1])
        store = engine.job_store
        appends: list[float] = []
        append = store.append

        def timed_append(*a):
            started = time.perf_counter()
            lsn = append(*a)
            appends.append(time.perf_counter() - started)
            return lsn

        store.append = timed_append  # type: ignore[method-assign]
        requests: list[float] = []

        def request(body: bytes) -> None:
            started = time.perf_counter()
            namespace, records = parse_upsert(parse_json(body), cfg)
            engine.upsert(cfg, namespace, records)
            requests.append(time.perf_counter() - started)

        cpu0, started = os.times(), time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(request, bodies))
        wall, cpu1 = time.perf_counter() - started, os.times()
        engine.close()

    def pct(xs: list[float]) -> str:
        return f"p50 {np.percentile(xs, 50) * 1e3:.1f} / p99 {np.percentile(xs, 99) * 1e3:.1f} / max {max(xs) * 1e3:.0f} ms"

    print(f"{args.n:,} records, {args.threads} threads: {args.n / wall:,.0f} records/s ({wall:.1f} s); "
          f"CPU user {cpu1.user - cpu0.user:.1f} s, system {cpu1.system - cpu0.system:.1f} s")
    print(f"request {pct(requests)}; log append {pct(appends)}")


if __name__ == "__main__":
    main()
