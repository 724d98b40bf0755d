"""LanceDB adapter for slabs and tombstone sets.

Layout under ``root`` (a local directory, or an ``s3://`` URI for the AWS host):
``<index id>/<namespace key>/slab-<id>.lance`` and ``tomb-<name>.lance``. Each namespace
directory is one LanceDB database; every object in it is written once and never changed
(invariant 5) — a new manifest refers to new objects, and garbage collection removes the
ones no manifest needs.

ANN indexes can be built in a child process (``index_in_child``, the embedded host): LanceDB
runs every call of a process on one runtime, and a 300k–1M-row IVF-HNSW-SQ build on it held
back the builder's flushes (writes of new slabs) for 20–70 s each, so the log tail grew to
300k records and reads stalled for seconds (bench/read_stall.py, bench/RESULTS.md).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import lancedb
import pyarrow as pa
from lancedb.index import IvfHnswSq

from spruce.engine.scoring import LANCE_DISTANCE

#: Rows per IVF partition of a slab's ANN index; measured sweet spot on 2 cores (bench/).
ROWS_PER_PARTITION = 32_768
#: A slab is handed to LanceDB in record batches of at most this size. Its writer copies each
#: batch it is given, and glibc serves a buffer over 32 MiB with a fresh mmap, whose pages the
#: kernel zeroes and faults in, for every slab; smaller batches reuse the heap. A 50k × 384-d slab
#: (77 MB of vectors) wrote in 0.12–0.35 s with ~38k page faults in one batch, 0.06–0.08 s with
#: almost none in batches of 16 MiB (2026-12-06); the files are laid out the same.
WRITE_BATCH_BYTES = 16 << 20


def _create_vector_index(table, metric: str, rows: int) -> None:
    partitions = max(1, math.ceil(rows / ROWS_PER_PARTITION))
    table.create_index("vector", config=IvfHnswSq(distance_type=LANCE_DISTANCE[metric], num_partitions=partitions))


def _build_in_child(uri: str, storage_options: dict[str, str] | None, name: str, metric: str, rows: int) -> None:
    _create_vector_index(lancedb.connect(uri, storage_options=storage_options).open_table(name), metric, rows)


def _in_batches(table: pa.Table) -> pa.Table:
    """``table`` with record batches of at most ``WRITE_BATCH_BYTES`` (slices: nothing copied)."""
    rows = max(1, WRITE_BATCH_BYTES * table.num_rows // max(table.nbytes, 1))
    if all(batch.num_rows <= rows for batch in table.to_batches()):
        return table
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), table.schema)


def _fsync_tree(path: Path, root: Path) -> None:
    """fsync every file and directory under ``path``, then the directories from its parent up to
    ``root``, which hold its entry (a new namespace or index directory included)."""
    for folder, _, files in os.walk(path):
        for name in files:
            _fsync(os.path.join(folder, name))
        _fsync(folder)
    for folder in path.parents:
        _fsync(str(folder))
        if folder == root:
            break


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LanceSlabStore:
    """``storage_options`` go to every ``lancedb.connect`` (object-store endpoint, credentials).
    ``drop_index_objects(index_id)`` deletes everything stored for an index and
    ``copy_dataset(src_index_id, ns_key, name, dst_index_id)`` copies one dataset's files; they
    default to file operations under a local ``root`` and are required for an object-store root
    (LanceDB has no "delete this prefix" or "copy this dataset" call)."""

    def __init__(self, root: str, *, storage_options: dict[str, str] | None = None,
                 drop_index_objects: Callable[[str], None] | None = None,
                 copy_dataset: Callable[[str, str, str, str], int] | None = None,
                 index_in_child: bool = False) -> None:
        self._root = root.rstrip("/")
        self._object_store = "://" in self._root
        self._index_in_child = index_in_child
        self._index_pool: ProcessPoolExecutor | None = None  # started by the first index build
        self._index_pid: int | None = None  # its one worker process
        self._closed = False
        self._storage_options = storage_options
        if drop_index_objects is None or copy_dataset is None:
            if self._object_store:
                raise ValueError(f"an object-store slab root ({self._root}) needs drop_index_objects and copy_dataset")
        self._drop_index_objects = drop_index_objects or self._remove_index_dir
        self._copy_dataset = copy_dataset or self._copy_dataset_dir
        self._lock = threading.Lock()
        self._dbs: dict[tuple[str, str], lancedb.DBConnection] = {}

    def _db(self, index_id: str, ns_key: str) -> lancedb.DBConnection:
        key = (index_id, ns_key)
        with self._lock:
            db = self._dbs.get(key)
            if db is None:
                db = lancedb.connect(f"{self._root}/{index_id}/{ns_key}", storage_options=self._storage_options)
                self._dbs[key] = db
            return db

    def write_slab(self, index_id: str, ns_key: str, slab_id: str, table: pa.Table) -> None:
        """An empty table of ``table``'s schema, then one ``add``: ``create_table`` with data runs
        LanceDB's bad-vector checks (a NaN scan plus an int64 parent index per float, 614 MB for
        200k × 384-d; 1.9–2.6 s to write such a slab, against 1.2 s this way, 2026-12-04);
        ``add`` does not, and every vector here was validated finite when it was written. The
        data files are still written once (invariant 5), and no manifest names the slab until
        the builder commits it, so no reader sees the empty version."""
        db = self._db(index_id, ns_key)
        db.create_table(f"slab-{slab_id}", schema=table.schema, mode="create").add(_in_batches(table))
        self._sync(index_id, ns_key, f"slab-{slab_id}")

    def open_slab(self, index_id: str, ns_key: str, slab_id: str):
        return self._db(index_id, ns_key).open_table(f"slab-{slab_id}")

    def build_vector_index(self, index_id: str, ns_key: str, slab_id: str, metric: str, rows: int) -> None:
        if self._index_in_child:
            self._build_in_child(index_id, ns_key, slab_id, metric, rows)
        else:
            _create_vector_index(self.open_slab(index_id, ns_key, slab_id), metric, rows)
        self._sync(index_id, ns_key, f"slab-{slab_id}")

    def _build_in_child(self, index_id: str, ns_key: str, slab_id: str, metric: str, rows: int) -> None:
        args = (f"{self._root}/{index_id}/{ns_key}", self._storage_options, f"slab-{slab_id}", metric, rows)
        with self._lock:
            if self._closed:
                raise RuntimeError("the slab store is closed: no index is built")
            started = self._index_pool is None
            if started:
                self._index_pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            pool = self._index_pool
        try:
            if started:  # its one worker's pid, so that close can stop a build (spawned outside the lock)
                pid = pool.submit(os.getpid).result()
                with self._lock:
                    if self._index_pool is pool:
                        self._index_pid = pid
            pool.submit(_build_in_child, *args).result()
        except BrokenProcessPool:  # the child died (killed, out of memory): the next build starts another
            with self._lock:
                if self._index_pool is pool:
                    self._index_pool = self._index_pid = None
            raise

    def close(self) -> None:
        """Stop the index-building child, if one was started, by killing it: a build still
        running ends there (its caller gets ``BrokenProcessPool``; the slab it indexed was not
        committed yet), so a stopping server does not wait the minutes a 1M-row merge's index takes."""
        with self._lock:
            self._closed = True
            pool, self._index_pool = self._index_pool, None
            pid, self._index_pid = self._index_pid, None
        if pool is not None:
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # it ended meanwhile
                    pass
            pool.shutdown(wait=True, cancel_futures=True)

    def write_tombstones(self, index_id: str, ns_key: str, name: str, ids: list[str]) -> None:
        data = pa.table({"id": pa.array(ids, pa.string())})
        self._db(index_id, ns_key).create_table(f"tomb-{name}", data, mode="create")
        self._sync(index_id, ns_key, f"tomb-{name}")

    def read_tombstones(self, index_id: str, ns_key: str, name: str) -> list[str]:
        table = self._db(index_id, ns_key).open_table(f"tomb-{name}")
        return table.to_arrow().column("id").to_pylist()

    def list_objects(self, index_id: str, ns_key: str) -> list[str]:
        return list(self._db(index_id, ns_key).list_tables().tables)

    def delete_object(self, index_id: str, ns_key: str, name: str) -> None:
        self._db(index_id, ns_key).drop_table(name)

    def copy_object(self, src_index_id: str, ns_key: str, name: str, dst_index_id: str) -> int:
        return self._copy_dataset(src_index_id, ns_key, name, dst_index_id)

    def drop_index(self, index_id: str) -> None:
        with self._lock:
            for key in [k for k in self._dbs if k[0] == index_id]:
                del self._dbs[key]
        self._drop_index_objects(index_id)

    def _sync(self, index_id: str, ns_key: str, name: str) -> None:
        """On a local root, put the object's files and directory entries on disk before the
        caller commits a manifest naming it. The flush that commits a slab truncates the log
        entries it holds, so without this a power loss could take from disk records that only
        the slab still had (invariant 1: nothing acknowledged is lost). Object stores hold an
        object once its PUT returns."""
        if not self._object_store:
            _fsync_tree(Path(self._root) / index_id / ns_key / f"{name}.lance", Path(self._root))

    def _remove_index_dir(self, index_id: str) -> None:
        shutil.rmtree(Path(self._root) / index_id, ignore_errors=True)

    def _copy_dataset_dir(self, src_index_id: str, ns_key: str, name: str, dst_index_id: str) -> int:
        """A Lance dataset refers to its files by relative paths, so a copied directory is the same dataset."""
        src = Path(self._root) / src_index_id / ns_key / f"{name}.lance"
        if not src.is_dir():
            raise FileNotFoundError(f"no stored object {name} under {src_index_id}/{ns_key}")
        dst = Path(self._root) / dst_index_id / ns_key / f"{name}.lance"
        shutil.copytree(src, dst, dirs_exist_ok=True)
        _fsync_tree(dst, Path(self._root))
        return sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
