"""Benchmark the embedded server through the official SDK: upsert rate, query latency over
HTTP (p50/p99) and recall@10 against exact numpy, on N × D synthetic clustered vectors.

Run: ``make bench`` (defaults: 100k × 384) or ``python bench/run.py --n 20000 --dim 128``.
Appends a dated section with the machine description to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import httpx
import numpy as np
import orjson
from pinecone import Pinecone, ServerlessSpec
from results import machine, publish  # bench/ is on sys.path when a script runs

API_KEY = "spruce_bench_key"


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Gaussian clusters around random centres (n/1000 clusters): embedding-like structure."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 1000), dim)).astype(np.float32)
    X = centres[rng.integers(0, len(centres), size=n)] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def start_server(data_dir: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "SPRUCE_API_KEY": API_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "spruce.cli", "serve", "--port", str(port), "--data-dir", data_dir],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/indexes", headers={"Api-Key": API_KEY}).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError("server did not start")


def raw_upsert_seconds(host: str, X: np.ndarray, batch: int, threads: int) -> float:
    """The same records upserted into another namespace over plain HTTP with pre-encoded
    bodies: the server's own rate, without the SDK's per-vector model conversion."""
    bodies = [orjson.dumps({"namespace": "raw", "vectors": [{"id": f"v{i}", "values": X[i]}
                                                             for i in range(s, min(s + batch, len(X)))]},
                           option=orjson.OPT_SERIALIZE_NUMPY)
              for s in range(0, len(X), batch)]
    headers = {"Api-Key": API_KEY, "Content-Type": "application/json"}
    with httpx.Client(headers=headers, timeout=60.0,
                      limits=httpx.Limits(max_connections=threads)) as client:
        t0 = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            for r in pool.map(lambda b: client.post(f"{host}/vectors/upsert", content=b), bodies):
                r.raise_for_status()
        return time.monotonic() - t0


def wait_indexed(host: str, n_expected_lsn: int, timeout: float) -> float:
    """Seconds until every write is flushed into slabs (x-pinecone-lsn-reconciled)."""
    start = time.monotonic()
    with httpx.Client(headers={"Api-Key": API_KEY}) as c:
        while time.monotonic() - start < timeout:
            r = c.get(f"{host}/vectors/list", params={"namespace": "raw", "limit": 1})
            if int(r.headers["x-pinecone-lsn-reconciled"]) >= n_expected_lsn:
                return time.monotonic() - start
            time.sleep(0.5)
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--settle", type=float, default=240.0, help="seconds to wait for flush + compaction")
    args = ap.parse_args()

    X = clustered(args.n, args.dim)
    Q = clustered(args.queries, args.dim, seed=1) + 0.0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir = tempfile.mkdtemp(prefix="spruce-bench-")
    proc = start_server(data_dir, port)
    try:
        pc = Pinecone(api_key=API_KEY, host=f"http://127.0.0.1:{port}")
        pc.create_index(name="bench", dimension=args.dim, metric="cosine",
                        spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        idx = pc.Index("bench")
        batches = [[(f"v{i}", X[i].tolist()) for i in range(s, min(s + args.batch, args.n))]
                   for s in range(0, args.n, args.batch)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda b: idx.upsert(vectors=b, namespace="bench"), batches))
        upsert_s = time.monotonic() - t0
        host = pc.describe_index(name="bench").host
        raw_s = raw_upsert_seconds(host, X, args.batch, args.threads)

        # Read-your-writes: query right away (tail + slabs), then again once compacted.
        def measure() -> tuple[list[float], float]:
            lat, hits = [], 0
            exact = np.argsort(-(X @ Q.T), axis=0)[:10].T
            for qi, q in enumerate(Q):
                t = time.perf_counter()
                res = idx.query(vector=q.tolist(), top_k=10, namespace="bench")
                lat.append((time.perf_counter() - t) * 1000)
                hits += len({m.id for m in res.matches} & {f"v{j}" for j in exact[qi]})
            return lat, hits / (10 * len(Q))

        lat_fresh, recall_fresh = measure()
        settle_s = wait_indexed(host, len(batches), args.settle)  # the raw namespace was written last
        time.sleep(5)
        idx.query(vector=Q[0].tolist(), top_k=10, namespace="bench")  # warm caches after compaction
        lat, recall = measure()
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    def pct(v, p):
        return float(np.percentile(v, p))

    lines = [
        f"\n## {datetime.now(timezone.utc):%Y-%m-%d} — {args.n:,} × {args.dim}-d, cosine, clustered synthetic data",
        f"Machine: {machine()}; `bench/run.py --n {args.n} --dim {args.dim} --batch {args.batch} "
        f"--threads {args.threads}`; server and client on the same machine.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| upsert rate through the SDK ({args.threads} threads, {args.batch}/request) | "
        f"{args.n / upsert_s:,.0f} records/s ({upsert_s:.1f} s) |",
        f"| upsert rate over plain HTTP, pre-encoded bodies (server-side cost; same batches) | "
        f"{args.n / raw_s:,.0f} records/s ({raw_s:.1f} s) |",
        f"| query p50 / p99, right after upsert (log tail + L0 slabs) | "
        f"{pct(lat_fresh, 50):.1f} / {pct(lat_fresh, 99):.1f} ms, recall@10 {recall_fresh:.3f} |",
        f"| time until all writes are in slabs (after the fresh-query pass) | {settle_s:.1f} s |",
        f"| query p50 / p99 after flush + compaction, top_k=10 | {pct(lat, 50):.1f} / {pct(lat, 99):.1f} ms |",
        f"| recall@10 vs exact numpy after compaction | {recall:.3f} |",
    ]
    text = "\n".join(lines) + "\n"
    publish(text)


if __name__ == "__main__":
    main()
