"""The log tail resolved over a base of slabs: the one place that decides "newest wins".

Both the read path (records not yet flushed) and the builder (turning the tail into a new
slab plus tombstones) use ``Overlay.extend``, so a record cannot look different before and
after a flush. An overlay is immutable once built; reads that arrive with newer log
entries extend a copy. Every change it holds keeps the LSN that made it, so after a flush the
overlay is rebased (the changes the flush wrote into slabs dropped) rather than rebuilt from
the log: a flush that took long leaves a long tail, and re-decoding it stalled reads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from spruce.engine.filters import Filter, parse_filter
from spruce.engine.records import (
    DeleteAll, DeleteByFilter, DeleteIds, LogEntry, Record, Update, UpdateByFilter, Upsert, apply_update,
)


class Base(Protocol):
    """The records a manifest's slabs hold (tombstones already applied); see ``base.SlabReader``."""

    def get(self, ids: Sequence[str]) -> dict[str, Record]: ...

    def ids_matching(self, flt: Filter) -> set[str]: ...

    def count_present(self, ids: Sequence[str]) -> int: ...

    @property
    def live_count(self) -> int: ...


@dataclass(slots=True)
class TailRecords:
    """The live records of an overlay, laid out for scoring."""

    ids: list[str]
    records: list[Record]
    lsns: list[int]
    matrix: np.ndarray | None  # float32 (n, dim), dense indexes only


@dataclass(slots=True)
class Overlay:
    manifest_version: int
    flushed_lsn: int
    max_lsn: int
    touched: dict[str, tuple[Record | None, int]] = field(default_factory=dict)  # id -> (version|deleted, lsn)
    cleared_lsn: int | None = None  # a deleteAll / namespace drop here shadows every base record
    base_excluded: dict[str, int] = field(default_factory=dict)  # base id deleted by filter -> lsn (never in touched)
    _cache: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def empty(manifest_version: int, flushed_lsn: int) -> Overlay:
        return Overlay(manifest_version, flushed_lsn, flushed_lsn)

    @property
    def entry_count(self) -> int:
        return self.max_lsn - self.flushed_lsn

    @property
    def base_cleared(self) -> bool:
        return self.cleared_lsn is not None

    def extend(self, entries: Sequence[LogEntry], base: Base) -> Overlay:
        """A new overlay with ``entries`` (consecutive LSNs after ``max_lsn``) applied."""
        if not entries:
            return self
        touched = dict(self.touched)
        cleared = self.cleared_lsn
        excluded = dict(self.base_excluded)
        update_ids = [e.op.id for e in entries if isinstance(e.op, Update)]
        base_records = base.get(update_ids) if update_ids and not cleared else {}

        def current(record_id: str) -> Record | None:
            if record_id in touched:
                return touched[record_id][0]
            if cleared is not None or record_id in excluded:
                return None
            return base_records.get(record_id)

        for entry in entries:
            op, lsn = entry.op, entry.lsn
            if isinstance(op, Upsert):
                for rec in op.records:
                    touched[rec.id] = (rec, lsn)
                    excluded.pop(rec.id, None)
            elif isinstance(op, Update):
                rec = current(op.id)
                if rec is not None:
                    touched[op.id] = (apply_update(rec, op), lsn)
                    excluded.pop(op.id, None)
            elif isinstance(op, UpdateByFilter):
                flt = parse_filter(op.filter)
                change = Update("", set_metadata=op.set_metadata)
                for rid, (rec, _) in list(touched.items()):
                    if rec is not None and flt.matches(rec.metadata):
                        touched[rid] = (apply_update(rec, change), lsn)
                if cleared is None:
                    hits = sorted(rid for rid in base.ids_matching(flt) if rid not in touched and rid not in excluded)
                    for rid, rec in base.get(hits).items():
                        touched[rid] = (apply_update(rec, change), lsn)
            elif isinstance(op, DeleteIds):
                for rid in op.ids:
                    touched[rid] = (None, lsn)
                    excluded.pop(rid, None)
            elif isinstance(op, DeleteByFilter):
                flt = parse_filter(op.filter)  # never empty: the write path rejects empty filters
                for rid, (rec, _) in list(touched.items()):
                    if rec is not None and flt.matches(rec.metadata):
                        touched[rid] = (None, lsn)
                if cleared is None:
                    excluded.update(dict.fromkeys(
                        (rid for rid in base.ids_matching(flt) if rid not in touched and rid not in excluded), lsn))
            elif isinstance(op, DeleteAll):
                touched = {}
                excluded = {}
                cleared = lsn
        return Overlay(self.manifest_version, self.flushed_lsn, entries[-1].lsn, touched, cleared, excluded)

    def over(self, manifest_version: int) -> Overlay:
        """This overlay for a later manifest of the same flushed LSN (the same records in other
        slabs); what it memoised is derived from records, so it is shared."""
        return replace(self, manifest_version=manifest_version)

    def rebase(self, manifest_version: int, flushed_lsn: int) -> Overlay:
        """This overlay over the base of a later flush (``flushed_lsn`` ≥ this one's): the
        changes up to ``flushed_lsn`` are in that base's slabs now, so only later ones are kept.
        Sound because the flush resolved the same entries with ``extend``; an id excluded by a
        later delete-by-filter was untouched since this base, so the new base holds the same
        row for it. Nothing memoised is kept: masks and counts depend on the base."""
        return Overlay(manifest_version, flushed_lsn, max(self.max_lsn, flushed_lsn),
                       {rid: hit for rid, hit in self.touched.items() if hit[1] > flushed_lsn},
                       self.cleared_lsn if self.cleared_lsn is not None and self.cleared_lsn > flushed_lsn else None,
                       {rid: lsn for rid, lsn in self.base_excluded.items() if lsn > flushed_lsn})

    # ------------------------------------------------------------------ derived views

    def shadowed_ids(self) -> set[str]:
        """Base ids this overlay hides (ignoring ``base_cleared``, which hides all)."""
        return self.touched.keys() | self.base_excluded

    def live(self, dimension: int | None) -> TailRecords:
        with self._lock:
            hit = self._cache.get(("live", dimension))
            if hit is None:
                items = sorted((rid, rec, lsn) for rid, (rec, lsn) in self.touched.items() if rec is not None)
                records = [rec for _, rec, _ in items]
                matrix = None
                if dimension is not None:
                    matrix = np.empty((len(records), dimension), dtype=np.float32)
                    for i, rec in enumerate(records):
                        matrix[i] = rec.values
                hit = TailRecords([rid for rid, _, _ in items], records, [lsn for _, _, lsn in items], matrix)
                self._cache[("live", dimension)] = hit
            return hit

    def record_count(self, base: Base) -> int:
        with self._lock:
            hit = self._cache.get("count")
        if hit is not None:
            return hit
        live_tail = sum(1 for rec, _ in self.touched.values() if rec is not None)
        if self.base_cleared:
            count = live_tail
        else:
            hidden = len(self.base_excluded) + (base.count_present(list(self.touched)) if self.touched else 0)
            count = base.live_count - hidden + live_tail
        with self._lock:
            self._cache["count"] = count
        return count

    def cached(self, key, compute):
        """Memoise something derived from this (immutable) overlay, e.g. per-slab masks."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
        return value
