"""Measure one system in this process (``run.py`` starts one per system, so each system's
memory is separable): load, wait until queryable, sweep the knobs in one or more rounds,
filtered queries.

Usage: ``measure.py --system NAME --arrays data.npz --workdir DIR --out result.json
--control-fd FD``. The process loads the system, then takes commands from stdin, one a line:
``sweep`` (one round: a pass per knob) and ``finish`` (filtered queries, memory; writes the
result and exits); it answers each step, the load included, with a line on ``FD``. So
``run.py`` can keep every system loaded and sweep them round-robin (``--rounds``).

Every query is one call, sequential, from one client thread, timed with ``perf_counter``
around the call (for a server: request, HTTP and response parsing included). QPS is the
number of queries divided by the wall time of the whole pass. Recall@10 is |found ∩ exact
top-10| / 10, averaged over the queries. Before the first round, ``WARMUP`` queries run once
unrecorded at the last knob, and ``PASS_WARMUP`` before each pass after its knob is applied.
Over several rounds, a point's QPS and latency percentiles are the medians of its passes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import memory  # noqa: E402
from dataset import K, SELECTIVITY, Dataset, load_arrays  # noqa: E402
from systems import create  # noqa: E402
from systems.base import Knob, System  # noqa: E402

WARMUP = 100
PASS_WARMUP = 10  # after each knob change (Chroma reloads its index then)
FILTER_RECALL = 0.99  # filtered queries run at the fastest knob reaching this unfiltered recall


def run_pass(system: System, ds: Dataset, knob: Knob, below: int | None, truth: np.ndarray) -> dict:
    latencies = np.empty(len(ds.queries))
    hits = 0
    returned = 0
    system.use(knob)
    for q in ds.queries[:PASS_WARMUP]:
        system.query(q, K, below)
    start = time.perf_counter()
    for i, q in enumerate(ds.queries):
        t = time.perf_counter()
        found = system.query(q, K, below)
        latencies[i] = time.perf_counter() - t
        returned += len(found)
        hits += len(set(found) & set(truth[i].tolist()))
    wall = time.perf_counter() - start
    ms = latencies * 1000
    return {"knob": knob.label, "recall": hits / (K * len(ds.queries)), "qps": len(ds.queries) / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()),
            "returned_per_query": returned / len(ds.queries)}


def sweep_knobs(system: System, ds: Dataset, knobs: list[Knob]) -> tuple[list[tuple[Knob, dict]], dict[str, str]]:
    """One pass per knob; a knob whose queries raise is reported as failed, the sweep goes on."""
    done, failed = [], {}
    for knob in knobs:
        try:
            done.append((knob, run_pass(system, ds, knob, None, ds.truth["all"])))
        except Exception as exc:  # noqa: BLE001 - any system error is a result to report
            failed[knob.label] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return done, failed


def aggregate(rounds: list[list[tuple[Knob, dict]]]) -> list[tuple[Knob, dict]]:
    """One point per knob over the rounds: median QPS and latencies, mean recall, and every
    round's QPS (``qps_rounds``), in the first round's knob order."""
    passes: dict[str, list[dict]] = {}
    knobs: dict[str, Knob] = {}
    for done in rounds:
        for knob, stats in done:
            knobs.setdefault(knob.label, knob)
            passes.setdefault(knob.label, []).append(stats)
    points = []
    for label, runs in passes.items():
        point = {"knob": label, "recall": statistics.fmean(r["recall"] for r in runs),
                 "returned_per_query": statistics.fmean(r["returned_per_query"] for r in runs),
                 "qps_rounds": [r["qps"] for r in runs]}
        for key in ("qps", "p50_ms", "p90_ms", "p99_ms", "mean_ms"):
            point[key] = statistics.median(r[key] for r in runs)
        points.append((knobs[label], point))
    return points


def filter_knob(done: list[tuple[Knob, dict]]) -> Knob:
    good = [(s["qps"], k) for k, s in done if s["recall"] >= FILTER_RECALL]
    if good:
        return max(good, key=lambda x: x[0])[1]
    return max(done, key=lambda x: x[1]["recall"])[0]


class Measurement:
    """One system through a run: ``load`` (ingest, until queryable, warm-up), ``sweep`` once a
    round, then ``finish`` (filtered queries, memory, the result). ``close`` always runs."""

    def __init__(self, name: str, ds: Dataset, workdir: Path) -> None:
        self._ds = ds
        self._baseline = memory.self_rss_mb()
        self._system = create(name)
        self._setup = self._system.start(workdir)
        self._pids = self._system.server_pids()
        self._sampler = memory.TreeSampler(self._pids) if self._pids else None
        self._rounds: list[list[tuple[Knob, dict]]] = []
        self._failed: dict[str, str] = {}

    def load(self) -> None:
        ds, system = self._ds, self._system
        t0 = time.monotonic()
        system.load(ds.base, np.arange(ds.n), ds.cats)
        acked = time.monotonic()
        settled = system.wait_until_queryable()
        ready = settled if settled is not None else time.monotonic()
        self._times = {"ingest_s": acked - t0, "ingest_per_s": ds.n / (acked - t0), "queryable_s": ready - t0}
        self._knobs = system.knobs()
        system.use(self._knobs[-1])
        for q in ds.queries[:WARMUP]:
            system.query(q, K, None)

    def sweep(self) -> None:
        """One round: every knob in the first, the repeatable ones after."""
        knobs = self._knobs if not self._rounds else [k for k in self._knobs if k.repeat]
        done, failed = sweep_knobs(self._system, self._ds, knobs)
        self._rounds.append(done)
        self._failed.update(failed)

    def pause(self) -> None:
        """Between rounds: stop sampling the server's memory (the peak stays)."""
        if self._sampler:
            self._sampler.pause()

    def resume(self) -> None:
        if self._sampler:
            self._sampler.resume()

    def finish(self) -> dict:
        ds, system = self._ds, self._system
        points = aggregate(self._rounds)
        if not points:
            raise RuntimeError(f"every knob failed: {self._failed}")
        chosen = filter_knob(points)
        filtered = {label: run_pass(system, ds, chosen, below, ds.truth[label])
                    for label, below in SELECTIVITY.items()}
        serving = memory.tree_pss_mb(self._pids) if self._pids else memory.self_rss_mb()
        setup = asdict(self._setup)
        if layout := system.layout():
            setup["notes"].append(layout)
        return {
            "system": system.name, "n": ds.n, "queries": len(ds.queries), "setup": setup,
            **self._times, "rounds": len(self._rounds),
            "sweep": [s for _, s in points], "failed_knobs": self._failed, "filter_knob": chosen.label,
            "filtered": filtered,
            "memory": ({"kind": "server PSS", "peak_mb": self._sampler.stop(), "serving_mb": serving}
                       if self._sampler else
                       {"kind": "in-process RSS", "peak_mb": memory.self_peak_rss_mb(), "baseline_mb": self._baseline,
                        "serving_mb": serving}),
            "versions": system.versions(),
        }

    def close(self) -> None:
        if self._sampler:
            self._sampler.stop()
        self._system.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--arrays", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--control-fd", type=int, required=True, help="where each step is answered (see above)")
    args = ap.parse_args()
    # Stopped by run.py (a timeout, a failed step): close the system on the way out, so a
    # server it started (PostgreSQL is not this process's child) does not outlive the run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with os.fdopen(args.control_fd, "w", buffering=1) as control:
        def answer(state: str) -> None:
            control.write(json.dumps({"state": state}) + "\n")

        measurement = Measurement(args.system, load_arrays(args.arrays), args.workdir)
        try:
            measurement.load()
            answer("loaded")
            for line in sys.stdin:
                command = line.strip()
                measurement.resume()
                if command == "sweep":
                    measurement.sweep()
                    measurement.pause()
                    answer("swept")
                elif command == "finish":
                    args.out.write_text(json.dumps(measurement.finish(), indent=1))
                    answer("finished")
                    return
                else:
                    raise SystemExit(f"unknown command {command!r}")
            raise SystemExit("stdin closed before finish")
        finally:
            measurement.close()


if __name__ == "__main__":
    main()
