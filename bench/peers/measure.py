"""Measure one system in this process (run by ``run.py`` once per system, so each system's
memory is separable): load, wait until queryable, sweep the knobs, filtered queries.

Usage: ``measure.py --system NAME --arrays data.npz --workdir DIR --out result.json``.

Every query is one call, sequential, from one client thread, timed with ``perf_counter``
around the call (for a server: request, HTTP and response parsing included). QPS is the
number of queries divided by the wall time of the whole pass. Recall@10 is |found ∩ exact
top-10| / 10, averaged over the queries. Before the sweep, ``WARMUP`` queries run once
unrecorded at the last knob, and ``PASS_WARMUP`` before each pass after its knob is applied.
"""

from __future__ import annotations

import argparse
import json
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


def filter_knob(done: list[tuple[Knob, dict]]) -> Knob:
    good = [(s["qps"], k) for k, s in done if s["recall"] >= FILTER_RECALL]
    if good:
        return max(good, key=lambda x: x[0])[1]
    return max(done, key=lambda x: x[1]["recall"])[0]


def measure(name: str, ds: Dataset, workdir: Path) -> dict:
    baseline = memory.self_rss_mb()
    system = create(name)
    setup = system.start(workdir)
    pids = system.server_pids()
    sampler = memory.TreeSampler(pids) if pids else None
    try:
        t0 = time.monotonic()
        system.load(ds.base, np.arange(ds.n), ds.cats)
        acked = time.monotonic()
        settled = system.wait_until_queryable()
        ready = settled if settled is not None else time.monotonic()
        knobs = system.knobs()
        system.use(knobs[-1])
        for q in ds.queries[:WARMUP]:
            system.query(q, K, None)
        done, failed = sweep_knobs(system, ds, knobs)
        if not done:
            raise RuntimeError(f"every knob failed: {failed}")
        chosen = filter_knob(done)
        filtered = {label: run_pass(system, ds, chosen, below, ds.truth[label])
                    for label, below in SELECTIVITY.items()}
        serving = memory.tree_pss_mb(pids) if pids else memory.self_rss_mb()
        versions = system.versions()
    finally:
        peak_servers = sampler.stop() if sampler else None
        system.close()
    return {
        "system": system.name, "n": ds.n, "queries": len(ds.queries), "setup": asdict(setup),
        "ingest_s": acked - t0, "ingest_per_s": ds.n / (acked - t0), "queryable_s": ready - t0,
        "sweep": [s for _, s in done], "failed_knobs": failed, "filter_knob": chosen.label, "filtered": filtered,
        "memory": ({"kind": "server PSS", "peak_mb": peak_servers, "serving_mb": serving} if pids else
                   {"kind": "in-process RSS", "peak_mb": memory.self_peak_rss_mb(), "baseline_mb": baseline,
                    "serving_mb": serving}),
        "versions": versions,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--arrays", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result = measure(args.system, load_arrays(args.arrays), args.workdir)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
