"""The engine's per-record Python paths, timed in isolation (issue 8): what reads and flushes
pay per write while an ingest runs.

- log payload of one upsert (``--batch`` records × ``--dim``, metadata of five keys): encode and
  decode, in the form upserts are logged now (a JSON header plus one raw float32 matrix) and in
  the JSON list of per-record base64 vectors that earlier versions logged (still decoded);
- slab building blocks for ``--rows`` records: the typed metadata columns
  (``build_metadata_columns``) and the whole slab table (``build_slab_table``).

Best of ``--repeat`` runs each, in this process, one thread.

    .venv/bin/python bench/engine_paths.py            # appends a dated section to bench/RESULTS.md
    .venv/bin/python bench/engine_paths.py --no-append
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import orjson
from results import machine, publish  # bench/ is on sys.path when a script runs

from spruce.engine.metadata import build_metadata_columns
from spruce.engine.records import Record, Upsert, decode_op, encode_op, encode_record
from spruce.engine.slabs import build_slab_table


def best(fn: Callable[[], object], repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def records(n: int, dim: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    return [Record(f"doc-{i}", vectors[i], None,
                   {"genre": f"g{i % 50}", "year": float(2000 + i % 25), "draft": i % 2 == 0,
                    "tags": ["a", f"t{i % 7}"], "title": f"title {i}"}) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=200, help="records per upsert (the peer harness sends 200)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rows", type=int, default=100_000, help="records in the slab-building timings")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-append", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()

    batch = records(args.batch, args.dim)
    kind, columnar = encode_op(Upsert(batch))
    legacy = orjson.dumps([encode_record(r) for r in batch], option=orjson.OPT_SERIALIZE_NUMPY)
    assert decode_op(kind, legacy).records[-1].id == decode_op(kind, columnar).records[-1].id
    codec = {
        "encode, now": best(lambda: encode_op(Upsert(batch)), args.repeat),
        "decode, now": best(lambda: decode_op(kind, columnar), args.repeat),
        "encode, earlier form": best(lambda: orjson.dumps([encode_record(r) for r in batch],
                                                          option=orjson.OPT_SERIALIZE_NUMPY), args.repeat),
        "decode, earlier form": best(lambda: decode_op(kind, legacy), args.repeat),
    }
    many = records(args.rows, args.dim, seed=1)
    metadatas = [r.metadata for r in many]
    lsns = list(range(1, args.rows + 1))
    vectors = np.stack([r.values for r in many])
    repeat = max(3, args.repeat // 5)
    slab = {
        "metadata columns (`build_metadata_columns`)": best(lambda: build_metadata_columns(metadatas), repeat),
        "slab table (`build_slab_table`, vectors given)": best(
            lambda: build_slab_table(many, lsns, args.dim, vectors=vectors), repeat),
    }

    lines = [
        f"\n## {date.today().isoformat()} — engine paths per write (`bench/engine_paths.py`)\n",
        f"Machine: {machine()}; one thread, best of {args.repeat} (slab rows: best of {repeat}).\n",
        f"Log payload of one upsert of {args.batch} × {args.dim}-d records with five metadata keys: "
        f"{len(columnar):,} bytes now, {len(legacy):,} in the earlier form.\n",
        "| log payload | ms per upsert | µs per record |",
        "|---|---|---|",
        *(f"| {name} | {s * 1e3:.3f} | {s * 1e6 / args.batch:.2f} |" for name, s in codec.items()),
        "",
        f"| slab building, {args.rows:,} records | ms | µs per record |",
        "|---|---|---|",
        *(f"| {name} | {s * 1e3:.0f} | {s * 1e6 / args.rows:.2f} |" for name, s in slab.items()),
        "",
    ]
    publish("\n".join(lines) + "\n", append=not args.no_append)


if __name__ == "__main__":
    main()
