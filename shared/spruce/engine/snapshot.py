"""A consistent read view of one namespace: a pinned manifest's slabs plus the log tail.

Every read (query, fetch, list, count) goes through a Snapshot, so each sees all writes
acknowledged before it started (the tail is read after the manifest, in one consistent
step) and never a version shadowed by a newer one.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spruce.engine.filters import Filter, to_sql
from spruce.engine.manifest import Manifest
from spruce.engine.model import Match, QuerySpec
from spruce.engine.overlay import Overlay
from spruce.engine.records import Record
from spruce.engine.scoring import LANCE_DISTANCE, best, dense_scores, higher_is_better, query_norm, row_norms
from spruce.engine.slabs import SlabView

#: ANN search knobs for indexed slabs: candidates are re-ranked exactly (refine), so
#: recall is bounded by the IVF probe width and the HNSW beam.
ANN_MIN_NPROBES = 8
ANN_REFINE_FACTOR = 4


class SlabSet:
    """The ``Base`` of an overlay: the live rows of a manifest's slabs."""

    def __init__(self, views: Sequence[SlabView]) -> None:
        self.views = list(views)
        self.live_count = sum(v.live_count for v in self.views)

    def _locate(self, record_id: str) -> tuple[SlabView, int] | None:
        for view in self.views:
            row = view.data.id_to_row.get(record_id)
            if row is not None and view.alive[row]:
                return view, row
        return None

    def contains(self, record_id: str) -> bool:
        return self._locate(record_id) is not None

    def get(self, ids: Sequence[str], *, values: bool = True, metadata: bool = True) -> dict[str, Record]:
        by_view: dict[int, tuple[SlabView, list[int]]] = {}
        for rid in dict.fromkeys(ids):
            hit = self._locate(rid)
            if hit is not None:
                by_view.setdefault(id(hit[0]), (hit[0], []))[1].append(hit[1])
        out: dict[str, Record] = {}
        for view, rows in by_view.values():
            for rec in view.data.read(rows, values=values, sparse=values, metadata=metadata):
                out[rec.id] = rec
        return out

    def ids_matching(self, flt: Filter) -> set[str]:
        out: set[str] = set()
        for view in self.views:
            rows = view.data.rows_matching(flt)
            mask = view.alive if rows is None else _mask_of(rows, view.alive)
            out.update(view.data.ids[mask].tolist())
        return out


def _mask_of(rows: np.ndarray, alive: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(alive), dtype=bool)
    mask[rows] = True
    return mask & alive


@dataclass(slots=True)
class _Candidate:
    score: float
    record_id: str
    view: SlabView | None  # None: from the tail
    row: int  # slab row, or position in the tail's live records


