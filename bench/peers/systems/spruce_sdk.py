"""Spruce embedded (``spruce serve`` subprocess), driven over HTTP by the official pinecone
SDK (the latest, 10.x, as ``pip install pinecone`` gives it) exactly as a user would:
``create_index``, batch ``upsert`` from parallel client processes (Pinecone's advice for bulk
upserts), ``query``.

Time until queryable: Spruce answers reads from the log tail at once (read-your-writes), so
every acknowledged record is already queryable; the figure reported is the time until the
server has *indexed* everything — ``x-pinecone-lsn-reconciled`` equals
``x-pinecone-max-indexed-lsn`` on a read (all writes flushed into slabs), then the server is
idle after a probe query (a slab's in-RAM graph is built after its first search), and a further
probe starts nothing: idle means the slab files on disk unchanged and the server process using
under ``IDLE_CPU`` of a core, its child processes included (index and graph builds change no
file, but burn CPU; the ANN index is built in a child) for
``QUIET_S`` seconds; the time is taken at the last activity seen.

The knob is the 2025-10 ``scanFactor`` (the SDK's ``scan_factor``): it scales the beam of the
slabs' in-RAM graphs (and the probe width of a LanceDB ANN index while a compacted slab's graph is
still being built; the measured sweeps run after every graph is built).
"""

from __future__ import annotations

import multiprocessing
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
import orjson
import psutil
from pinecone import Pinecone, ServerlessSpec

from spruce.engine.builder import BuilderSettings
from spruce.engine.graph import GraphSettings
from spruce.engine.manifest import Manifest
from spruce.storage.sqlite_store import SqliteStore
from systems.base import Knob, Setup

