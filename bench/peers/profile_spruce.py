"""Where a Spruce load's and query's time goes, on the peer data set: the CPU of the load and
the server's CPU per query, split by thread, and (with ``--py-spy``) a sampled profile of the
server during the query pass.

Loads the data set into ``spruce serve`` exactly as the peer harness does (``SpruceSdk``:
same batches, same client processes, same settling rule), then runs ``--passes`` passes of
the queries at ``--scan-factor`` through the SDK, each timed as ``measure.run_pass`` times the
harness's passes, and reports:

- the load's records/s and its CPU seconds: the SDK client processes', and the server's per
  thread (Python threads by name, from ``py-spy dump``; the rest are LanceDB's, Arrow's and
  SQLite's native threads), which shows what bounds ingest on a 2-core machine;
- the PSS and private memory of the server and of each child process, once settled;
- each pass's QPS, p50 and recall@10;
- the server process's CPU per query (user + system, from ``psutil``), in total and per
  thread (the event-loop thread, the worker threads, the builder), so HTTP and engine costs
  are told apart;
- with ``--py-spy FILE``: ``py-spy record --threads`` (active samples only) of the server over
  one more pass, saved as FILE (speedscope JSON when FILE ends in ``.json``, else a flamegraph
  SVG), and the functions with the most self samples printed.

With ``--baseline OTHER/shared``, a second server runs the code of another checkout on the same
data, and the two are queried in alternate passes: on this 2-core VM the same code's QPS moves
by tens of percent within minutes, so only interleaved passes compare two versions fairly.

Run: ``.venv-bench/bin/python bench/peers/profile_spruce.py --n 200000 --py-spy /tmp/q.json``, or
``git worktree add /tmp/base main && ... profile_spruce.py --baseline /tmp/base/shared --passes 6``.
Nothing here is written to RESULTS.md; it prints what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402
from measure import PASS_WARMUP, run_pass  # noqa: E402
from systems.base import Knob  # noqa: E402
from systems.spruce_sdk import SpruceSdk  # noqa: E402


def thread_cpu(proc: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def describe_memory(server: psutil.Process) -> list[str]:
    """PSS and USS (private pages) of the server and each of its children, MiB."""
    out = []
    for p in [server, *server.children(recursive=True)]:
        mem = p.memory_full_info()
        out.append(f"pid {p.pid} ({' '.join(p.cmdline()[1:4])[:60]}): PSS {mem.pss / 2**20:,.0f}, "
                   f"USS {mem.uss / 2**20:,.0f}")
    return out


def top_self(speedscope: Path, count: int = 25) -> list[tuple[str, float]]:
    """Functions with the most self samples in a speedscope profile (all threads), as shares."""
    doc = json.loads(speedscope.read_text())
    frames = doc["shared"]["frames"]
    counts: Counter[str] = Counter()
    total = 0
    for prof in doc["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"]):
            total += weight
            if stack:
                f = frames[stack[-1]]
                counts[f"{f['name']} ({Path(f.get('file', '?')).name}:{f.get('line', '?')})"] += weight
    return [(name, w / total) for name, w in counts.most_common(count)]


def py_spy() -> str:
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def thread_names(proc: psutil.Process) -> dict[int, str]:
    """Python thread names by native thread id, from ``py-spy dump`` (empty without py-spy)."""
    try:
        dump = subprocess.run([py_spy(), "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                              timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {int(m.group(1)): m.group(2) for m in re.finditer(r'^Thread (\d+) \([^)]*\): "([^"]*)"', dump, re.M)}


def load_cpu(server: psutil.Process, before: dict[int, tuple[float, float]], clients: float) -> str:
    """CPU seconds of the load: the SDK client processes', and the server's per thread (user +
    system), Python threads by name (worker threads summed), the rest as native."""
    names = thread_names(server)
    by_name: dict[str, list[float]] = {}
    for t in server.threads():
        user0, system0 = before.get(t.id, (0.0, 0.0))
        user, system = t.user_time - user0, t.system_time - system0
        name = names.get(t.id, "native threads (LanceDB, Arrow, SQLite)")
        entry = by_name.setdefault(re.sub(r"[-_ ]\d+$", "", name), [0.0, 0.0])
        entry[0] += user
        entry[1] += system
    parts = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))
    server_total = sum(u + s for u, s in by_name.values())
    return (f"CPU of the load: SDK clients {clients:.1f} s; server {server_total:.1f} s = "
            + ", ".join(f"{name} {u + s:.1f} s (system {s:.1f})" for name, (u, s) in parts if u + s >= 0.05))


def loaded(ds: dataset.Dataset, workdir: Path, source: Path | None) -> SpruceSdk:
    """A settled server holding the data set; ``source``: the ``shared`` directory of another
    checkout to run the server from. Prints the load's rate and where its CPU went."""
    system = SpruceSdk(source)
    workdir.mkdir(parents=True)
    system.start(workdir)
    before = {t.id: (t.user_time, t.system_time) for t in system.server.threads()}
    clients0 = os.times()
    t0 = time.monotonic()
    system.load(ds.base, np.arange(ds.n), ds.cats)
    acked = time.monotonic()
    clients1 = os.times()
    cpu = load_cpu(system.server, before, (clients1.children_user + clients1.children_system)
                   - (clients0.children_user + clients0.children_system))
    settled = system.wait_until_queryable()
    print(f"[{source or 'this tree'}] ingest {ds.n / (acked - t0):,.0f} records/s; queryable after "
          f"{settled - t0:.1f} s", flush=True)
    print(f"[{source or 'this tree'}] {cpu}", flush=True)
    print("memory once settled:", "; ".join(describe_memory(system.server)), flush=True)
    return system


