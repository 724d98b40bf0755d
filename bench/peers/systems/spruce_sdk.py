"""Spruce embedded (``spruce serve`` subprocess), driven over HTTP by the official pinecone
SDK 7.x exactly as a user would: ``create_index``, threaded batch ``upsert``, ``query``.

Time until queryable: Spruce answers reads from the log tail at once (read-your-writes), so
every acknowledged record is already queryable; the figure reported is the time until the
background builder has *indexed* everything — ``x-pinecone-lsn-reconciled`` equals
``x-pinecone-max-indexed-lsn`` on a read (all writes flushed into slabs), then the builder is
idle: the slab files on disk unchanged and the server process using under ``IDLE_CPU`` of a
core (an ANN index build changes no file for minutes, but burns CPU) for ``QUIET_S`` seconds;
the time is taken at the last activity seen.

The knob is the 2025-10 ``scanFactor`` (SDK 7.x passes it through as ``scan_factor``). It only
acts on ANN-indexed slabs, which exist only from ``BuilderSettings.ann_min_rows`` rows (250k;
not configurable from the server's command line or environment); below that Spruce scores
every row exactly in RAM and there is one setting.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
import psutil
from pinecone import Pinecone, ServerlessSpec

from spruce.engine.builder import BuilderSettings
from systems.base import Knob, Setup

API_KEY = "spruce_bench_peers"
BATCH = 200  # records per upsert request (~1.6 MB of JSON at 384-d, under Pinecone's 2 MB)
THREADS = 4
SCAN_FACTORS = (0.5, 1.0, 2.0, 4.0)
QUIET_S = 10.0  # the builder must look idle this long to count as settled
IDLE_CPU = 0.05  # share of one core the idle server may use (its builder polls every 0.1 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpruceSdk:
    name = "Spruce (embedded, pinecone SDK over HTTP)"

    def start(self, workdir: Path) -> Setup:
        self._data = workdir / "spruce-data"
        port = free_port()
        env = {**os.environ, "SPRUCE_API_KEY": API_KEY}
        self._log = (workdir / "spruce-serve.log").open("wb")
        self._proc = subprocess.Popen([sys.executable, "-m", "spruce.cli", "serve", "--port", str(port),
                                       "--data-dir", str(self._data)], env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/indexes", headers={"Api-Key": API_KEY}).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise TimeoutError("spruce serve did not start")
        pc = Pinecone(api_key=API_KEY, host=url)
        pc.create_index(name="bench", dimension=384, metric="cosine",
                        spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        self._index = pc.Index("bench")
        self._host = pc.describe_index(name="bench").host
        return Setup("Spruce's own: exact in-RAM scan of slabs + log tail; IVF-HNSW-SQ on compacted slabs "
                     f"of ≥{BuilderSettings().ann_min_rows:,} rows",
                     [f"upsert: {BATCH} records per request, {THREADS} client threads, SDK 7.x",
                      "server and client processes on the same machine"])

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        self._rows = len(vectors)
        batches = [slice(s, s + BATCH) for s in range(0, len(vectors), BATCH)]

        def send(part: slice) -> None:
            self._index.upsert(vectors=[(str(i), v, {"cat": int(c)})
                                        for i, v, c in zip(ids[part], vectors[part].tolist(), cats[part])])

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(send, batches))

    def wait_until_queryable(self) -> float:
        with httpx.Client(headers={"Api-Key": API_KEY}) as client:
            while True:
                r = client.get(f"{self._host}/vectors/list", params={"limit": 1})
                r.raise_for_status()
                if r.headers["x-pinecone-lsn-reconciled"] == r.headers["x-pinecone-max-indexed-lsn"]:
                    break
                time.sleep(0.2)
        stats = self._index.describe_index_stats()
        if stats.total_vector_count != self._rows:
            raise RuntimeError(f"describe_index_stats counts {stats.total_vector_count}, expected {self._rows}")
        server = psutil.Process(self._proc.pid)
        state, busy = self._slab_state(), sum(server.cpu_times()[:2])
        active = time.monotonic()
        while time.monotonic() - active < QUIET_S:
            time.sleep(1.0)
            now, cpu = self._slab_state(), sum(server.cpu_times()[:2])
            if now != state or cpu - busy > IDLE_CPU:
                active = time.monotonic()
            state, busy = now, cpu
        return active

    def _slab_state(self) -> frozenset[str]:
        """Slab datasets and their index directories under the server's data directory."""
        root = self._data / "slabs"
        return frozenset(str(p.relative_to(root)) for p in root.glob("**/slab-*.lance/_indices/*")) | frozenset(
            str(p.relative_to(root)) for p in root.glob("**/slab-*.lance"))

    def knobs(self) -> list[Knob]:
        if self._rows < BuilderSettings().ann_min_rows:
            return [Knob("exact (below ANN threshold)", None)]
        return [Knob(f"scanFactor={s:g}", s) for s in SCAN_FACTORS]

    def use(self, knob: Knob) -> None:
        self._scan_factor = knob.value

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        extra = {} if self._scan_factor is None else {"scan_factor": self._scan_factor}
        flt = None if below is None else {"cat": {"$lt": below}}
        res = self._index.query(vector=vector.tolist(), top_k=k, filter=flt, **extra)
        return [int(m.id) for m in res.matches]

    def server_pids(self) -> list[int]:
        return [self._proc.pid]

    def versions(self) -> dict[str, str]:
        return {"spruce": version("spruce"), "pinecone (SDK)": version("pinecone"),
                "lancedb": version("lancedb"), "uvicorn": version("uvicorn")}

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=120)
        self._log.close()
