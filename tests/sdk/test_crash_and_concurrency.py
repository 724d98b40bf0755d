"""Durability and LSN guarantees through the HTTP API, with real processes.

* A server killed with SIGKILL at random points of a write stream loses no write it
  acknowledged (invariant 1); the builder flushes concurrently, so kills land in flushes too.
* Several writer processes on one namespace get gap-free, strictly increasing LSNs, and
  every acknowledged write is readable (invariants 2 and 3).
"""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
import time

import httpx
from pinecone import Pinecone, ServerlessSpec

from tests.sdk.server import API_KEY, Server

DIM = 8
HEADERS = {"Api-Key": API_KEY}


def _create(url: str) -> str:
    pc = Pinecone(api_key=API_KEY, host=url)
    pc.create_index(name="crash", dimension=DIM, metric="euclidean", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    return pc.describe_index(name="crash").host


def _stream(host: str, worker: int, acked: list[str], stop: threading.Event) -> None:
    with httpx.Client(headers=HEADERS, timeout=10.0) as client:
        i = 0
        while not stop.is_set():
            ids = [f"w{worker}-{i}-{j}" for j in range(20)]
            body = {"namespace": "ns", "vectors": [{"id": rid, "values": [float(i)] * DIM} for rid in ids]}
            try:
                r = client.post(f"{host}/vectors/upsert", json=body)
            except httpx.HTTPError:
                return  # the server died mid-request: that write was not acknowledged
            if r.status_code == 200:
                acked.extend(ids)
            i += 1


def test_sigkill_loses_no_acknowledged_write(tmp_path):
    rng = random.Random(42)
    port = None
    acked: list[str] = []
    for round_ in range(4):
        server = Server(tmp_path / "data", port=port).start()
        port = server.port
        host = _create(server.url) if round_ == 0 else f"{server.url}/data/crash"
        stop = threading.Event()
        threads = [threading.Thread(target=_stream, args=(host, w + 10 * round_, acked, stop)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))  # the builder flushes every second: kills hit flushes too
        server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    server = Server(tmp_path / "data", port=port).start()
    try:
        assert len(acked) > 500
        host = f"{server.url}/data/crash"
        missing = []
        with httpx.Client(headers=HEADERS, timeout=30.0) as client:
            for start in range(0, len(acked), 500):
                chunk = acked[start:start + 500]
                r = client.get(f"{host}/vectors/fetch", params={"ids": chunk, "namespace": "ns"})
                assert r.status_code == 200
                missing += [rid for rid in chunk if rid not in r.json()["vectors"]]
            stats = client.post(f"{host}/describe_index_stats", json={}).json()
        assert missing == []
        assert stats["namespaces"]["ns"]["vectorCount"] >= len(set(acked))
    finally:
        server.stop()


def _lsn_writer(host: str, worker: int, n: int, out) -> None:
    lsns = []
    with httpx.Client(headers=HEADERS, timeout=30.0) as client:
        for i in range(n):
            r = client.post(f"{host}/vectors/upsert",
                            json={"namespace": "shared", "vectors": [{"id": f"p{worker}-{i}", "values": [1.0] * DIM}]})
            assert r.status_code == 200, r.text
            lsns.append(int(r.headers["x-pinecone-request-lsn"]))
            assert int(r.headers["x-pinecone-lsn-committed"]) >= lsns[-1]
    out.put((worker, lsns))


def test_writer_processes_get_gap_free_increasing_lsns(server):
    host = _create(server.url)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_lsn_writer, args=(host, w, 50, out)) for w in range(4)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert sorted(lsn for lsns in results.values() for lsn in lsns) == list(range(1, 201))
    for lsns in results.values():
        assert all(a < b for a, b in zip(lsns, lsns[1:]))
    with httpx.Client(headers=HEADERS) as client:
        ids = [f"p{w}-{i}" for w in range(4) for i in range(50)]
        r = client.get(f"{host}/vectors/fetch", params={"ids": ids, "namespace": "shared"})
        assert len(r.json()["vectors"]) == 200
        assert int(r.headers["x-pinecone-max-indexed-lsn"]) >= 200