def timed_pass(system: SpruceSdk, ds: dataset.Dataset, knob: Knob) -> tuple[dict, float, str]:
    """``measure.run_pass``'s figures, the server's CPU ms per query, and the CPU per busy thread."""
    server = system.server
    before, cpu0 = thread_cpu(server), sum(server.cpu_times()[:2])
    stats = run_pass(system, ds, knob, None, ds.truth["all"])
    after, cpu1 = thread_cpu(server), sum(server.cpu_times()[:2])
    queries = len(ds.queries) + PASS_WARMUP
    per_thread = sorted(((after[t] - before.get(t, 0.0)) * 1000 / queries, t) for t in after)
    busy = ", ".join(f"{cost:.3f} (tid {tid})" for cost, tid in reversed(per_thread) if cost >= 0.005)
    return stats, (cpu1 - cpu0) * 1000 / queries, busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--scan-factor", type=float, default=1.0)
    ap.add_argument("--passes", type=int, default=2, help="timed passes per server")
    ap.add_argument("--baseline", type=Path,
                    help="the shared/ directory of another checkout: a second server runs from it, and the "
                         "two are queried in alternate passes (this machine's speed drifts by tens of percent "
                         "within minutes, so only interleaved passes compare code fairly)")
    ap.add_argument("--py-spy", type=Path, help="profile the server over one more pass into this file")
    args = ap.parse_args()

    ds = dataset.build(args.n, args.queries)
    knob = Knob(f"scanFactor={args.scan_factor:g}", args.scan_factor)
    workdir = Path(tempfile.mkdtemp(prefix="spruce-profile-"))
    servers: list[tuple[str, SpruceSdk]] = []
    try:
        servers.append(("this tree", loaded(ds, workdir / "a", None)))
        if args.baseline:
            servers.append((str(args.baseline), loaded(ds, workdir / "b", args.baseline)))
        qps: dict[str, list[float]] = {name: [] for name, _ in servers}
        cpu: dict[str, list[float]] = {name: [] for name, _ in servers}
        for p in range(args.passes):
            for name, system in servers:
                stats, per_query, busy = timed_pass(system, ds, knob)
                qps[name].append(stats["qps"])
                cpu[name].append(per_query)
                print(f"pass {p + 1} [{name}]: {stats['qps']:,.0f} QPS, p50 {stats['p50_ms']:.2f} ms, recall@10 "
                      f"{stats['recall']:.4f}; server CPU {per_query:.3f} ms/query; by thread (ms/query): {busy}",
                      flush=True)
        for name, _ in servers:
            print(f"median [{name}]: {np.median(qps[name]):,.0f} QPS, server CPU {np.median(cpu[name]):.3f} ms/query")
        if args.py_spy:
            profile(servers[0][1], ds, knob, args.py_spy)
    finally:
        for _, system in servers:
            system.close()
        shutil.rmtree(workdir, ignore_errors=True)


def profile(system: SpruceSdk, ds: dataset.Dataset, knob: Knob, out: Path) -> None:
    """py-spy over one pass of ``system``'s server, into ``out``."""
    spy = py_spy()
    fmt = "speedscope" if out.suffix == ".json" else "flamegraph"
    rec = subprocess.Popen([spy, "record", "--pid", str(system.server.pid), "--threads", "--rate", "500",
                            "--format", fmt, "--output", str(out), "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    run_pass(system, ds, knob, None, ds.truth["all"])
    rec.send_signal(signal.SIGINT)  # py-spy writes the profile and exits
    rec.wait(timeout=60)
    if fmt == "speedscope":
        for name, share in top_self(out):
            print(f"{share:6.1%}  {name}")
    print(f"profile: {out}")


if __name__ == "__main__":
    main()
