"""How long a read can stall while the embedded engine ingests and indexes (issue 8).

Upserts the peer benchmark's vectors (``bench/data/peers/.../arrays.npz``, made by
``make bench-peers``) in 200-record batches into an in-process embedded engine whose flush,
compaction and graph threads run as in ``spruce serve``, while another thread issues the
status read the peer harness polls with (``list`` with limit 1, every 0.2 s) until every
write is flushed. Prints the slowest read, and where the reading thread was whenever a read
ran past 2 s (its Python stack, sampled every 0.5 s). No HTTP: this isolates the engine.

    .venv/bin/python bench/read_stall.py --rows 600000
    .venv/bin/python bench/read_stall.py --rows 300000 --random   # seeded unit vectors, no data set
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from spruce.engine.builder import BuilderSettings
from spruce.engine.local import open_local
from spruce.engine.model import IndexConfig
from spruce.engine.records import Record

ARRAYS = Path(__file__).parent / "data" / "peers" / "run-n1000000-q1000" / "arrays.npz"
BATCH = 200


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--arrays", type=Path, default=ARRAYS)
    ap.add_argument("--random", action="store_true",
                    help="seeded random unit vectors instead of the data set (the engine's work is the same)")
    ap.add_argument("--ann-min-rows", type=int, default=BuilderSettings().ann_min_rows,
                    help="slabs this large get LanceDB's ANN index (a huge value: none)")
    ap.add_argument("--verbose", action="store_true", help="the engine's log (flushes, merges, graphs) with times")
    args = ap.parse_args()
    if args.verbose:
        logging.basicConfig(format="%(relativeCreated)9.0f ms %(threadName)s %(message)s", force=True)
        logging.getLogger("spruce").setLevel(logging.DEBUG)
    if args.random:
        rng = np.random.default_rng(8)
        base = rng.standard_normal((args.rows, 384), dtype=np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        cats = rng.integers(0, 100, size=args.rows)
    else:
        arrays = np.load(args.arrays)
        base, cats = arrays["base"][:args.rows], arrays["cats"][:args.rows]
    workdir = Path(tempfile.mkdtemp(prefix="read-stall-"))
    engine = open_local(workdir / "data", settings=BuilderSettings(ann_min_rows=args.ann_min_rows))
    engine.create_index(IndexConfig(name="idx", id=str(uuid.uuid4()), dimension=base.shape[1], metric="cosine",
                                    vector_type="dense", cloud="aws", region="us-east-1",
                                    created_at=datetime.now(timezone.utc).isoformat()))
    reading: dict[str, float | int | None] = {"since": None, "thread": None}
    ingested = threading.Event()
    durations: list[float] = []

    def poll() -> None:
        reading["thread"] = threading.get_ident()
        while True:
            reading["since"] = started = time.monotonic()
            read = engine.list_ids("idx", "", prefix=None, limit=1, token=None)
            reading["since"] = None
            durations.append(time.monotonic() - started)
            if ingested.is_set() and read.reconciled_lsn == read.max_lsn:
                return
            time.sleep(0.2)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            since = reading["since"]
            if since is not None and time.monotonic() - since > 2.0:
                frame = sys._current_frames().get(reading["thread"])
                stack = "".join(traceback.format_stack(frame)[-6:]) if frame else ""
                print(f"--- a read has run {time.monotonic() - since:.1f} s, {unflushed(engine)} unflushed records; "
                      f"at:\n{stack}", flush=True)
                time.sleep(2.0)

    threading.Thread(target=watch, daemon=True).start()
    poller = threading.Thread(target=poll)
    started = time.monotonic()
    for first in range(0, args.rows, BATCH):
        engine.upsert("idx", "", [Record(str(i), base[i], metadata={"cat": int(cats[i])})
                                  for i in range(first, min(first + BATCH, args.rows))])
        if first == 0:
            poller.start()
    ingested.set()
    ingest_s = time.monotonic() - started
    poller.join()
    print(f"{args.rows:,} rows: ingested in {ingest_s:.1f} s, all flushed after {time.monotonic() - started:.1f} s; "
          f"{len(durations)} reads: p50 {np.percentile(durations, 50) * 1e3:.1f} ms, "
          f"p99 {np.percentile(durations, 99) * 1e3:.1f} ms, slowest {max(durations):.2f} s", flush=True)
    engine.close()
    shutil.rmtree(workdir, ignore_errors=True)


def unflushed(engine) -> int:
    """Records in the newest overlay of the namespace (the tail every read resolves)."""
    overlays = list(engine._cache._overlays.values())  # noqa: SLF001 - a diagnostic peek
    return max((len(o.touched) for o in overlays), default=0)


if __name__ == "__main__":
    main()
