"""In-RAM HNSW graphs over slabs: the fast path for dense queries on the embedded host.

A flat slab (one below ``BuilderSettings.ann_min_rows``) keeps its vector matrix in RAM and
is scored exactly, which costs a full pass over the matrix per query: ~8 ms for 50k × 384 and
~13 ms for 100k on the benchmark machine, growing with the rows. An ANN-indexed slab is
searched through LanceDB's IVF-HNSW-SQ index: 5.1–7.4 ms per query at recall 0.965–0.972 at 200k–1M
rows, measured on raw LanceDB in process (bench/RESULTS.md). A graph
answers the same query in 0.2–0.5 ms at 200k: faiss's HNSW over 8-bit scalar-quantised
copies of the vectors (a quarter of the matrix's size) proposes candidates, and the float32
matrix re-scores them exactly, so every returned score is exact and only recall depends on
the graph (bench/peers/, bench/RESULTS.md). An indexed slab's vectors are read into RAM for
its graph, so on this host every graphed slab costs its matrix plus about a third more.

Graphs are a cache, never stored: a slab's graph is built on a background thread the first
time the slab is searched, and until it is ready the slab is searched as before (exactly, or
through its ANN index). A queued slab that compaction replaced, or that no query searched for
``idle_s`` while the builder was free to take it, is skipped, and a build in progress stops once
compaction replaces its slab, so the merges of an ingest do not each cost a graph, while every
slab a query fans out to gets one in turn (a merged slab gets one at its commit when searches
wanted the graphs of the slabs it replaced). The AWS
executors do not build graphs yet: a Lambda process is frozen between invocations, so they
would need graphs stored beside the slabs.
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass

import faiss
import numpy as np

from spruce.engine.slabs import SlabData

log = logging.getLogger("spruce.engine")


@dataclass(frozen=True, slots=True)
class GraphSettings:
    # Smaller slabs are scored exactly: a pass over 1,024 × 384-d rows (in cache) took 0.04 ms, less
    # than any beam; over 2,048 rows 0.20 ms, where a beam of 40–80 took 0.13–0.18 (bench/RESULTS.md).
    min_rows: int = 2_048
    # A beam of ``ef`` costs about as much as a pass over ``ef`` × this many rows (384-d, same
    # measurement: beam 160 vs 4,000 rows, 320 vs 8,000): past that the slab is scored exactly.
    rows_per_beam: int = 25
    # HNSW M (neighbours per node). 32 rather than 16: on the 1M × 384-d bench set, a beam of 40
    # gave recall@10 0.955 in 0.16 ms against 0.935 in 0.14 ms, and 0.989 at a beam of 180 against
    # 0.983, for the same build time (102 s vs 95 s on 2 threads) and 128 MB more links per 1M rows.
    links: int = 32
    ef_construction: int = 64
    ef_search: int = 160  # the beam at scanFactor 4.0 (the default) on a slab of ef_rows rows
    # With M=32, beams of 128 and 180 gave recall@10 0.992 and 0.994 at 200k rows, and the beam of
    # 180 gave 0.989 at 1M (√5 × 160 = 358 is what scanFactor 4 gives there) (bench/RESULTS.md).
    ef_rows: int = 200_000
    refine: int = 4  # candidates re-scored exactly per result wanted
    min_share: float = 0.05  # a filter keeping fewer of the slab's rows is answered exactly
    idle_s: float = 5.0  # a queued slab not searched for this long (while the builder was free) is not wanted
    threads: int = 1  # faiss's OpenMP threads: one, so a build never starves queries


#: Rows sampled to fit the 8-bit quantiser, and rows added to the graph per call.
TRAIN_ROWS = 65_536
ADD_ROWS = 16_384


def _points(data: SlabData, rows: np.ndarray) -> np.ndarray:
    """The graph's coordinates of ``rows``: unit vectors for cosine (inner product of unit
    vectors; zero rows stay zero), the vectors themselves otherwise."""
    if data.metric == "cosine":
        return data.matrix[rows] * data.norms[rows, None]
    return data.matrix[rows]


class SlabGraph:
    """One slab's HNSW graph (row number = faiss label)."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, data: SlabData, settings: GraphSettings, stop: threading.Event) -> SlabGraph | None:
        """The graph of ``data``; None when compaction replaced the slab meanwhile, or ``stop``
        was set (the host is closing), both checked between chunks: at 200k rows a build takes
        half a minute, and only readers of older snapshots, which are scored exactly meanwhile,
        could still search a replaced slab."""
        space = faiss.METRIC_L2 if data.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWSQ(data.matrix.shape[1], faiss.ScalarQuantizer.QT_8bit, settings.links, space)
        index.hnsw.efConstruction = settings.ef_construction
        step = max(1, data.rows // TRAIN_ROWS)  # the quantiser's per-dimension ranges, from a sample
        index.train(_points(data, np.arange(0, data.rows, step)))
        for start in range(0, data.rows, ADD_ROWS):  # in chunks: no second copy of the matrix
            if data.retired or stop.is_set():
                return None
            index.add(_points(data, np.arange(start, min(start + ADD_ROWS, data.rows))))
        return cls(index)

    @staticmethod
    def row_filter(allowed: np.ndarray) -> RowFilter:
        return RowFilter(allowed)

    def candidates(self, q: np.ndarray, want: int, ef: int, allowed: RowFilter | None) -> np.ndarray:
        """Up to ``want`` rows near ``q`` (already unit length for cosine), only rows that
        ``allowed`` permits (None: all)."""
        beam = max(ef, want)
        params = _unfiltered_params(beam) if allowed is None else allowed.params(beam)
        _, labels = self._index.search(np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1), want,
                                       params=params)
        found = labels[0]
        return found[found >= 0]