class Snapshot:
    def __init__(self, manifest: Manifest, base: SlabSet, overlay: Overlay, *, metric: str,
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

    def _visible(self) -> list[tuple[SlabView, np.ndarray]]:
        """Each slab with its rows that neither tombstones nor the tail shadow."""
        if self.overlay.base_cleared:
            return []

        def compute():
            shadowed = self.overlay.shadowed_ids()
            out = []
            for view in self.base.views:
                mask = view.alive
                hidden = [r for r in map(view.data.id_to_row.get, shadowed) if r is not None]
                if hidden:
                    mask = mask.copy()
                    mask[hidden] = False
                out.append((view, mask))
            return out

        return self.overlay.cached(("visible", self.manifest.version), compute)

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
        out.update(self.base.get(from_base))
        return {rid: out[rid] for rid in dict.fromkeys(ids) if rid in out}

    # ------------------------------------------------------------------ list

    def list_ids(self, prefix: str | None, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to ``limit`` visible ids in bitwise order, > ``after``, starting with ``prefix``;
        and whether more exist."""
        prefix = prefix or ""
        want = limit + 1
        streams = []
        for view, mask in self._visible():
            streams.append(_scan_sorted(view.data.sorted_ids, view.data.sorted_rows, mask, prefix, after, want))
        tail = self.overlay.live(None).ids  # already sorted
        streams.append(_scan_sorted(tail, None, None, prefix, after, want))
        merged = list(heapq.merge(*streams))[:want]
        return merged[:limit], len(merged) > limit

    # ------------------------------------------------------------------ query

    def query(self, spec: QuerySpec) -> list[Match]:
        if spec.id is not None:
            found = self.fetch([spec.id]).get(spec.id)
            if found is None or found.values is None:
                return []
            q = found.values
        else:
            q = spec.vector
        q = np.asarray(q, dtype=np.float32)
        qn = query_norm(self.metric, q)
        k = spec.top_k
        candidates: list[_Candidate] = []
        for view, mask in self._visible():
            candidates += self._search_slab(view, mask, q, qn, k, spec.filter)
        candidates += self._search_tail(q, qn, k, spec.filter)
        reverse = higher_is_better(self.metric)
        candidates.sort(key=lambda c: (-c.score if reverse else c.score, c.record_id))
        return self._materialise(candidates[:k], spec)

    def _search_slab(self, view: SlabView, mask: np.ndarray, q: np.ndarray, qn: float, k: int,
                     flt: Filter | None) -> list[_Candidate]:
        data = view.data
        rows = None
        if flt is not None:
            rows = data.rows_matching(flt)
            if rows is not None:
                rows = rows[mask[rows]]
                if not len(rows):
                    return []
        if data.indexed:
            return self._search_ann(view, mask, q, k, flt)
        if rows is None:
            scores = dense_scores(self.metric, data.matrix, data.norms, q, qn)
            if not mask.all():
                scores = scores.copy()
                scores[~mask] = -np.inf if higher_is_better(self.metric) else np.inf
                top = best(scores, min(k, int(mask.sum())), self.metric)
            else:
                top = best(scores, k, self.metric)
            return [_Candidate(float(scores[r]), data.ids[r], view, int(r)) for r in top]
        norms = None if data.norms is None else data.norms[rows]
        scores = dense_scores(self.metric, data.matrix[rows], norms, q, qn)
        top = best(scores, k, self.metric)
        return [_Candidate(float(scores[i]), data.ids[rows[i]], view, int(rows[i])) for i in top]

    def _search_ann(self, view: SlabView, mask: np.ndarray, q: np.ndarray, k: int,
                    flt: Filter | None) -> list[_Candidate]:
        data = view.data
        dead = int(len(mask) - mask.sum())
        limit = k + dead
        search = (data.table.search(q, vector_column_name="vector")
                  .distance_type(LANCE_DISTANCE[self.metric])
                  .select(["row"]).limit(limit)
                  .nprobes(max(ANN_MIN_NPROBES, 1))
                  .refine_factor(ANN_REFINE_FACTOR)
                  .ef(max(64, limit * ANN_REFINE_FACTOR)))
        if flt is not None:
            sql = to_sql(flt, data.layout)
            if sql == "FALSE":
                return []
            if sql != "TRUE":
                search = search.where(sql, prefilter=True)
        result = search.to_arrow()
        rows = result.column("row").to_numpy()
        dist = result.column("_distance").to_numpy()
        out = []
        for r, d in zip(rows, dist):
            if mask[r]:
                out.append(_Candidate(_score_from_distance(self.metric, float(d)), data.ids[r], view, int(r)))
        return out[:k]

    def _search_tail(self, q: np.ndarray, qn: float, k: int, flt: Filter | None) -> list[_Candidate]:
        tail = self.overlay.live(self.dimension)
        if not tail.ids:
            return []
        if flt is None:
            positions = np.arange(len(tail.ids))
        else:
            positions = np.array([i for i, rec in enumerate(tail.records) if flt.matches(rec.metadata)],
                                 dtype=np.int64)
            if not len(positions):
                return []
        matrix = tail.matrix[positions]
        scores = dense_scores(self.metric, matrix, row_norms(self.metric, matrix), q, qn)
        top = best(scores, k, self.metric)
        return [_Candidate(float(scores[i]), tail.ids[positions[i]], None, int(positions[i])) for i in top]

    def _materialise(self, chosen: list[_Candidate], spec: QuerySpec) -> list[Match]:
        want_body = spec.include_values or spec.include_metadata
        by_view: dict[int, tuple[SlabView, list[int]]] = {}
        if want_body:
            for c in chosen:
                if c.view is not None:
                    by_view.setdefault(id(c.view), (c.view, []))[1].append(c.row)
        bodies: dict[tuple[int, int], Record] = {}
        for view, rows in by_view.values():
            recs = view.data.read(rows, values=spec.include_values, sparse=spec.include_values,
                                  metadata=spec.include_metadata)
            for row, rec in zip(rows, recs):
                bodies[(id(view), row)] = rec
        tail = self.overlay.live(self.dimension)
        out = []
        for c in chosen:
            m = Match(c.record_id, c.score)
            if want_body:
                rec = tail.records[c.row] if c.view is None else bodies[(id(c.view), c.row)]
                if spec.include_values:
                    m.values, m.sparse = rec.values, rec.sparse
                if spec.include_metadata:
                    m.metadata = rec.metadata
            out.append(m)
        return out


def _score_from_distance(metric: str, d: float) -> float:
    if metric == "cosine":
        return 1.0 - d
    if metric == "dotproduct":
        return -d
    return d


def _scan_sorted(ids: list[str], rows: np.ndarray | None, mask: np.ndarray | None, prefix: str,
                 after: str | None, want: int):
    """Yield up to ``want`` visible ids from a sorted id list, > after, with prefix."""
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
