"""Instructions a Spruce query costs the server outside its graph search, counted by
valgrind's callgrind: a figure that, unlike seconds, does not move with the machine's speed.

On the benchmark VM the same code's QPS drifts by tens of percent within minutes (the
hypervisor steals up to a quarter of the CPU) and the CPU has no usable performance counters
(``perf stat -e instructions`` says "not supported"), so a change that saves 10% of a query's
CPU cannot be told from noise by timing. Callgrind counts the instructions the server runs,
which for the same code, data and queries come out the same whatever else the machine does.

How: the peer data set's first ``--n`` vectors are loaded into ``spruce serve`` as the harness
loads them (``SpruceSdk``: same batches and client processes, waited until settled), and that
server stops. For each checkout (this tree, and ``--baseline OTHER/shared`` if given) a copy
of the data directory is served by ``spruce serve`` under ``valgrind --tool=callgrind
--instr-atstart=no``; after a warm-up, instrumentation is switched on (``callgrind_control -i
on``), the queries run through the official SDK at ``--scan-factor``, and the counts are
dumped per pass. Reported per query: instructions (Ir) in total and per server thread (thread
1 runs the event loop: uvicorn, the middleware, the route; the query itself runs on an
executor worker; the builder's idle polling shows as a thread of its own).

What is counted is everything a query costs the server except faiss's graph search: ``--n``
must stay under ``GraphSettings.min_rows`` (4,096), so the slabs are scored exactly (one
matrix product) and no graph is built. A graph cannot be used here: building one under
callgrind is about 450× slower than natively (2,000 rows: 0.6 s natively, 272 s under
callgrind), so a 200k-row graph would take days. At 200k, faiss's search is about a third of
the worker's time (py-spy, bench/RESULTS.md 2026-12-02); the rest, and the event loop, is what
this counts. ``PYTHONHASHSEED=0`` fixes the interpreter's hash seeds.

Run: ``.venv-bench/bin/python bench/peers/instructions.py`` or, to compare with another
revision, ``git worktree add /tmp/base <rev> && ... instructions.py --baseline /tmp/base/shared``.
Needs valgrind (Debian's ``valgrind``). Nothing is written to RESULTS.md; it prints.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402
from dataset import K  # noqa: E402
from spruce.engine.graph import GraphSettings  # noqa: E402
from systems.base import Knob  # noqa: E402
from systems.spruce_sdk import SpruceSdk  # noqa: E402

#: A server's startup under callgrind (imports of pyarrow, lancedb, fastapi) takes minutes.
STARTUP_S = 900.0
WARMUP = 20


def load(ds: dataset.Dataset, workdir: Path) -> Path:
    """The data directory of a settled server that loaded ``ds`` (natively, not under valgrind)."""
    system = SpruceSdk()
    workdir.mkdir(parents=True)
    system.start(workdir)
    system.load(ds.base, np.arange(ds.n), ds.cats)
    system.wait_until_queryable()
    system.close()
    return workdir / "spruce-data"


def callgrind_control(*args: str) -> str:
    return subprocess.run(["callgrind_control", *args], check=True, capture_output=True, text=True).stdout


def thread_totals(out_prefix: Path) -> dict[int, int]:
    """Ir per valgrind thread id from the newest dump's files (``--separate-threads=yes``: one
    file per thread, ``PREFIX.N-TT``; a thread that ran nothing has none)."""
    dumps = {f: re.search(r"\.(\d+)-(\d+)$", f.name) for f in out_prefix.parent.glob(f"{out_prefix.name}.*-*")}
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump next to {out_prefix}")
    newest = max(int(m.group(1)) for m in dumps.values())
    totals: dict[int, int] = {}
    for f, m in dumps.items():
        if int(m.group(1)) == newest:
            found = re.search(r"^(?:summary|totals): (\d+)", f.read_text(errors="replace"), re.MULTILINE)
            totals[int(m.group(2))] = int(found.group(1)) if found else 0
    return totals


def measure(name: str, data: Path, source: Path | None, ds: dataset.Dataset, knob: Knob, passes: int,
            workdir: Path) -> list[dict[int, float]]:
    """Per pass, Ir per query by valgrind thread id, for a server of ``source`` on a copy of ``data``."""
    shutil.copytree(data, workdir / "spruce-data")  # creates workdir too
    prefix = workdir / "callgrind.out"
    wrapper = ("valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
               "--dump-instr=no", "--compress-strings=no", f"--callgrind-out-file={prefix}.%p")
    os.environ["PYTHONHASHSEED"] = "0"
    system = SpruceSdk(source, wrapper=wrapper, startup_s=STARTUP_S)
    started = time.monotonic()
    system.start(workdir)
    pid = str(system.server.pid)
    system.use(knob)
    for q in ds.queries[:WARMUP]:  # opens the slabs; a timed pass warms up with 10
        system.query(q, K, None)
    print(f"[{name}] up and warm under callgrind after {time.monotonic() - started:.0f} s", flush=True)
    results = []
    try:
        callgrind_control("-i", "on", pid)
        for p in range(passes):
            callgrind_control("-z", pid)
            t0 = time.monotonic()
            hits = sum(len(set(system.query(q, K, None)) & set(truth.tolist()))
                       for q, truth in zip(ds.queries, ds.truth["all"]))
            callgrind_control("-d", pid)
            per_thread = {t: ir / len(ds.queries) for t, ir in thread_totals(Path(f"{prefix}.{pid}")).items()}
            results.append(per_thread)
            print(f"pass {p + 1} [{name}]: {sum(per_thread.values()) / 1e6:,.2f} M Ir/query "
                  f"({time.monotonic() - t0:.0f} s, recall@10 {hits / (K * len(ds.queries)):.4f}); by thread: "
                  + ", ".join(f"{t}: {ir / 1e6:,.2f} M" for t, ir in sorted(per_thread.items()) if ir >= 1e4),
                  flush=True)
        callgrind_control("-i", "off", pid)
    finally:
        system.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4_000, help=f"base vectors, under {GraphSettings().min_rows:,}")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--scan-factor", type=float, default=1.0)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--baseline", type=Path, help="the shared/ directory of another checkout to count as well")
    args = ap.parse_args()
    if args.n >= GraphSettings().min_rows:
        raise SystemExit(f"--n must be under {GraphSettings().min_rows:,}: a graph build under valgrind takes hours")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")

    ds = dataset.build(args.n, args.queries)
    knob = Knob(f"scanFactor={args.scan_factor:g}", args.scan_factor)
    workdir = Path(tempfile.mkdtemp(prefix="spruce-instructions-"))
    try:
        data = load(ds, workdir / "load")
        print(f"loaded {ds.n:,} vectors into {data}", flush=True)
        runs = [("this tree", None)] + ([(str(args.baseline), args.baseline)] if args.baseline else [])
        summary = {}
        for i, (name, source) in enumerate(runs):
            passes = measure(name, data, source, ds, knob, args.passes, workdir / f"run{i}")
            totals = [sum(p.values()) for p in passes]
            summary[name] = (np.median(totals), np.median([p.get(1, 0.0) for p in passes]))
        for name, (total, main_thread) in summary.items():
            print(f"median [{name}]: {total / 1e6:,.3f} M Ir/query ({main_thread / 1e6:,.3f} M on the main thread)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
