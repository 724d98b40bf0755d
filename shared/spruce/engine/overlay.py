"""The log tail resolved over a base of slabs: the one place that decides "newest wins".

Both the read path (records not yet flushed) and the builder (turning the tail into a new
slab plus tombstones) use ``Overlay.extend``, so a record cannot look different before and
after a flush. An overlay is immutable once built; reads that arrive with newer log
entries extend a copy. Every change it holds keeps the LSN that made it, so after a flush the
overlay is rebased (the changes the flush wrote into slabs dropped) rather than rebuilt from
the log: a flush that took long leaves a long tail, and re-decoding it stalled reads.

For the same reason the views derived from an overlay (its live records, ``engine.tail``, and
the base rows it hides, ``base.Hidden``) are derived from those of the overlay it came from,
for the ids that changed between the two, rather than from the whole tail.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from spruce.engine.base import Hidden
from spruce.engine.filters import Filter, parse_filter
from spruce.engine.records import (
    DeleteAll, DeleteByFilter, DeleteIds, Ingest, LogEntry, Record, Update, UpdateByFilter, Upsert, apply_update,
)
from spruce.engine.tail import TailRecords


class Base(Protocol):
    """The records a manifest's slabs hold (tombstones already applied); see ``base.SlabReader``."""

    def get(self, ids: Sequence[str]) -> dict[str, Record]: ...

    def ids_matching(self, flt: Filter) -> set[str]: ...

    def count_present(self, ids: Sequence[str]) -> int: ...

    @property
    def live_count(self) -> int: ...


