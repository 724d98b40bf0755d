"""The embedded host: SQLite log and catalog, LanceDB slabs on the local disk, the index
builder as background threads of the server process, and in-RAM graphs of its slabs."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from pathlib import Path

from spruce.engine.builder import Builder, BuilderSettings
from spruce.engine.graph import GraphSettings, SlabGraphs
from spruce.engine.holds import GcHolds
from spruce.engine.model import IndexConfig, WriteResult
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.service import IndexRef, Spruce
from spruce.engine.slabs import RecordColumns
from spruce.engine.slabset import LocalSlabs
from spruce.storage.lance_slabs import LanceSlabStore
from spruce.storage.sqlite_store import SqliteStore

log = logging.getLogger("spruce.engine")


def _load_libc() -> ctypes.CDLL | None:
    """glibc, if this process runs on it (the C library it loaded, when that has ``malloc_trim``)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


def _malloc_trim() -> None:
    """Hand memory that glibc's allocator keeps after frees back to the system. A merge frees the
    replaced slabs' matrices and graphs (hundreds of MiB at 200k rows), and glibc keeps much of it:
    a 200k load settled in 1,765–1,914 MiB of RSS with this, 1,968–2,174 without
    (bench/peers/settle_memory.py). No-op off glibc."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class EmbeddedSpruce(Spruce):
    """``Spruce`` plus the background workers: one flushes and collects garbage, one compacts."""

    def __init__(self, store: SqliteStore, slabs: LanceSlabStore, settings: BuilderSettings,
                 graphs: GraphSettings | None = None) -> None:
        self.graphs = SlabGraphs(graphs)
        local = LocalSlabs(slabs, self.graphs)
        cache = NamespaceCache(store, store, local)
        super().__init__(catalog=store, log_store=store, cache=cache, drop_slabs=slabs.drop_index,
                         builder=Builder(store, store, slabs, local, cache, settings, holds=GcHolds(store).held,
                                         warm=True))
        self._store = store
        self._slabs = slabs
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._wanted: dict[tuple[str, str], tuple[IndexConfig, str]] = {}  # namespaces to try merging
        # Namespaces to settle, and when: ``settle_s`` after their last flush.
        self._settling: dict[tuple[str, str], tuple[IndexConfig, str, float]] = {}
        self._wanted_lock = threading.Lock()
        self._compaction_wanted = threading.Event()
        self._next_collection = 0.0

    @property
    def job_store(self) -> SqliteStore:
        """The JobStore of this host's jobs (the same SQLite file)."""
        return self._store

    def maintain_once(self) -> list[tuple[IndexConfig, str]]:
        """One pass of the flush worker: flush due namespaces, collect garbage now and then.
        Returns the namespaces it flushed, which may now have slabs to merge."""
        builder = self._require_builder()
        by_id = {cfg.id: cfg for cfg in self.list_indexes()}
        flushed: list[tuple[IndexConfig, str]] = []
        for index_id, namespace in self._store.pending_namespaces():
            cfg = by_id.get(index_id)
            if cfg is None:
                continue
            key = (index_id, namespace)
            snap = self._cache.snapshot(index_id, namespace, metric=cfg.metric, dimension=cfg.dimension)
            if not builder.due(key, len(snap.overlay.touched)):
                continue
            if builder.flush(cfg, namespace):
                builder.flushed(key)
                flushed.append((cfg, namespace))
        now = time.monotonic()
        if now >= self._next_collection:  # idle namespaces too: every namespace, now and then
            self._next_collection = now + max(self._require_builder().settings.gc_grace_s, 1.0)
            for cfg in by_id.values():
                for row in self._store.namespaces(cfg.id):
                    builder.collect_garbage(cfg, row.name)
        return flushed

    def start(self) -> None:
        """Start the background workers (sweeping orphans left by a crash first)."""
        for cfg in self.list_indexes():
            for row in self._store.namespaces(cfg.id):
                self._require_builder().sweep_orphans(cfg, row.name)
        self._workers = [threading.Thread(target=self._flush_loop, name="spruce-flush", daemon=True),
                         threading.Thread(target=self._compact_loop, name="spruce-compact", daemon=True)]
        for worker in self._workers:
            worker.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._require_builder().settings.poll_s):
            try:
                flushed = self.maintain_once()
            except Exception:  # keep the worker alive; the log still holds every write
                log.exception("background maintenance failed; retrying")
                continue
            if flushed:
                self._want_compaction(flushed)

    def ingest(self, index: IndexRef, namespace: str, records: RecordColumns) -> WriteResult:
        """``Spruce.ingest`` (a bulk import's chunk), then the namespace settles ``settle_s``
        later, unless another chunk comes first: it is not tried for a merge at once, as after a
        flush. The next chunk follows within a second, and merging chunks as they come merged
        and indexed the same rows again and again (slabs of 250k, then 500k, then 1M rows, each
        with its ANN index and graph) on the cores the import needs: a 1M × 384-d import took
        9.7–9.8 s with merges during it, 6.1–7.2 s with them after it (2 cores, 2026-12-06).
        Once its unindexed slabs hold ``tier_max_rows`` (what one merge is sized for), the
        namespace is tried at once again, so a long import still merges as it goes and queries
        meanwhile search a bounded number of slabs."""
        cfg = self._config(index)
        result = super().ingest(cfg, namespace, records)
        unindexed = sum(ref.live for ref in self._cache.manifest(cfg.id, namespace).slabs if not ref.indexed)
        self._want_compaction([(cfg, namespace)], now=unindexed >= self._require_builder().settings.tier_max_rows)
        return result

    def _want_compaction(self, flushed: list[tuple[IndexConfig, str]], *, now: bool = True) -> None:
        """Queue namespaces a flush just changed: each is tried for a merge now (unless not
        ``now``) and settles ``settle_s`` later unless flushed again meanwhile."""
        settle_at = time.monotonic() + self._require_builder().settings.settle_s
        with self._wanted_lock:
            if now:
                self._wanted.update({(cfg.id, ns): (cfg, ns) for cfg, ns in flushed})
            self._settling.update({(cfg.id, ns): (cfg, ns, settle_at) for cfg, ns in flushed})
        self._compaction_wanted.set()  # also when only settling: the compactor waits for the earliest

    def _compact_loop(self) -> None:
        """Merges run here, apart from flushes: indexing a large merged slab takes minutes, and
        flushing meanwhile keeps the log tail (which every read resolves) short. A namespace is
        tried after each flush, and once more (to settle) when no flush followed for ``settle_s``."""
        while not self._stop.is_set():
            self._compaction_wanted.wait(self._until_settle())
            self._compaction_wanted.clear()
            now = time.monotonic()
            with self._wanted_lock:
                wanted, self._wanted = self._wanted, {}
                due_keys = [key for key, (_, _, at) in self._settling.items() if at <= now]
                due = [self._settling.pop(key)[:2] for key in due_keys]
            work = [(cfg, ns, False) for cfg, ns in wanted.values()] + [(cfg, ns, True) for cfg, ns in due]
            for cfg, namespace, settle in work:
                if self._stop.is_set():
                    return
                try:
                    if self._require_builder().compact(cfg, namespace, settle=settle):  # may make another due
                        _malloc_trim()
                        with self._wanted_lock:
                            self._wanted.setdefault((cfg.id, namespace), (cfg, namespace))
                        self._compaction_wanted.set()
                except Exception:  # the slabs it would merge stay as they are, all still live
                    if self._stop.is_set():
                        return  # close() stopped the builds the merge waited on
                    log.exception("compaction of %s/%s failed; it is tried again after the next flush",
                                  cfg.name, namespace)

    def _until_settle(self) -> float | None:
        """Seconds until the next namespace is due to settle (None: none is waiting)."""
        with self._wanted_lock:
            if not self._settling:
                return None
            return max(0.0, min(at for _, _, at in self._settling.values()) - time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._compaction_wanted.set()
        # First the builds a merge may be waiting on, on the compaction thread: its graph stops at
        # the next chunk of rows, its ANN index build (a child process) is killed; the merge is
        # then dropped, its slabs stay as they were.
        self.graphs.close()
        self._slabs.close()
        for worker in self._workers:
            worker.join(timeout=60)
        self._workers = []


def open_local(data_dir: Path, *, settings: BuilderSettings | None = None, graphs: GraphSettings | None = None,
               start: bool = True) -> EmbeddedSpruce:
    """Open (creating if needed) an embedded Spruce in ``data_dir`` and start its builder."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    slabs = LanceSlabStore(str(data_dir / "slabs"), index_in_child=True)  # flushes never wait on an index build
    engine = EmbeddedSpruce(SqliteStore(data_dir / "spruce.db"), slabs, settings or BuilderSettings(), graphs)
    if start:
        engine.start()
    return engine
