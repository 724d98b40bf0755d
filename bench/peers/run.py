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
import select
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
STOP_S = 120  # how long a stopped worker may take to close its system


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
]


def order(rounds: int) -> str:
    """The line after ``HOW``: how the systems took turns."""
    if rounds == 1:
        return "- Each system runs in a fresh process with a fresh data directory, one after another."
    return ("- Each system runs in a fresh process with a fresh data directory, loaded one after another "
            "(ingest and time until queryable measured with the others idle); then all stay loaded and are "
            f"swept {rounds} times round-robin, the order rotated by one system each round, so drift of the "
            f"machine over the run falls on every system alike. A point's QPS and p50/p90/p99 are the medians "
            f"of its {rounds} passes (its recall their mean); the sweep table gives every pass's QPS. The "
            "filtered queries run once, after the rounds.")


class Worker:
    """One system's ``measure.py`` process, in a fresh work directory, driven step by step
    (``load``, ``sweep`` once a round, ``finish``); each step waits at most ``timeout`` s."""

    def __init__(self, name: str, arrays: Path, workroot: Path, timeout: float) -> None:
        self.name = name
        self._timeout = timeout
        self._workdir = workroot / name
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir.mkdir(parents=True)
        self._out = workroot / f"{name}.json"
        self._out.unlink(missing_ok=True)
        self._log = workroot / f"{name}.log"
        replies, reply_end = os.pipe()
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, str(HERE / "measure.py"), "--system", name, "--arrays", str(arrays),
                 "--workdir", str(self._workdir), "--out", str(self._out), "--control-fd", str(reply_end)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, pass_fds=(reply_end,))
        os.close(reply_end)
        self._replies = replies
        self._pending = b""
        self._started = time.monotonic()

    def load(self) -> None:
        print(f"--- {self.name}: load", flush=True)
        self._await("loaded")

    def sweep(self, round_no: int) -> None:
        t0 = time.monotonic()
        self._ask("sweep", "swept")
        print(f"--- {self.name}: round {round_no} swept in {time.monotonic() - t0:.0f} s", flush=True)

    def finish(self) -> dict:
        self._ask("finish", "finished")
        self._proc.wait(timeout=self._timeout)
        print(f"--- {self.name}: finished, {time.monotonic() - self._started:.0f} s in all", flush=True)
        return json.loads(self._out.read_text())

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()  # measure.py closes its system on SIGTERM
            try:
                self._proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        os.close(self._replies)
        for kept in self._workdir.glob("*.log"):  # a server's own log (Spruce's: its merges, indexes, graphs)
            shutil.copyfile(kept, self._workdir.parent / f"{self.name}-{kept.name}")
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _ask(self, command: str, state: str) -> None:
        self._proc.stdin.write(f"{command}\n".encode())
        self._proc.stdin.flush()
        self._await(state)

    def _await(self, state: str) -> None:
        deadline = time.monotonic() + self._timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise WorkerFailed(f"timed out after {self._timeout:.0f} s waiting for {state!r}")
            chunk = os.read(self._replies, 4096)
            if not chunk:
                self._proc.wait()
                tail = self._log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise WorkerFailed(f"exit {self._proc.returncode}: {tail[0][:200]} (log: {self._log})")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        got = json.loads(line)["state"]
        if got != state:
            raise WorkerFailed(f"answered {got!r}, expected {state!r}")


class WorkerFailed(Exception):
    pass


