"""Read-only slab access for query executors: S3 slabs copied whole onto a shared EFS mount.

Every executor container mounts the same directory, laid out like the bucket:
``<root>/<index id>/<namespace key>/<name>.lance``. Slabs and tombstone sets never change
once written (invariant 5), so a cached copy is valid for as long as it exists; what the
cache has to get right is sharing:

- A miss downloads the dataset into ``<root>/.incoming/<random>`` (the same filesystem)
  and installs it with one ``rename``: no reader ever sees a half copy. Two containers
  copying the same dataset both rename; the loser's rename fails on the non-empty target
  and its copy is discarded.
- Each use sets the dataset directory's mtime: the LRU clock every container shares.
- Eviction renames a dataset into ``<root>/.trash`` before deleting it, so it disappears
  at once. A container whose open or read fails because the copy vanished copies it again,
  once.
- The size bound is kept with an in-process estimate (exact after a scan); the cache is
  only walked at start-up and when a copy would overflow the estimate, and eviction then
  goes down to ``_LOW_WATER`` of the bound so that the next misses need no walk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import lancedb

from spruce.storage.s3_objects import S3Prefixes, dataset_prefix

T = TypeVar("T")

_INCOMING = ".incoming"
_TRASH = ".trash"
#: An eviction frees space down to this share of ``max_bytes``.
_LOW_WATER = 0.9
#: A scratch copy this old belongs to a container that died mid-copy.
_STALE_INCOMING_S = 3600.0
#: Copies of different datasets run in parallel; of one dataset, once per process.
_COPY_LOCK_STRIPES = 64
_DOWNLOAD_CHUNK = 1 << 20


@dataclass(slots=True)
class _Cached:
    path: Path
    size: int
    last_used_ns: int


class EfsSlabCache:
    """The read side of a ``SlabStore`` (``open_slab``, ``read_tombstones``) served from
    ``root``, filled from ``s3://<bucket>/slabs`` on a miss and bounded by ``max_bytes``."""

    def __init__(self, root: str | os.PathLike[str], *, s3_client, bucket: str, max_bytes: int,
                 download_workers: int = 8) -> None:
        self._root = Path(root)
        self._s3 = s3_client
        self._bucket = bucket
        self._objects = S3Prefixes(s3_client, bucket)
        self.max_bytes = max_bytes
        self._incoming = self._root / _INCOMING
        self._trash = self._root / _TRASH
        self._incoming.mkdir(parents=True, exist_ok=True)
        self._trash.mkdir(exist_ok=True)
        self._pool = ThreadPoolExecutor(download_workers, thread_name_prefix="slab-copy")
        self._copy_locks = [threading.Lock() for _ in range(_COPY_LOCK_STRIPES)]
        self._evict_lock = threading.Lock()
        self._lock = threading.Lock()  # guards _dbs and _used
        self._dbs: dict[Path, lancedb.DBConnection] = {}
        self._clean_scratch()
        self._used = sum(c.size for c in self._scan())

    @property
    def used_bytes(self) -> int:
        """This process's estimate of the whole cache's size."""
        with self._lock:
            return self._used

    def open_slab(self, index_id: str, ns_key: str, slab_id: str):  # -> lancedb.table.Table
        return self._read(index_id, ns_key, f"slab-{slab_id}", lambda table: table)

    def read_tombstones(self, index_id: str, ns_key: str, name: str) -> list[str]:
        return self._read(index_id, ns_key, f"tomb-{name}", lambda table: table.to_arrow().column("id").to_pylist())

    def close(self) -> None:
        self._pool.shutdown()

    def _read(self, index_id: str, ns_key: str, name: str, use: Callable[[object], T]) -> T:
        path = self._root / index_id / ns_key / f"{name}.lance"
        self._ensure(index_id, ns_key, name, path)
        try:
            return self._use(path, name, use)
        except Exception:
            if path.exists():
                raise
        # Another container evicted the copy between our check and our read: copy it again.
        self._ensure(index_id, ns_key, name, path)
        return self._use(path, name, use)

    def _use(self, path: Path, name: str, use: Callable[[object], T]) -> T:
        now = time.time_ns()  # not the kernel's coarse file clock: uses ms apart must stay ordered
        os.utime(path, ns=(now, now))  # the shared LRU clock
        return use(self._db(path.parent).open_table(name))

    def _db(self, ns_dir: Path) -> lancedb.DBConnection:
        with self._lock:
            db = self._dbs.get(ns_dir)
            if db is None:
                db = self._dbs[ns_dir] = lancedb.connect(str(ns_dir))
            return db

    def _ensure(self, index_id: str, ns_key: str, name: str, path: Path) -> None:
        if path.is_dir():
            return
        with self._copy_locks[zlib.crc32(str(path).encode()) % _COPY_LOCK_STRIPES]:
            if not path.is_dir():
                self._copy(dataset_prefix(index_id, ns_key, name), path)

    def _copy(self, prefix: str, path: Path) -> None:
        objects = list(self._objects.objects(prefix))
        if not objects:
            raise FileNotFoundError(f"no dataset at s3://{self._bucket}/{prefix}")
        size = sum(s for _, s in objects)
        self._make_room(size, keep=path)
        scratch = self._incoming / uuid.uuid4().hex
        try:
            downloads = [self._pool.submit(self._download, key, scratch / key[len(prefix):]) for key, _ in objects]
            wait(downloads)  # all settled before the scratch directory can be removed
            for done in downloads:
                done.result()
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(scratch, path)
            except OSError:
                if not path.is_dir():
                    raise
                # Another container installed the same dataset first; ours is redundant.
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with self._lock:
            self._used += size

    def _download(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._s3.get_object(Bucket=self._bucket, Key=key)["Body"] as body, open(target, "wb") as out:
            shutil.copyfileobj(body, out, _DOWNLOAD_CHUNK)

    def _make_room(self, incoming: int, *, keep: Path) -> None:
        """Evict least recently used datasets (never ``keep``) so ``incoming`` bytes fit.
        Rescans first: other containers fill and evict the same directory."""
        with self._lock:
            if self._used + incoming <= self.max_bytes:
                return
        with self._evict_lock:
            cached = self._scan()
            used = sum(c.size for c in cached)
            target = self.max_bytes * _LOW_WATER - incoming
            for victim in sorted(cached, key=lambda c: c.last_used_ns):
                if used <= target:
                    break
                if victim.path != keep:
                    self._evict(victim.path)
                    used -= victim.size
            with self._lock:
                self._used = used

    def _evict(self, path: Path) -> None:
        grave = self._trash / uuid.uuid4().hex
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return  # another container evicted it first
        shutil.rmtree(grave, ignore_errors=True)

    def _scan(self) -> list[_Cached]:
        cached = []
        for index_dir in _subdirs(self._root):
            if index_dir.name.startswith("."):
                continue
            for ns_dir in _subdirs(index_dir):
                for dataset in _subdirs(ns_dir):
                    with contextlib.suppress(FileNotFoundError):  # evicted while we looked
                        cached.append(_Cached(dataset, _tree_size(dataset), dataset.stat().st_mtime_ns))
        return cached

    def _clean_scratch(self) -> None:
        """Remove what dead containers left behind: trash, and copies abandoned mid-way."""
        for grave in _subdirs(self._trash):
            shutil.rmtree(grave, ignore_errors=True)
        cutoff = time.time() - _STALE_INCOMING_S
        for scratch in _subdirs(self._incoming):
            with contextlib.suppress(FileNotFoundError):
                if scratch.stat().st_mtime < cutoff:
                    shutil.rmtree(scratch, ignore_errors=True)


def _subdirs(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(dirpath, name)).st_size
    return total
