"""Issue 8: Spruce against the systems a user would pick instead, on one machine, one data
set, one query set: Spruce embedded over HTTP through the pinecone SDK, raw LanceDB (the floor
under Spruce's engine), faiss HNSW (the practical limit), Chroma embedded and pgvector.

Run: ``make bench-peers`` (N=50000 QUERIES=1000 SYSTEMS=all) or
``.venv-bench/bin/python bench/peers/run.py --n 50000 --systems spruce,faiss``. Builds (or
reuses) the cached data set (``dataset.py``), runs ``measure.py`` once per system in its own
process, then appends a dated section to ``bench/RESULTS.md`` and writes two PNGs beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # bench/results.py

import dataset  # noqa: E402
import report  # noqa: E402
import sdk_floor  # noqa: E402
from results import machine, publish  # noqa: E402
from systems import SYSTEMS  # noqa: E402

BENCH = HERE.parent


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def provenance(n: int, q: int) -> str:
    glosses = len(dataset.wordnet_glosses())
    real = min(n, glosses - q)
    extra = n - real
    pairs = f" + {extra:,} gloss pairs (\"a; b\", seeded) embedded the same way" if extra > 0 else ""
    return (f"{n:,} base vectors = {real:,} Debian wordnet-base glosses{pairs}, embedded with the packaged "
            f"all-MiniLM-L6-v2 (int8 ONNX, 384-d, unit norm); {q:,} queries = other glosses held out of the base "
            f"set; ground truth = exact top-{dataset.K} by cosine (numpy brute force). Filter field `cat` uniform "
            f"in 0–{dataset.CATEGORIES - 1}: `cat < 1` selects ~1%, `cat < 10` ~10% (exact filtered top-10 as truth)")


HOW = [
    "How each figure was measured (`bench/peers/`):",
    "- **ingest**: records / wall time from the first insert call until the system acknowledged the last "
    "(client-side encoding included; each system's bulk path as its docs advise, see configuration below).",
    "- **time until queryable**: from the first insert until every record is served by the system's "
    "steady-state search path: index build (LanceDB `create_index`, pgvector `CREATE INDEX`), nothing "
    "for faiss/Chroma (they index during insert), and for Spruce until the builder has flushed everything "
    "(`x-pinecone-lsn-reconciled` = `x-pinecone-max-indexed-lsn`) and then went idle (slab files unchanged, "
    "server CPU idle, for 10 s; taken at the last activity). Spruce answers from the log tail before that "
    "(read-your-writes), so its records are queryable as soon as they are acknowledged.",
    "- **QPS, p50/p90/p99**: one client, one query at a time, top_k 10, each call timed with "
    "`perf_counter` (over HTTP for Spruce, a Unix socket for pgvector, in process for the rest); QPS = "
    "queries / wall time of the pass; 100 unrecorded warm-up queries before the sweep and 10 after each "
    "knob change. **recall@10** = mean |returned ∩ exact top-10| / 10.",
    "- **best QPS at recall ≥ x**: the fastest knob setting of the sweep that reached x (knob and its "
    "recall in brackets).",
    "- **filter 1% / 10%**: the same queries restricted to `cat < 1` / `cat < 10`, at the fastest knob "
    "that reached recall 0.99 unfiltered (else the most accurate); recall against the exact filtered "
    "top-10; \"returns x/10\" when the system gave fewer than 10 hits.",
    "- **memory**: servers (Spruce, PostgreSQL): peak summed PSS of the server's process tree, "
    "sampled every 0.2 s over the whole run, and the PSS after the last query pass (\"while serving\"); "
    "in-process libraries: the measuring process's peak RSS (`VmHWM`) and its RSS after the last pass, "
    "both including the harness and its copy of the data set (RSS before the system started in brackets).",
    "- Each system runs in a fresh process with a fresh data directory, one after another.",
]


def run_system(name: str, arrays: Path, workroot: Path, timeout: float) -> tuple[dict | None, str]:
    workdir = workroot / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    out = workroot / f"{name}.json"
    out.unlink(missing_ok=True)
    log = workroot / f"{name}.log"
    print(f"--- {name}", flush=True)
    t0 = time.monotonic()
    try:
        with log.open("wb") as f:
            proc = subprocess.run([sys.executable, str(HERE / "measure.py"), "--system", name, "--arrays", str(arrays),
                                   "--workdir", str(workdir), "--out", str(out)],
                                  stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"    {time.monotonic() - t0:.0f} s, exit {proc.returncode}", flush=True)
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return None, f"exit {proc.returncode}: {tail[0][:200]} (log: {log})"
    return json.loads(out.read_text()), ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="base vectors")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--systems", default="all", help=f"comma list of {', '.join(SYSTEMS)} (default all)")
    ap.add_argument("--label", default="", help="added to the section heading, e.g. 'smoke run under load'")
    ap.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per system")
    ap.add_argument("--no-append", action="store_true", help="print the section, leave RESULTS.md and PNGs alone")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the results of systems an earlier run of the same --n/--queries finished "
                         "(a full-scale run can span several sessions)")
    args = ap.parse_args()
    names = list(SYSTEMS) if args.systems == "all" else args.systems.split(",")
    unknown = set(names) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}")

    load_before = load_average()
    t0 = time.monotonic()
    ds = dataset.build(args.n, args.queries)
    workroot = dataset.DATA_DIR / f"run-n{args.n}-q{args.queries}"
    workroot.mkdir(parents=True, exist_ok=True)
    arrays = workroot / "arrays.npz"
    dataset.save_arrays(ds, arrays)
    print(f"data set ready in {time.monotonic() - t0:.0f} s", flush=True)
    floor = sdk_floor.measure() if "spruce" in names else None

    results, failures = [], {}
    for name in names:
        done = workroot / f"{name}.json"
        if args.resume and done.exists():
            print(f"--- {name}: reusing {done}", flush=True)
            results.append(json.loads(done.read_text()))
            continue
        result, error = run_system(name, arrays, workroot, args.timeout)
        if result is None:
            failures[name] = error
            print(f"    FAILED: {error}", flush=True)
        else:
            results.append(result)
    if not results:
        raise SystemExit("every system failed")

    date = datetime.now(timezone.utc)
    stem = f"peers-n{args.n}"
    plots = (f"{stem}-recall-qps.png", f"{stem}-latency.png")
    title = f"{args.n:,} × 384-d MiniLM (WordNet glosses), {args.queries:,} queries, {date:%Y-%m-%d}" + (
        f"\n{args.label}" if args.label else "")
    heading = (f"{date:%Y-%m-%d} — peers (issue 8): {args.n:,} × 384-d, cosine, {args.queries:,} queries"
               + (f" — {args.label}" if args.label else ""))
    preamble = [
        f"Machine: {machine()}. Load average (1/5/15 min) {load_before} before, {load_average()} after.",
        f"Command: `bench/peers/run.py --n {args.n} --queries {args.queries} --systems {','.join(names)}"
        f"{' --resume' if args.resume else ''}` (`make bench-peers N={args.n} QUERIES={args.queries}`)"
        + (" — results of systems measured by an earlier invocation were reused; the load averages are this "
           "invocation's." if args.resume else "."),
        f"Data: {provenance(args.n, args.queries)}.",
        *([f"Spruce's client floor: {floor.describe()}."] if floor else []),
        "", *HOW]
    text = report.section(heading=heading, preamble=preamble, results=results, failures=failures, plots=plots)
    if args.no_append:
        print(text)
        return
    report.plot_recall_qps(results, BENCH / plots[0], title)
    report.plot_latency(results, BENCH / plots[1], title)
    publish(text)


if __name__ == "__main__":
    main()