@dataclass(slots=True)
class Overlay:
    manifest_version: int
    flushed_lsn: int
    max_lsn: int
    touched: dict[str, tuple[Record | None, int]] = field(default_factory=dict)  # id -> (version|deleted, lsn)
    cleared_lsn: int | None = None  # a deleteAll / namespace drop here shadows every base record
    base_excluded: dict[str, int] = field(default_factory=dict)  # base id deleted by filter -> lsn (never in touched)
    # LSNs of the ``Ingest`` entries applied here: their records are in slabs no manifest lists
    # yet, so they are not resolved here; they become visible with the flush that commits them,
    # and every entry after one is resolved again over that flush's base (``rebase``).
    ingests: tuple[int, ...] = ()
    _cache: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The overlay whose derived views this one's are derived from, and the ids whose state may
    # differ between the two. Never a chain: an overlay that hands its views on forgets its own.
    _parent: Overlay | None = None
    _changed: frozenset[str] = frozenset()

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
        ingests = list(self.ingests)
        changed: set[str] = set()
        cleared_here = False
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
                changed.update(rec.id for rec in op.records)
            elif isinstance(op, Update):
                rec = current(op.id)
                if rec is not None:
                    touched[op.id] = (apply_update(rec, op), lsn)
                    excluded.pop(op.id, None)
                    changed.add(op.id)
            elif isinstance(op, UpdateByFilter):
                flt = parse_filter(op.filter)
                change = Update("", set_metadata=op.set_metadata)
                for rid, (rec, _) in list(touched.items()):
                    if rec is not None and flt.matches(rec.metadata):
                        touched[rid] = (apply_update(rec, change), lsn)
                        changed.add(rid)
                if cleared is None:
                    hits = sorted(rid for rid in base.ids_matching(flt) if rid not in touched and rid not in excluded)
                    for rid, rec in base.get(hits).items():
                        touched[rid] = (apply_update(rec, change), lsn)
                        changed.add(rid)
            elif isinstance(op, DeleteIds):
                for rid in op.ids:
                    touched[rid] = (None, lsn)
                    excluded.pop(rid, None)
                changed.update(op.ids)
            elif isinstance(op, DeleteByFilter):
                flt = parse_filter(op.filter)  # never empty: the write path rejects empty filters
                for rid, (rec, _) in list(touched.items()):
                    if rec is not None and flt.matches(rec.metadata):
                        touched[rid] = (None, lsn)
                        changed.add(rid)
                if cleared is None:
                    hits = [rid for rid in base.ids_matching(flt) if rid not in touched and rid not in excluded]
                    excluded.update(dict.fromkeys(hits, lsn))
                    changed.update(hits)
            elif isinstance(op, DeleteAll):
                touched = {}
                excluded = {}
                cleared = lsn
                cleared_here = True
            elif isinstance(op, Ingest):
                ingests.append(lsn)
        out = Overlay(self.manifest_version, self.flushed_lsn, entries[-1].lsn, touched, cleared, excluded,
                      tuple(ingests))
        if not cleared_here:  # a delete-all changes everything: the new overlay's views start over
            self._hand_on(out, changed)
        return out

    def _hand_on(self, child: Overlay, changed: set[str]) -> None:
        """Let ``child`` derive its views from this overlay's (or, if this one has none yet,
        from those of the overlay this one would derive its own from)."""
        with self._lock:
            has_views = "hidden" in self._cache or any(isinstance(k, tuple) and k[0] == "live" for k in self._cache)
            if has_views:
                child._parent, child._changed = self, frozenset(changed)
                self._parent, self._changed = None, frozenset()
            elif self._parent is not None:
                child._parent, child._changed = self._parent, self._changed | changed

    def over(self, manifest_version: int) -> Overlay:
        """This overlay for a later manifest of the same flushed LSN (the same records in other
        slabs); what it memoised is derived from records, so it is shared."""
        return replace(self, manifest_version=manifest_version)

    def rebase(self, manifest_version: int, flushed_lsn: int) -> Overlay:
        """This overlay over the base of a later flush (``flushed_lsn`` ≥ this one's): the
        changes up to ``flushed_lsn`` are in that base's slabs now, so only later ones are kept.
        Sound because the flush resolved the same entries with ``extend``; an id excluded by a
        later delete-by-filter was untouched since this base, so the new base holds the same
        row for it. Nothing memoised is kept (masks and counts depend on the base), but the
        views are derived from this overlay's: only the ids the flush wrote changed.

        Not so past an ``Ingest`` the flush committed: this overlay resolved the entries after it
        without its records, so they are resolved again from the log (an empty overlay)."""
        if any(lsn <= flushed_lsn for lsn in self.ingests):
            return Overlay.empty(manifest_version, flushed_lsn)
        touched = {rid: hit for rid, hit in self.touched.items() if hit[1] > flushed_lsn}
        excluded = {rid: lsn for rid, lsn in self.base_excluded.items() if lsn > flushed_lsn}
        out = Overlay(manifest_version, flushed_lsn, max(self.max_lsn, flushed_lsn), touched,
                      self.cleared_lsn if self.cleared_lsn is not None and self.cleared_lsn > flushed_lsn else None,
                      excluded, self.ingests)
        if self.cleared_lsn is None:
            self._hand_on(out, {rid for rid in self.touched if rid not in touched} |
                          {rid for rid in self.base_excluded if rid not in excluded})
        return out

    # ------------------------------------------------------------------ derived views

    def shadowed_ids(self) -> set[str]:
        """Base ids this overlay hides (ignoring ``base_cleared``, which hides all)."""
        return self.touched.keys() | self.base_excluded

    def hidden(self) -> Hidden:
        """The base ids this overlay hides; masks derived from them are memoised on it."""
        def compute() -> Hidden:
            parent, changed = self._parent, self._changed
            earlier = None if parent is None else parent._cache.get("hidden")
            if earlier is None:
                return Hidden(frozenset(self.shadowed_ids()))
            earlier.earlier = None  # never a chain of them
            return Hidden(frozenset(self.shadowed_ids()), earlier, changed)
        return self.cached("hidden", compute)

    def live(self, dimension: int | None) -> TailRecords:
        """The live records (``engine.tail``); with ``dimension``, their vectors too."""
        def compute() -> TailRecords:
            parent, changed = self._parent, self._changed
            earlier = None if parent is None else parent._cache.get(("live", dimension))
            if earlier is None:
                return TailRecords.build(self.touched, dimension)
            return earlier.derive(self.touched, changed, dimension)
        return self.cached(("live", dimension), compute)

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
