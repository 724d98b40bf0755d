"""Sparse (lexical) search benchmark: the issue-3 set — N synthetic documents of ~100
non-zeros with Zipfian term ids, 100 queries of ~12 terms — through the official SDK against
``spruce serve``: upsert rate, query p50/p99 while the records sit in the log tail, and after
the builder flushed and compacted them into slabs; every top-10 checked against brute force.

Run: ``make bench-sparse`` or ``python bench/sparse.py --n 50000``. Appends a dated section
to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from pinecone import Pinecone, ServerlessSpec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ holds the shared data generator
from bench.run import API_KEY, start_server  # noqa: E402
from tests.sparse_data import zipf_corpus, zipf_queries  # noqa: E402
from results import machine, publish  # noqa: E402 - bench/ is on sys.path when a script runs


def brute_force(corpus, queries, k: int) -> list[list[int]]:
    """Exact top-k per query from the forward index, in float64 (independent of the engine)."""
    terms = np.concatenate([d.indices for d in corpus]).astype(np.int64)
    values = np.concatenate([d.values for d in corpus]).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum([len(d.indices) for d in corpus])[:-1]])
    out = []
    for q in queries:
        weights = np.zeros(max(int(terms.max()), int(q.indices.max())) + 1)
        weights[q.indices] = q.values
        scores = np.add.reduceat(weights[terms] * values, starts)
        hits = np.flatnonzero(scores != 0)
        out.append(hits[np.argsort(-scores[hits], kind="stable")][:k].tolist())
    return out


def timed_queries(idx, queries, expected, namespace: str) -> tuple[float, float, int]:
    latencies, exact = [], 0
    for q, want in zip(queries, expected):
        t0 = time.perf_counter()
        res = idx.query(sparse_vector={"indices": q.indices.tolist(), "values": q.values.tolist()}, top_k=10,
                        namespace=namespace)
        latencies.append(time.perf_counter() - t0)
        exact += [m.id for m in res.matches] == [f"doc{i}" for i in want]
    return float(np.percentile(latencies, 50) * 1e3), float(np.percentile(latencies, 99) * 1e3), exact


def wait_flushed(host: str, timeout: float) -> float:
    """Seconds until the namespace's newest LSN is reconciled (flushed into slabs)."""
    start = time.monotonic()
    with httpx.Client(headers={"Api-Key": API_KEY}) as client:
        while time.monotonic() - start < timeout:
            r = client.get(f"{host}/vectors/list", params={"namespace": "docs", "limit": 1})
            if r.headers["x-pinecone-lsn-reconciled"] == r.headers["x-pinecone-max-indexed-lsn"]:
                return time.monotonic() - start
            time.sleep(0.25)
    raise TimeoutError("the builder did not flush in time")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--settle", type=float, default=180.0)
    args = ap.parse_args()

    corpus = zipf_corpus(args.n, seed=7)
    queries = zipf_queries(args.queries, seed=8)
    expected = brute_force(corpus, queries, 10)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data_dir:
        proc = start_server(data_dir, port)
        try:
            pc = Pinecone(api_key=API_KEY, host=f"http://127.0.0.1:{port}")
            pc.create_index(name="lexical", metric="dotproduct", vector_type="sparse",
                            spec=ServerlessSpec(cloud="aws", region="us-east-1"))
            idx = pc.Index("lexical")
            batches = [[{"id": f"doc{i}", "sparse_values": {"indices": corpus[i].indices.tolist(),
                                                            "values": corpus[i].values.tolist()}}
                        for i in range(s, min(s + args.batch, args.n))] for s in range(0, args.n, args.batch)]
            t0 = time.monotonic()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda b: idx.upsert(vectors=b, namespace="docs"), batches))
            upsert_s = time.monotonic() - t0
            fresh = timed_queries(idx, queries, expected, "docs")
            settle_s = wait_flushed(f"http://127.0.0.1:{port}/data/lexical", args.settle)
            settled = timed_queries(idx, queries, expected, "docs")
        finally:
            proc.terminate()
            proc.wait(30)

    rows = [
        ("upsert rate through the SDK", f"{args.n / upsert_s:,.0f} records/s ({upsert_s:.1f} s, "
                                         f"{args.threads} threads, {args.batch}/request)"),
        ("query p50 / p99, top_k=10, right after upsert (log tail + L0 slabs)",
         f"{fresh[0]:.1f} / {fresh[1]:.1f} ms; top-10 = brute force on {fresh[2]}/{len(queries)} queries"),
        ("time until the background builder flushed every write into slabs", f"{settle_s:.1f} s"),
        ("query p50 / p99, top_k=10, after the flush (slabs only)",
         f"{settled[0]:.1f} / {settled[1]:.1f} ms; top-10 = brute force on {settled[2]}/{len(queries)} queries"),
    ]
    section = [
        f"\n## {datetime.now(UTC):%Y-%m-%d} — sparse: {args.n:,} documents, ~100 non-zeros, Zipfian term ids",
        f"Machine: {machine()}; "
        f"`bench/sparse.py --n {args.n} --queries {args.queries}`; server and client on the same machine, "
        "queries sequential over HTTP through the official SDK.\n",
        "| metric | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows],
    ]
    text = "\n".join(section) + "\n"
    publish(text)


if __name__ == "__main__":
    main()
