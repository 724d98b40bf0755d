"""Per-process state of namespaces: the newest overlay of each namespace, and snapshots.

An overlay is valid for the base of one flushed LSN and is extended with new log entries on
each read. A flush rebases it (the entries now in slabs dropped); a compaction, which changes
the slabs but not the records they hold, carries it over as it is. It is rebuilt from the log
only for a base older than its own (a reader that loaded a manifest before another's flush).
"""

from __future__ import annotations

import hashlib
import threading

from spruce.engine.base import SlabAccess
from spruce.engine.manifest import Manifest
from spruce.engine.overlay import Overlay
from spruce.engine.records import LogEntry, decode_op
from spruce.engine.snapshot import Snapshot
from spruce.storage.ports import ManifestStore, RequestLog

#: How many times a reader retries when the builder truncated the log under it.
_SNAPSHOT_RETRIES = 20


def namespace_key(namespace: str) -> str:
    """A storage-safe, fixed-length key for a namespace name (names are arbitrary ASCII)."""
    return hashlib.sha256(namespace.encode()).hexdigest()[:32]


class NamespaceCache:
    """Manifests are read per request; slabs come through ``slabs`` (which caches what it
    reads); the newest overlay of each namespace is kept and extended."""

    def __init__(self, log: RequestLog, manifests: ManifestStore, slabs: SlabAccess) -> None:
        self._log = log
        self._manifests = manifests
        self.slabs = slabs
        self._lock = threading.Lock()
        self._overlays: dict[tuple[str, str], Overlay] = {}
        self._decoded: dict[tuple[str, str], tuple[tuple[int, bytes], Manifest]] = {}

    def manifest(self, index_id: str, namespace: str) -> Manifest:
        """The stored manifest, read on every call (that is what makes each read see every
        flush); decoded only when it differs from the one decoded last, as it rarely does."""
        stored = self._manifests.load_manifest(index_id, namespace)
        if stored is None:
            return Manifest()
        key = (index_id, namespace)
        with self._lock:
            last = self._decoded.get(key)
        if last is not None and last[0] == stored:
            return last[1]
        manifest = Manifest.decode(*stored)
        with self._lock:
            self._decoded[key] = (stored, manifest)
        return manifest

    def snapshot(self, index_id: str, namespace: str, *, metric: str, dimension: int | None) -> Snapshot:
        """Pin the current manifest and resolve the whole tail past it (read-your-writes)."""
        for _ in range(_SNAPSHOT_RETRIES):
            manifest = self.manifest(index_id, namespace)
            base = self.slabs.open(index_id, namespace, manifest, metric=metric, dimension=dimension)
            with self._lock:
                overlay = self._overlays.get((index_id, namespace))
            if overlay is None or overlay.manifest_version > manifest.version or (
                    overlay.flushed_lsn > manifest.flushed_lsn):
                overlay = Overlay.empty(manifest.version, manifest.flushed_lsn)
            elif overlay.flushed_lsn < manifest.flushed_lsn:
                overlay = overlay.rebase(manifest.version, manifest.flushed_lsn)
            elif overlay.manifest_version != manifest.version:
                # Only a compaction or a garbage collection commits without flushing: the base
                # holds the same records, so the overlay resolved over it still holds too.
                overlay = overlay.over(manifest.version)
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

    def resolve_through(self, index_id: str, namespace: str, snap: Snapshot, lsn: int) -> Snapshot | None:
        """``snap`` with only its tail's entries up to ``lsn`` resolved over its base (a flush
        stops before an ``Ingest``); None when they were flushed and truncated meanwhile."""
        flushed = snap.manifest.flushed_lsn
        tail = self._log.read_tail(index_id, namespace, flushed)
        entries = [e for e in tail.entries if e.lsn <= lsn]
        if [e.lsn for e in entries] != list(range(flushed + 1, lsn + 1)):
            return None
        overlay = Overlay.empty(snap.manifest.version, flushed).extend(
            [LogEntry(e.lsn, decode_op(e.kind, e.payload)) for e in entries], snap.base)
        return Snapshot(snap.manifest, snap.base, overlay, metric=snap.metric, dimension=snap.dimension)

    def forget_index(self, index_id: str) -> None:
        self.slabs.forget_index(index_id)
        with self._lock:
            for key in [k for k in self._overlays if k[0] == index_id]:
                del self._overlays[key]
            for key in [k for k in self._decoded if k[0] == index_id]:
                del self._decoded[key]