API_KEY = "spruce_bench_peers"
BATCH = 200  # records per upsert request (~1.6 MB of JSON at 384-d, under Pinecone's 2 MB)
PROCESSES = 2  # client processes upserting in parallel (one per core of the benchmark machine)
THREADS = 2  # threads per client process
SCAN_FACTORS = (0.5, 0.75, 1.0, 2.0, 3.0, 4.0)
QUIET_S = 10.0  # the builder must look idle this long to count as settled
IDLE_CPU = 0.05  # share of one core the idle server may use (its builder polls every 0.1 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpruceSdk:
    name = "Spruce (embedded, pinecone SDK over HTTP)"

    def __init__(self, source: Path | None = None, wrapper: tuple[str, ...] = (), startup_s: float = 60.0) -> None:
        self._source = source  # another checkout's shared/ to run the server from (profile_spruce.py)
        self._wrapper = wrapper  # a command the server runs under, e.g. valgrind (instructions.py)
        self._startup_s = startup_s

    def start(self, workdir: Path) -> Setup:
        """Start a server on ``workdir``/spruce-data; its ``bench`` index is created unless the
        directory already holds it (a data set loaded by an earlier server)."""
        self._data = workdir / "spruce-data"
        port = free_port()
        env = {**os.environ, "SPRUCE_API_KEY": API_KEY}
        if self._source is not None:
            env["PYTHONPATH"] = str(self._source.resolve())  # its spruce package shadows the installed one
        self._log = (workdir / "spruce-serve.log").open("wb")
        self._proc = subprocess.Popen([*self._wrapper, sys.executable, "-m", "spruce.cli", "serve", "--port", str(port),
                                       "--data-dir", str(self._data)], env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT)
        self.server = psutil.Process(self._proc.pid)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self._startup_s
        while True:
            try:
                if httpx.get(f"{url}/indexes", headers={"Api-Key": API_KEY}, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise TimeoutError(f"spruce serve did not start (see {self._log.name})")
            time.sleep(0.1)
        pc = Pinecone(api_key=API_KEY, host=url)
        if not pc.has_index("bench"):
            pc.create_index(name="bench", dimension=384, metric="cosine",
                            spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        self._index = pc.Index("bench")
        self._host = pc.describe_index(name="bench").host
        graphs = GraphSettings()
        return Setup("Spruce's own: slabs searched through in-RAM HNSW graphs (faiss, "
                     f"8-bit SQ, M={graphs.links}, efConstruction={graphs.ef_construction}, beam "
                     f"{graphs.ef_search} × scanFactor/4, × √(rows/{graphs.ef_rows:,}) on larger slabs; slabs under "
                     f"{graphs.min_rows:,} rows or {graphs.rows_per_beam} × the beam, and the log tail, scored "
                     "exactly), re-scored exactly; compacted "
                     f"slabs of {BuilderSettings().ann_min_rows:,}+ rows also get LanceDB IVF-HNSW-SQ, which "
                     "serves them until their graph is built",
                     [f"upsert: {BATCH} records per request, {PROCESSES} client processes × {THREADS} threads, "
                      f"SDK {version('pinecone')} defaults", "server and client processes on the same machine"])

    def load(self, vectors: np.ndarray, ids: np.ndarray, cats: np.ndarray) -> None:
        self._rows = len(vectors)
        self._probe = vectors[0].tolist()
        bounds = np.linspace(0, len(vectors), PROCESSES + 1).astype(int)
        ctx = multiprocessing.get_context("fork")  # the children share the arrays copy-on-write
        global _SHARED  # noqa: PLW0603 - handed to the forked clients
        _SHARED = (self._host, vectors, ids, cats)
        with ctx.Pool(PROCESSES) as pool:
            pool.starmap(_upsert_range, zip(bounds[:-1], bounds[1:]))

    def wait_until_queryable(self) -> float:
        # A status poll, not a measured call: reads queue behind compaction for seconds at 1M
        # rows (the slowest poll is printed to the system's log), hence the long timeout.
        slowest = 0.0
        with httpx.Client(headers={"Api-Key": API_KEY}, timeout=300) as client:
            while True:
                started = time.monotonic()
                r = client.get(f"{self._host}/vectors/list", params={"limit": 1})
                slowest = max(slowest, time.monotonic() - started)
                r.raise_for_status()
                if r.headers["x-pinecone-lsn-reconciled"] == r.headers["x-pinecone-max-indexed-lsn"]:
                    break
                time.sleep(0.2)
        print(f"slowest list call while indexing: {slowest:.2f} s", flush=True)
        stats = self._index.describe_index_stats()
        if stats.total_vector_count != self._rows:
            raise RuntimeError(f"describe_index_stats counts {stats.total_vector_count}, expected {self._rows}")
        # A slab builds its graph after its first search, and compaction may still replace slabs
        # after the flush: probe, wait until quiet, and again until a probe starts nothing.
        settled = None
        while True:
            probed = time.monotonic()
            self._index.query(vector=self._probe, top_k=10)
            active = self._quiet(self.server)
            if settled is not None and active - probed < 1.0:
                return settled
            settled = active

    def _quiet(self, server: psutil.Process) -> float:
        """Wait until the slab files stay unchanged and the server idle for ``QUIET_S``; the
        ``time.monotonic()`` of the last activity seen."""
        state, busy = self._slab_state(), _tree_cpu(server)
        active = time.monotonic()
        while time.monotonic() - active < QUIET_S:
            time.sleep(1.0)
            now, cpu = self._slab_state(), _tree_cpu(server)
            if now != state or cpu.keys() != busy.keys() or sum(cpu.values()) - sum(busy.values()) > IDLE_CPU:
                active = time.monotonic()
            state, busy = now, cpu
        return active

    def _slab_state(self) -> frozenset[str]:
        """Slab datasets and their index directories under the server's data directory. A
        slab that garbage collection removes mid-walk is a change: the walk is retried."""
        root = self._data / "slabs"
        while True:
            try:
                return frozenset(str(p.relative_to(root)) for p in root.glob("**/slab-*.lance/_indices/*")) | frozenset(
                    str(p.relative_to(root)) for p in root.glob("**/slab-*.lance"))
            except FileNotFoundError:
                time.sleep(0.1)

    def knobs(self) -> list[Knob]:
        return [Knob(f"scanFactor={s:g}", s) for s in SCAN_FACTORS]

    def use(self, knob: Knob) -> None:
        self._scan_factor = knob.value

    def query(self, vector: np.ndarray, k: int, below: int | None) -> list[int]:
        flt = None if below is None else {"cat": {"$lt": below}}
        res = self._index.query(vector=vector.tolist(), top_k=k, filter=flt, scan_factor=self._scan_factor)
        return [int(m.id) for m in res.matches]

    def layout(self) -> str:
        """The namespace's slabs, from the server's catalog (read-only; no API reports them). A
        bulk load settles into one large slab plus whatever the last flushes left unmerged (timing decides), and
        each slab is one more graph search per query."""
        store = SqliteStore(self._data / "spruce.db")
        try:
            index_id = orjson.loads(store.list_indexes()[0])["id"]
            namespace = store.namespaces(index_id)[0].name
            slabs = Manifest.decode(*store.load_manifest(index_id, namespace)).slabs
        finally:
            store.close()
        rows = " + ".join(f"{ref.rows - ref.dead:,}" for ref in sorted(slabs, key=lambda r: -r.rows))
        return f"{len(slabs)} slab{'s' if len(slabs) != 1 else ''} when swept ({rows} live rows)"

    def server_pids(self) -> list[int]:
        return [self._proc.pid]

    def versions(self) -> dict[str, str]:
        return {"spruce": version("spruce"), "pinecone (SDK)": version("pinecone"),
                "lancedb": version("lancedb"), "uvicorn": version("uvicorn")}

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=120)
        self._log.close()


def _tree_cpu(server: psutil.Process) -> dict[int, float]:
    """CPU seconds of the server and each of its child processes, by pid. The children count:
    the server builds ANN indexes in one (``LanceSlabStore(index_in_child=True)``), and a merge
    waiting on it commits only when it ends, with the server itself idle meanwhile."""
    found = {}
    for proc in [server, *server.children(recursive=True)]:
        try:
            found[proc.pid] = sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return found


_SHARED: tuple = ()  # (host, vectors, ids, cats) for the forked client processes


def _upsert_range(start: int, stop: int) -> None:
    """One client process: its own SDK client, ``THREADS`` threads, rows ``start:stop``."""
    host, vectors, ids, cats = _SHARED
    index = Pinecone(api_key=API_KEY, host=host).Index(host=host)

    def send(first: int) -> None:
        part = slice(first, min(first + BATCH, stop))
        index.upsert(vectors=[(str(i), v, {"cat": int(c)})
                              for i, v, c in zip(ids[part], vectors[part].tolist(), cats[part])])

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, range(start, stop, BATCH)))