class RowFilter:
    """The rows a graph search may return (a bool per row), as faiss takes them: a packed bitmap
    and search parameters per beam, made once and shared by the searches that allow the same rows
    (every query of a namespace whose slab has tombstones or rows the log tail shadows)."""

    def __init__(self, allowed: np.ndarray) -> None:
        self._bitmap = np.packbits(allowed, bitorder="little")  # held: the selector points into it
        self._selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(self._bitmap))
        self._params: dict[int, faiss.SearchParametersHNSW] = {}

    def params(self, ef: int) -> faiss.SearchParametersHNSW:
        found = self._params.get(ef)
        if found is None:
            found = faiss.SearchParametersHNSW(efSearch=ef)
            found.sel = self._selector
            self._params[ef] = found  # a race makes two equal ones; either is fine
        return found


@functools.lru_cache(maxsize=256)
def _unfiltered_params(ef: int) -> faiss.SearchParametersHNSW:
    """The search parameters of a beam with no selector, made once per beam: faiss's Python
    wrapper takes tens of µs to construct them, and a search only reads them, so threads share them."""
    return faiss.SearchParametersHNSW(efSearch=ef)


class SlabGraphs:
    """Hands out slab graphs and builds the missing ones, one at a time, on its own thread."""

    def __init__(self, settings: GraphSettings | None = None) -> None:
        self.settings = settings or GraphSettings()
        self._queue: queue.Queue[SlabData | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0  # queued or being built
        self._closing = threading.Event()  # builds stop at their next chunk

    def lookup(self, data: SlabData) -> SlabGraph | None:
        """``data``'s graph if built; otherwise None, and the build is queued (once)."""
        if not data.dense or data.rows < self.settings.min_rows or data.retired:
            return None
        data.last_search = time.monotonic()
        if data.graph is not None or data.graph_queued:
            return data.graph
        with self._lock:
            if data.graph_queued:
                return None
            data.graph_queued = True
            self._pending += 1
            self._queue.put(data)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spruce-graphs", daemon=True)
                self._thread.start()
        return None

    def beam(self, widen: float, share: float, rows: int) -> int:
        """The search beam for a scanFactor of ``widen`` × the default when ``share`` of the
        slab's ``rows`` may be returned: a filter (or deletes) thins the graph out, and a larger
        graph needs a wider beam for the same recall, so it grows with both (as the square root:
        an empirical rule, checked at 1M rows in bench/RESULTS.md)."""
        s = self.settings
        return math.ceil(s.ef_search * widen * math.sqrt(max(1.0, rows / s.ef_rows) / max(share, s.min_share)))

    def idle(self) -> bool:
        """No build queued or running."""
        with self._lock:
            return self._pending == 0

    def close(self) -> None:
        """Stop building: the build in progress (on the build thread or a caller's, as a merge's
        ``build_now``) stops at its next chunk of rows, queued builds are dropped. A build left
        running in faiss when the interpreter exits aborts the process (``std::terminate``)."""
        self._closing.set()
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            while not self._queue.empty():
                self._queue.get_nowait().graph_queued = False
                self._pending -= 1
            self._queue.put(None)
        thread.join(timeout=60)

    def _run(self) -> None:
        faiss.omp_set_num_threads(self.settings.threads)  # OpenMP's setting is per calling thread
        free_since = time.monotonic()
        while True:
            data = self._queue.get()
            if data is None:
                return
            try:
                self._build(data, free_since)
            finally:
                free_since = time.monotonic()
                with self._lock:
                    self._pending -= 1

    def _build(self, data: SlabData, free_since: float) -> None:
        """Build ``data``'s graph unless it is no longer wanted. Time spent building other
        graphs does not count as idle: one search of a namespace queues all its slabs."""
        if data.retired or time.monotonic() - max(data.last_search, free_since) > self.settings.idle_s:
            data.graph_queued = False  # a later search queues it again
            return
        self._make(data)

    def build_now(self, data: SlabData) -> None:
        """Build ``data``'s graph on the calling thread, unless it has one or one is queued: the
        embedded builder does so for a merged slab that replaces graphed ones before committing
        it, so queries never fall back to its ANN index while its graph would be built."""
        if not data.dense or data.rows < self.settings.min_rows:
            return
        with self._lock:
            if data.graph is not None or data.graph_queued:
                return
            data.graph_queued = True
        faiss.omp_set_num_threads(self.settings.threads)
        self._make(data)

    def _make(self, data: SlabData) -> None:
        started = time.monotonic()
        try:
            data.hold_vectors()
            graph = SlabGraph.build(data, self.settings, self._closing)
        except Exception:  # the slab stays exactly scored; graph_queued stays set: no retry loop
            log.exception("building the graph of slab %s failed; it is scored exactly", data.slab_id)
            return
        if graph is None:
            log.info("graph of slab %s dropped after %.1f s: compaction replaced the slab, or the host is closing",
                     data.slab_id, time.monotonic() - started)
            return
        data.graph = graph
        log.info("graph of slab %s (%d rows) built in %.1f s", data.slab_id, data.rows,
                 time.monotonic() - started)