def measure_all(names: list[str], arrays: Path, workroot: Path, timeout: float,
                rounds: int) -> tuple[dict[str, dict], dict[str, str]]:
    """Each system's result by name, and why the others failed. One round: each system is
    loaded, swept, finished and stopped before the next starts. More rounds: each system is
    loaded in turn, then all stay loaded while the rounds sweep them round-robin, the order
    rotated by one each round, then each is finished."""
    results, failures = {}, {}
    live: list[Worker] = []

    def fail(worker: Worker, exc: WorkerFailed) -> None:
        failures[worker.name] = str(exc)
        print(f"    FAILED: {exc}", flush=True)
        worker.close()
        live.remove(worker)

    sequential = rounds == 1
    try:
        for name in names:
            worker = Worker(name, arrays, workroot, timeout)
            live.append(worker)
            try:
                worker.load()
                if sequential:
                    worker.sweep(1)
                    results[name] = worker.finish()
                    worker.close()
                    live.remove(worker)
            except WorkerFailed as exc:
                fail(worker, exc)
        for turn in range(0 if sequential else rounds):
            first = turn % len(live) if live else 0
            for worker in live[first:] + live[:first]:
                try:
                    worker.sweep(turn + 1)
                except WorkerFailed as exc:
                    fail(worker, exc)
        for worker in list(live):
            try:
                results[worker.name] = worker.finish()
            except WorkerFailed as exc:
                fail(worker, exc)
    finally:
        for worker in live:
            worker.close()
    return results, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="base vectors")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--systems", default="all", help=f"comma list of {', '.join(SYSTEMS)} (default all)")
    ap.add_argument("--label", default="", help="added to the section heading, e.g. 'smoke run under load'")
    ap.add_argument("--rounds", type=int, default=1,
                    help="sweep every system this many times, round-robin, all loaded at once, and report each "
                         "point's median (default 1: each system loaded, swept and stopped before the next; "
                         "more rounds hold every system in memory together: about 10 GiB at 200k)")
    ap.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per system and step")
    ap.add_argument("--no-append", action="store_true", help="print the section, leave RESULTS.md and PNGs alone")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the results of systems an earlier run of the same --n/--queries finished "
                         "(a full-scale run can span several sessions)")
    args = ap.parse_args()
    names = list(SYSTEMS) if args.systems == "all" else args.systems.split(",")
    unknown = set(names) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}")
    if args.rounds < 1 or (args.rounds > 1 and args.resume):
        raise SystemExit("--rounds takes 1 or more, and more than 1 measures every system in one invocation "
                         "(no --resume)")

    load_before = load_average()
    t0 = time.monotonic()
    ds = dataset.build(args.n, args.queries)
    workroot = dataset.run_dir(args.n, args.queries)
    workroot.mkdir(parents=True, exist_ok=True)
    arrays = workroot / "arrays.npz"
    dataset.save_arrays(ds, arrays)
    print(f"data set ready in {time.monotonic() - t0:.0f} s", flush=True)
    floor = sdk_floor.measure() if "spruce" in names else None

    reused = {}
    for name in names:
        done = workroot / f"{name}.json"
        if args.resume and done.exists():
            print(f"--- {name}: reusing {done}", flush=True)
            reused[name] = json.loads(done.read_text())
    measured, failures = measure_all([n for n in names if n not in reused], arrays, workroot, args.timeout,
                                     args.rounds)
    results = [r for n in names for r in (reused.get(n) or measured.get(n),) if r]
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
        f"{' --resume' if args.resume else ''}{f' --rounds {args.rounds}' if args.rounds > 1 else ''}` "
        f"(`make bench-peers N={args.n} QUERIES={args.queries}{f' ROUNDS={args.rounds}' if args.rounds > 1 else ''}`)"
        + (" — results of systems measured by an earlier invocation were reused; the load averages are this "
           "invocation's." if args.resume else "."),
        f"Data: {provenance(args.n, args.queries)}.",
        *([f"Spruce's client floor: {floor.describe()}."] if floor else []),
        "", *HOW, order(args.rounds)]
    text = report.section(heading=heading, preamble=preamble, results=results, failures=failures, plots=plots)
    if args.no_append:
        print(text)
        return
    report.plot_recall_qps(results, BENCH / plots[0], title)
    report.plot_latency(results, BENCH / plots[1], title)
    publish(text)


if __name__ == "__main__":
    main()
