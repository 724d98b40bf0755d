"""A consistent read view of one namespace: a pinned manifest's slabs plus the log tail.

Every read (query, fetch, list, count) goes through a Snapshot, so each sees all writes
acknowledged before it started (the tail is read after the manifest, in one consistent
step) and never a version shadowed by a newer one.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spruce.engine.filters import Filter, to_sql
from spruce.engine.manifest import Manifest
from spruce.engine.model import Match, QuerySpec
from spruce.engine.overlay import Overlay
from spruce.engine.records import Record, SparseVector
from spruce.engine.scoring import LANCE_DISTANCE, best, dense_scores, higher_is_better, query_norm, row_norms
from spruce.engine.slabs import SlabView
from spruce.engine.sparse import SparsePostings

#: ANN search knobs for indexed slabs: candidates are re-ranked exactly (refine), so
#: recall is bounded by the IVF probe width and the HNSW beam.
ANN_MIN_NPROBES = 8
ANN_REFINE_FACTOR = 4
#: 2025-10 ``scanFactor`` (0.5–4.0): 4.0, Pinecone's default and best recall, maps to the probe
#: width above; lower values scan proportionally less of the IVF/HNSW index.
DEFAULT_SCAN_FACTOR = 4.0
#: Cap on the per-list candidates of a hybrid query on an indexed slab (see _search_hybrid_ann).
HYBRID_MAX_CANDIDATES = 4096


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

    # ------------------------------------------------------------------ filter scans

    def matching_ids(self, flt: Filter) -> list[str]:
        """Every visible id whose metadata matches ``flt``, in bitwise order (fetch by metadata,
        update by filter). Slabs answer with their SQL prefilter, the tail with the evaluator."""
        found: list[str] = []
        for view, mask in self._visible():
            rows = view.data.rows_matching(flt)
            keep = mask if rows is None else _mask_of(rows, mask)
            found += view.data.ids[keep].tolist()
        tail = self.overlay.live(self.dimension)
        found += [rid for rid, rec in zip(tail.ids, tail.records) if flt.matches(rec.metadata)]
        found.sort()
        return found

    def metadata_keys(self) -> list[str]:
        """The metadata keys held by the namespace's slabs and tail, sorted (``indexed_fields``)."""
        keys: set[str] = set()
        for view, mask in self._visible():
            if mask.any():
                keys.update(view.data.layout.keys())
        for rec in self.overlay.live(self.dimension).records:
            keys.update(rec.metadata or ())
        return sorted(keys)

    # ------------------------------------------------------------------ query

    def query(self, spec: QuerySpec) -> list[Match]:
        q = self._resolve(spec)
        if q is None:
            return []
        k = spec.top_k
        candidates: list[_Candidate] = []
        for view, mask in self._visible():
            candidates += self._search_slab(view, mask, q, k, spec.filter)
        candidates += self._search_tail(q, k, spec.filter)
        reverse = higher_is_better(self.metric)
        candidates.sort(key=lambda c: (-c.score if reverse else c.score, c.record_id))
        return self._materialise(candidates[:k], spec)

    def _resolve(self, spec: QuerySpec) -> _Query | None:
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
            return _Query(None, 0.0, sparse)
        dense = np.asarray(dense, dtype=np.float32)
        return _Query(dense, query_norm(self.metric, dense), sparse, spec.scan_factor or DEFAULT_SCAN_FACTOR,
                      spec.max_candidates)

    def _search_slab(self, view: SlabView, mask: np.ndarray, q: _Query, k: int,
                     flt: Filter | None) -> list[_Candidate]:
        data = view.data
        if data.indexed and q.dense is not None:
            return self._search_ann(view, mask, q, k, flt)
        rows = None if flt is None else data.rows_matching(flt)
        postings = data.postings if q.sparse is not None else None
        if rows is None:
            scores = _exact_scores(self.metric, q, data.matrix, data.norms, postings)
            keep = mask
        else:
            rows = rows[mask[rows]]
            if not len(rows):
                return []
            norms = None if data.norms is None else data.norms[rows]
            matrix = None if data.matrix is None else data.matrix[rows]
            scores = _exact_scores(self.metric, q, matrix, norms, postings, rows)
            keep = None
        top = _top(scores, keep, k, self.metric, drop_zero=q.dense is None)
        ids = data.ids if rows is None else data.ids[rows]
        positions = top if rows is None else rows[top]
        return [_Candidate(float(scores[i]), ids[i], view, int(r)) for i, r in zip(top, positions)]

    def _search_ann(self, view: SlabView, mask: np.ndarray, q: _Query, k: int,
                    flt: Filter | None) -> list[_Candidate]:
        data = view.data
        if q.sparse is None:
            rows, dense = self._ann(view, mask, q, k, flt)
            return [_Candidate(float(s), data.ids[r], view, int(r)) for r, s in zip(rows, dense)]
        return self._search_hybrid_ann(view, mask, q, k, flt)

    def _search_hybrid_ann(self, view: SlabView, mask: np.ndarray, q: _Query, k: int,
                           flt: Filter | None) -> list[_Candidate]:
        """Hybrid top-k on an ANN-indexed slab by the threshold algorithm: take the best ``m``
        rows by dense score (ANN) and by sparse score (exact, from the postings), score their
        union exactly (dense·dense + sparse·sparse), and stop once no row outside both lists can
        beat the k-th score — its dense score is at most the m-th dense one and its sparse score
        at most the m-th sparse one. Otherwise ``m`` grows. Exact up to the ANN's own recall."""
        data = view.data
        lexical = data.postings.scores(q.sparse)
        matching = None if flt is None else data.rows_matching(flt)
        allowed = mask if matching is None else _mask_of(matching, mask)
        m = k * ANN_REFINE_FACTOR
        while True:
            dense_rows, dense = self._ann(view, mask, q, m, flt)
            lexical_rows = _top(lexical, allowed, m, "dotproduct", drop_zero=False)
            pool = np.union1d(dense_rows, lexical_rows)
            scores = data.vectors(pool) @ q.dense + lexical[pool]
            top = best(scores, k, self.metric)
            exhausted = len(dense_rows) < m or len(lexical_rows) < m
            if exhausted or m >= HYBRID_MAX_CANDIDATES or len(top) < k:
                break
            bound = float(dense[-1]) + float(lexical[lexical_rows[-1]])
            if bound < float(scores[top[-1]]):
                break
            m *= 4
        return [_Candidate(float(scores[i]), data.ids[pool[i]], view, int(pool[i])) for i in top]

    def _ann(self, view: SlabView, mask: np.ndarray, q: _Query, k: int,
             flt: Filter | None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` visible rows nearest ``q.dense`` by the slab's ANN index (refined
        exactly), best first, with their dense scores."""
        data = view.data
        dead = int(len(mask) - mask.sum())
        limit = k + dead
        widen = q.scan_factor / DEFAULT_SCAN_FACTOR
        refine = ANN_REFINE_FACTOR if q.max_candidates is None else max(1, min(ANN_REFINE_FACTOR,
                                                                              q.max_candidates // limit))
        search = (data.table.search(q.dense, vector_column_name="vector")
                  .distance_type(LANCE_DISTANCE[self.metric])
                  .select(["row", "_distance"]).limit(limit)
                  .nprobes(max(1, math.ceil(ANN_MIN_NPROBES * widen)))
                  .refine_factor(refine)
                  .ef(max(k, math.ceil(max(64, limit * ANN_REFINE_FACTOR) * widen))))
        if flt is not None:
            sql = to_sql(flt, data.layout)
            if sql == "FALSE":
                return np.empty(0, np.int64), np.empty(0, np.float64)
            if sql != "TRUE":
                search = search.where(sql, prefilter=True)
        result = search.to_arrow()
        rows = result.column("row").to_numpy().astype(np.int64)
        dist = result.column("_distance").to_numpy()
        alive = mask[rows]
        rows, dist = rows[alive][:k], dist[alive][:k]
        return rows, _score_from_distance(self.metric, dist)

    def _search_tail(self, q: _Query, k: int, flt: Filter | None) -> list[_Candidate]:
        tail = self.overlay.live(self.dimension)
        if not tail.ids:
            return []
        postings = None
        if q.sparse is not None:
            postings = self.overlay.cached("postings", lambda: SparsePostings.from_vectors(
                [rec.sparse for rec in tail.records]))
        rows = None
        if flt is not None:
            rows = np.array([i for i, rec in enumerate(tail.records) if flt.matches(rec.metadata)], dtype=np.int64)
            if not len(rows):
                return []
        matrix = None
        if q.dense is not None:
            matrix = tail.matrix if rows is None else tail.matrix[rows]
        norms = None if matrix is None else row_norms(self.metric, matrix)
        scores = _exact_scores(self.metric, q, matrix, norms, postings, rows)
        top = _top(scores, None, k, self.metric, drop_zero=q.dense is None)
        positions = top if rows is None else rows[top]
        return [_Candidate(float(scores[i]), tail.ids[p], None, int(p)) for i, p in zip(top, positions)]

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


@dataclass(slots=True, frozen=True)
class _Query:
    """Resolved query vectors: dense (with its cached norm), sparse, or both (hybrid)."""

    dense: np.ndarray | None
    norm: float
    sparse: SparseVector | None
    scan_factor: float = 4.0
    max_candidates: int | None = None


def _exact_scores(metric: str, q: _Query, matrix: np.ndarray | None, norms: np.ndarray | None,
                  postings: SparsePostings | None, rows: np.ndarray | None = None) -> np.ndarray:
    """Exact scores of ``matrix``'s rows (already restricted to ``rows``) plus, for sparse and
    hybrid queries, the sparse dot products of the same rows."""
    scores = None
    if q.dense is not None:
        scores = dense_scores(metric, matrix, norms, q.dense, q.norm)
    if q.sparse is not None:
        lexical = postings.scores(q.sparse)
        if rows is not None:
            lexical = lexical[rows]
        scores = lexical if scores is None else scores + lexical
    return scores


def _top(scores: np.ndarray, keep: np.ndarray | None, k: int, metric: str, *, drop_zero: bool) -> np.ndarray:
    """Positions of the ``k`` best ``scores`` among those ``keep`` allows (None: all); sparse
    queries also drop scores of exactly 0, which are not matches (SP-6)."""
    if drop_zero:
        nonzero = scores != 0
        keep = nonzero if keep is None else keep & nonzero
    if keep is None or keep.all():
        return best(scores, k, metric)
    eligible = np.flatnonzero(keep)
    return eligible[best(scores[eligible], k, metric)]


def _score_from_distance(metric: str, d: np.ndarray) -> np.ndarray:
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
