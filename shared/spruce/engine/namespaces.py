"""Per-process state of namespaces: slab caches and the newest overlay of each namespace.

Slabs are immutable, so their in-memory views are cached by slab id and shared; an
overlay is valid for one manifest version and is extended with new log entries on each
read, never rebuilt from scratch unless the manifest moved.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from spruce.engine.manifest import Manifest, SlabRef
from spruce.engine.overlay import Overlay
from spruce.engine.records import LogEntry, decode_op
from spruce.engine.slabs import SlabData, SlabView
from spruce.engine.snapshot import SlabSet, Snapshot
from spruce.storage.ports import ManifestStore, RequestLog, SlabStore

#: How many times a reader retries when the builder truncated the log under it.
_SNAPSHOT_RETRIES = 20


def namespace_key(namespace: str) -> str:
    """A storage-safe, fixed-length key for a namespace name (names are arbitrary ASCII)."""
    return hashlib.sha256(namespace.encode()).hexdigest()[:32]


class NamespaceCache:
    def __init__(self, log: RequestLog, manifests: ManifestStore, slabs: SlabStore) -> None:
        self._log = log
        self._manifests = manifests
        self._slabs = slabs
        self._lock = threading.Lock()
        self._slab_data: dict[tuple[str, str], SlabData] = {}
        self._views: dict[tuple[str, str, str | None], SlabView] = {}
        self._overlays: dict[tuple[str, str], Overlay] = {}

    def manifest(self, index_id: str, namespace: str) -> Manifest:
        stored = self._manifests.load_manifest(index_id, namespace)
        return Manifest() if stored is None else Manifest.decode(*stored)

    def slab_set(self, index_id: str, namespace: str, manifest: Manifest, metric: str) -> SlabSet:
        return SlabSet([self._view(index_id, namespace, ref, metric) for ref in manifest.slabs])

    def _view(self, index_id: str, namespace: str, ref: SlabRef, metric: str) -> SlabView:
        key = (index_id, ref.slab_id, ref.tombstones)
        with self._lock:
            view = self._views.get(key)
        if view is not None:
            return view
        data = self._data(index_id, namespace, ref, metric)
        alive = np.ones(data.rows, dtype=bool)
        if ref.tombstones:
            dead = self._slabs.read_tombstones(index_id, namespace_key(namespace), ref.tombstones)
            alive[[data.id_to_row[rid] for rid in dead]] = False
        view = SlabView(data, alive, int(alive.sum()))
        with self._lock:
            self._views[key] = view
        return view

    def _data(self, index_id: str, namespace: str, ref: SlabRef, metric: str) -> SlabData:
        key = (index_id, ref.slab_id)
        with self._lock:
            data = self._slab_data.get(key)
        if data is None:
            table = self._slabs.open_slab(index_id, namespace_key(namespace), ref.slab_id)
            data = SlabData(ref.slab_id, table, indexed=ref.indexed, metric=metric)
            with self._lock:
                self._slab_data[key] = data
        return data

    def snapshot(self, index_id: str, namespace: str, *, metric: str, dimension: int | None) -> Snapshot:
        """Pin the current manifest and resolve the whole tail past it (read-your-writes)."""
        for _ in range(_SNAPSHOT_RETRIES):
            manifest = self.manifest(index_id, namespace)
            base = self.slab_set(index_id, namespace, manifest, metric)
            with self._lock:
                overlay = self._overlays.get((index_id, namespace))
            if overlay is None or overlay.manifest_version != manifest.version:
                overlay = Overlay.empty(manifest.version, manifest.flushed_lsn)
            tail = self._log.read_tail(index_id, namespace, overlay.max_lsn)
            lsns = [e.lsn for e in tail.entries]
            if tail.last_lsn < overlay.max_lsn or lsns != list(range(overlay.max_lsn + 1, tail.last_lsn + 1)):
                continue  # the builder flushed and truncated between our two reads: re-pin
            entries = [LogEntry(e.lsn, decode_op(e.kind, e.payload)) for e in tail.entries]
            overlay = overlay.extend(entries, base)
            with self._lock:
                current = self._overlays.get((index_id, namespace))
                if current is None or (current.manifest_version, current.max_lsn) <= (
                        overlay.manifest_version, overlay.max_lsn):
                    self._overlays[(index_id, namespace)] = overlay
            return Snapshot(manifest, base, overlay, metric=metric, dimension=dimension)
        raise RuntimeError(f"namespace {namespace!r} kept changing under the reader; giving up")

    def forget_slabs(self, index_id: str, slab_ids: set[str]) -> None:
        """Drop cached views of slabs that garbage collection removed."""
        with self._lock:
            for key in [k for k in self._slab_data if k[0] == index_id and k[1] in slab_ids]:
                del self._slab_data[key]
            for key in [k for k in self._views if k[0] == index_id and k[1] in slab_ids]:
                del self._views[key]

    def forget_index(self, index_id: str) -> None:
        with self._lock:
            for cache in (self._slab_data, self._views, self._overlays):
                for key in [k for k in cache if k[0] == index_id]:
                    del cache[key]
