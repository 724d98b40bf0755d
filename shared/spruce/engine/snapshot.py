"""A consistent read view of one namespace: a pinned manifest's slabs plus the log tail.

Every read (query, fetch, list, count) goes through a Snapshot, so each sees all writes
acknowledged before it started (the tail is read after the manifest, in one consistent
step) and never a version shadowed by a newer one. The snapshot resolves the tail itself;
the slabs answer through a ``SlabReader`` (in this process, or on query executors).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from spruce.engine.base import Hidden, Hit, SlabReader
from spruce.engine.filters import Filter
from spruce.engine.manifest import Manifest
from spruce.engine.model import Match, QuerySpec
from spruce.engine.overlay import Overlay
from spruce.engine.records import Record
from spruce.engine.scoring import (DEFAULT_SCAN_FACTOR, ResolvedQuery, exact_scores, higher_is_better, norms_from_squares,
                                   query_norm, top)
from spruce.engine.sparse import SparsePostings

@dataclass(slots=True)
class _Candidate:
    score: float
    record_id: str
    hit: Hit | None  # None: from the tail
    row: int  # position in the tail's live records (tail candidates)


class Snapshot:
    def __init__(self, manifest: Manifest, base: SlabReader, overlay: Overlay, *, metric: str,
                 dimension: int | None) -> None:
        self.manifest = manifest
        self.base = base
        self.overlay = overlay
        self.metric = metric
        self.dimension = dimension

    @property
    def max_lsn(self) -> int:
        return self.overlay.max_lsn

    @property
    def record_count(self) -> int:
        return self.overlay.record_count(self.base)

    @property
    def _base_visible(self) -> bool:
        """False when a delete-all in the tail hides every slab row (then the base is not asked)."""
        return not self.overlay.base_cleared and bool(self.manifest.slabs)

    def _hidden(self) -> Hidden:
        return self.overlay.hidden()

    # ------------------------------------------------------------------ fetch

    def fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        from_base = []
        for rid in dict.fromkeys(ids):
            hit = self.overlay.touched.get(rid)
            if hit is not None:
                if hit[0] is not None:
                    out[rid] = hit[0]
            elif not self.overlay.base_cleared and rid not in self.overlay.base_excluded:
                from_base.append(rid)
        if from_base and self.manifest.slabs:
            out.update(self.base.get(from_base))
        return {rid: out[rid] for rid in dict.fromkeys(ids) if rid in out}

    # ------------------------------------------------------------------ list

    def list_ids(self, prefix: str | None, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to ``limit`` visible ids in bitwise order, > ``after``, starting with ``prefix``;
        and whether more exist."""
        prefix = prefix or ""
        want = limit + 1
        from_base = self.base.list_ids(prefix, after, want, self._hidden()) if self._base_visible else []
        tail = self.overlay.live(self.dimension).sorted_ids
        merged = list(heapq.merge(from_base, scan_sorted(tail, None, None, prefix, after, want)))[:want]
        return merged[:limit], len(merged) > limit

    # ------------------------------------------------------------------ filter scans

    def matching_ids(self, flt: Filter) -> list[str]:
        """Every visible id whose metadata matches ``flt``, in bitwise order (fetch by metadata,
        update by filter). Slabs answer with their SQL prefilter, the tail with the evaluator."""
        found = self.base.matching_ids(flt, self._hidden()) if self._base_visible else []
        tail = self.overlay.live(self.dimension)
        found += [rid for rid, row in tail.row_of.items() if flt.matches(tail.records[row].metadata)]
        found.sort()
        return found

    def metadata_keys(self) -> list[str]:
        """The metadata keys held by the namespace's slabs and tail, sorted (``indexed_fields``)."""
        keys = self.base.metadata_keys(self._hidden()) if self._base_visible else set()
        tail = self.overlay.live(self.dimension)
        for row in tail.row_of.values():
            keys.update(tail.records[row].metadata or ())
        return sorted(keys)

    # ------------------------------------------------------------------ query

    def query(self, spec: QuerySpec) -> list[Match]:
        q = self._resolve(spec)
        if q is None:
            return []
        k = spec.top_k
        candidates: list[_Candidate] = []
        if self._base_visible:
            candidates += [_Candidate(h.score, h.id, h, -1)
                           for h in self.base.search(q, k, spec.filter, self._hidden())]
        candidates += self._search_tail(q, k, spec.filter)
        reverse = higher_is_better(self.metric)
        candidates.sort(key=lambda c: (-c.score if reverse else c.score, c.record_id))
        return self._materialise(candidates[:k], spec)

    def _resolve(self, spec: QuerySpec) -> ResolvedQuery | None:
        """The query vectors; a query by id uses the record's stored vector — the dense one on
        dense indexes, the sparse one on sparse indexes (DP-Q-3). None: no such record."""
        dense, sparse = spec.vector, spec.sparse
        if spec.id is not None:
            found = self.fetch([spec.id]).get(spec.id)
            if found is None:
                return None
            dense, sparse = (None, found.sparse) if self.dimension is None else (found.values, None)
            if dense is None and sparse is None:
                return None
        if dense is None:
            return ResolvedQuery(None, 0.0, sparse)
        dense = np.asarray(dense, dtype=np.float32)
        return ResolvedQuery(dense, query_norm(self.metric, dense), sparse, spec.scan_factor or DEFAULT_SCAN_FACTOR,
                             spec.max_candidates)

    def _search_tail(self, q: ResolvedQuery, k: int, flt: Filter | None) -> list[_Candidate]:
        tail = self.overlay.live(self.dimension)
        if not tail.row_of:
            return []
        postings = None
        if q.sparse is not None:  # over every row, dead ones too (they are never chosen)
            postings = self.overlay.cached("postings", lambda: SparsePostings.from_vectors(
                [rec.sparse for rec in tail.records]))
        rows = None  # with a filter: the live rows it keeps; without: every row, dead ones masked by keep
        keep = None if tail.all_alive or flt is not None else tail.alive
        if flt is not None:
            rows = np.array([row for row in tail.live_rows() if flt.matches(tail.records[row].metadata)],
                            dtype=np.int64)
            if not len(rows):
                return []
        matrix = norms = None
        if q.dense is not None:
            matrix = tail.matrix if rows is None else tail.matrix[rows]
            norms = norms_from_squares(self.metric, tail.sq if rows is None else tail.sq[rows])
        scores = exact_scores(self.metric, q, matrix, norms, postings, rows)
        chosen = top(scores, keep, k, self.metric, drop_zero=q.dense is None)
        positions = chosen if rows is None else rows[chosen]
        return [_Candidate(float(scores[i]), tail.ids[p], None, int(p)) for i, p in zip(chosen, positions)]

    def _materialise(self, chosen: list[_Candidate], spec: QuerySpec) -> list[Match]:
        want_body = spec.include_values or spec.include_metadata
        bodies: dict[int, Record] = {}
        if want_body:
            from_base = [c.hit for c in chosen if c.hit is not None]
            if from_base:
                records = self.base.read_hits(from_base, values=spec.include_values, metadata=spec.include_metadata)
                bodies = {id(h): rec for h, rec in zip(from_base, records)}
        tail = self.overlay.live(self.dimension)
        out = []
        for c in chosen:
            m = Match(c.record_id, c.score)
            if want_body:
                rec = tail.records[c.row] if c.hit is None else bodies[id(c.hit)]
                if spec.include_values:
                    m.values, m.sparse = rec.values, rec.sparse
                if spec.include_metadata:
                    m.metadata = rec.metadata
            out.append(m)
        return out


def scan_sorted(ids: list[str], rows: np.ndarray | None, mask: np.ndarray | None, prefix: str,
                after: str | None, want: int) -> Iterator[str]:
    """Yield up to ``want`` visible ids from a sorted id list, > after, with prefix
    (``rows``/``mask``: which positions are visible, for slabs; None for the tail)."""
    start = bisect_right(ids, after) if after is not None and after >= prefix else bisect_left(ids, prefix)
    produced = 0
    for i in range(start, len(ids)):
        rid = ids[i]
        if not rid.startswith(prefix):
            break
        if mask is not None and not mask[rows[i]]:
            continue
        yield rid
        produced += 1
        if produced >= want:
            break
