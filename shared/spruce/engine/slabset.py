"""Slabs read in this process: the per-process slab cache and the in-process ``SlabReader``.

Slabs are immutable, so their in-memory views (ids, vector matrix, norms, postings, the
alive mask of a tombstone set) are cached by slab id and shared by every manifest and
snapshot that lists them. Where the host keeps in-RAM graphs (``engine.graph``), a dense query
goes through the slab's graph and is re-scored exactly; otherwise flat slabs are scored exactly
with numpy, and ANN-indexed slabs through LanceDB's vector index, refined exactly.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from spruce.engine.base import Hidden, Hit
from spruce.engine.filters import Filter, to_sql
from spruce.engine.manifest import Manifest, SlabRef
from spruce.engine.namespaces import namespace_key
from spruce.engine.records import Record
from spruce.engine.scoring import (DEFAULT_SCAN_FACTOR, LANCE_DISTANCE, ResolvedQuery, best, dense_scores,
                                   exact_scores, top)
from spruce.engine.slabs import SlabData, SlabView
from spruce.engine.snapshot import scan_sorted
from spruce.storage.ports import SlabStore

if TYPE_CHECKING:
    import pyarrow as pa

    from spruce.engine.graph import RowFilter, SlabGraph, SlabGraphs

#: ANN search knobs for indexed slabs: candidates are re-ranked exactly (refine), so
#: recall is bounded by the IVF probe width and the HNSW beam.
ANN_MIN_NPROBES = 8
ANN_REFINE_FACTOR = 4
#: Cap on the per-list candidates of a hybrid query on an indexed slab (see _search_hybrid_ann).
HYBRID_MAX_CANDIDATES = 4096


class LocalSlabs:
    """``SlabAccess`` over a ``SlabStore`` read in this process (the store may be a local
    directory, S3, or an executor's EFS cache). With ``graphs``, slabs get in-RAM graphs."""

    def __init__(self, store: SlabStore, graphs: SlabGraphs | None = None) -> None:
        self._store = store
        self._graphs = graphs
        self._lock = threading.Lock()
        self._slab_data: dict[tuple[str, str], SlabData] = {}
        self._views: dict[tuple[str, str, str | None], SlabView] = {}
        self._sets: dict[tuple[str, str], SlabSet] = {}  # the last set opened per namespace

    def open(self, index_id: str, namespace: str, manifest: Manifest, *, metric: str,
             dimension: int | None = None) -> SlabSet:
        """The slab set of ``manifest``; the same object for every read of a namespace until
        its slabs or their tombstones change (a set holds nothing a read changes)."""
        key = tuple((ref.slab_id, ref.tombstones) for ref in manifest.slabs)
        with self._lock:
            last = self._sets.get((index_id, namespace))
        if last is not None and last.key == key and last.metric == metric:
            return last
        views = [self._view(index_id, namespace, ref, metric) for ref in manifest.slabs]
        opened = SlabSet(views, metric, key=key, graphs=self._graphs)
        with self._lock:
            self._sets[(index_id, namespace)] = opened
        return opened

    def _view(self, index_id: str, namespace: str, ref: SlabRef, metric: str) -> SlabView:
        key = (index_id, ref.slab_id, ref.tombstones)
        with self._lock:
            view = self._views.get(key)
        if view is not None:
            return view
        data = self._data(index_id, namespace, ref, metric)
        alive = np.ones(data.rows, dtype=bool)
        if ref.tombstones:
            dead = self._store.read_tombstones(index_id, namespace_key(namespace), ref.tombstones)
            alive[[data.id_to_row[rid] for rid in dead]] = False
        view = SlabView(data, alive, int(alive.sum()))
        with self._lock:
            self._views[key] = view
        return view

    def _data(self, index_id: str, namespace: str, ref: SlabRef, metric: str,
              written: pa.Table | None = None, matrix: np.ndarray | None = None) -> SlabData:
        key = (index_id, ref.slab_id)
        with self._lock:
            data = self._slab_data.get(key)
        if data is None:
            table = self._store.open_slab(index_id, namespace_key(namespace), ref.slab_id)
            data = SlabData(ref.slab_id, table, indexed=ref.indexed, metric=metric, written=written, matrix=matrix)
            with self._lock:
                self._slab_data[key] = data
        return data

    def seed(self, index_id: str, namespace: str, ref: SlabRef, metric: str, written: pa.Table,
             matrix: np.ndarray | None = None) -> None:
        """Cache the slab ``ref`` that this process has just written as ``written`` (``matrix``:
        its vectors, handed over), so that opening it reads nothing back (``SlabData``). A slab
        that is then not committed must be forgotten (``forget_slabs``)."""
        self._data(index_id, namespace, ref, metric, written, matrix)

    def warm(self, index_id: str, namespace: str, ref: SlabRef, metric: str, *, graph: bool) -> None:
        """Open ``ref`` before readers need it; with ``graph``, also build its graph now."""
        data = self._view(index_id, namespace, ref, metric).data
        if graph and self._graphs is not None:
            self._graphs.build_now(data)

    def want_graph(self, index_id: str, namespace: str, ref: SlabRef, metric: str) -> None:
        """Queue ``ref``'s graph now, as its first search would."""
        if self._graphs is not None:
            self._graphs.lookup(self._view(index_id, namespace, ref, metric).data)

    def forget_slabs(self, index_id: str, slab_ids: set[str]) -> None:
        """Drop cached views of slabs that compaction replaced or garbage collection removed."""
        self._forget(lambda key: key[0] == index_id and key[1] in slab_ids)

    def forget_index(self, index_id: str) -> None:
        self._forget(lambda key: key[0] == index_id)

    def _forget(self, match: Callable[[tuple], bool]) -> None:
        with self._lock:
            for key in [k for k in self._slab_data if match(k)]:
                self._slab_data.pop(key).retired = True  # a queued graph build is dropped
            for key in [k for k in self._views if match(k)]:
                del self._views[key]
            for key, opened in list(self._sets.items()):
                if match((key[0], None)) or any(match((key[0], slab_id)) for slab_id, _ in opened.key):
                    del self._sets[key]


def _visible_rows(view: SlabView, hidden: Hidden) -> np.ndarray:
    """``view``'s live rows less those ``hidden`` names (a bool per row), memoised per view
    (views are shared by the manifests that list the same slab and tombstones) and derived,
    where ``hidden.earlier`` has it, from the earlier mask for the ids that changed."""
    key = ("mask", id(view))
    found = hidden.cache.get(key)
    if found is not None and found[0] is view:
        return found[1]
    earlier = hidden.earlier
    before = None if earlier is None else earlier.cache.get(key)
    id_to_row = view.data.id_to_row
    if before is not None and before[0] is view:
        mask = before[1]
        changed = [(row, rid) for rid in hidden.changed if (row := id_to_row.get(rid)) is not None]
        if changed:
            mask = mask.copy()
            for row, rid in changed:
                mask[row] = view.alive[row] and rid not in hidden.ids
    else:
        mask = view.alive
        rows = [r for r in map(id_to_row.get, hidden.ids) if r is not None]
        if rows:
            mask = mask.copy()
            mask[rows] = False
    hidden.cache[key] = (view, mask)  # the view is held, so its id() is not reused meanwhile
    return mask


def _row_filter(graph: SlabGraph, view: SlabView, mask: np.ndarray, hidden: Hidden) -> RowFilter:
    """The graph filter of ``view``'s visible rows ``mask``, memoised beside the mask."""
    key = ("graph filter", id(view))
    found = hidden.cache.get(key)
    if found is None or found[0] is not mask:
        found = hidden.cache[key] = (mask, graph.row_filter(mask))
    return found[1]


def _mask_of(rows: np.ndarray, alive: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(alive), dtype=bool)
    mask[rows] = True
    return mask & alive


class SlabSet:
    """The live rows of a manifest's slabs, read in this process (a ``SlabReader``)."""

    def __init__(self, views: Sequence[SlabView], metric: str, *, key: tuple,
                 graphs: SlabGraphs | None = None) -> None:
        self.views = list(views)
        self._graphs = graphs
        self.key = key  # which slabs and tombstone sets: keys memoised masks
        self.metric = metric
        self.live_count = sum(v.live_count for v in self.views)
        self._by_slab = {v.data.slab_id: v for v in self.views}

    # ------------------------------------------------------------------ by id

    def _locate(self, record_id: str) -> tuple[SlabView, int] | None:
        for view in self.views:
            row = view.data.id_to_row.get(record_id)
            if row is not None and view.alive[row]:
                return view, row
        return None

    def count_present(self, ids: Sequence[str]) -> int:
        return sum(1 for rid in ids if self._locate(rid) is not None)

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

    # ------------------------------------------------------------------ visible rows

    def visible(self, hidden: Hidden) -> list[tuple[SlabView, np.ndarray]]:
        """Each slab with its rows that neither tombstones nor ``hidden`` shadow."""
        key = ("visible", self.key)
        found = hidden.cache.get(key)
        if found is None:
            found = hidden.cache[key] = [(view, _visible_rows(view, hidden)) for view in self.views]
        return found

    def list_ids(self, prefix: str, after: str | None, want: int, hidden: Hidden) -> list[str]:
        streams = [scan_sorted(view.data.sorted_ids, view.data.sorted_rows, mask, prefix, after, want)
                   for view, mask in self.visible(hidden)]
        return list(heapq.merge(*streams))[:want]

    def matching_ids(self, flt: Filter, hidden: Hidden) -> list[str]:
        found: list[str] = []
        for view, mask in self.visible(hidden):
            rows = view.data.rows_matching(flt)
            keep = mask if rows is None else _mask_of(rows, mask)
            found += view.data.ids[keep].tolist()
        return found

    def metadata_keys(self, hidden: Hidden) -> set[str]:
        keys: set[str] = set()
        for view, mask in self.visible(hidden):
            if mask.any():
                keys.update(view.data.layout.keys())
        return keys

    # ------------------------------------------------------------------ query

    def search(self, q: ResolvedQuery, k: int, flt: Filter | None, hidden: Hidden) -> list[Hit]:
        hits: list[Hit] = []
        for view, mask in self.visible(hidden):
            data = view.data
            graph = None if q.sparse is not None or self._graphs is None else self._graphs.lookup(data)
            # An indexed slab without a graph is searched through LanceDB's index (prefiltered);
            # with one, it holds its matrix, so a pass over few rows is exact like a flat slab's.
            ann = data.indexed and q.dense is not None and graph is None
            rows = None if flt is None or ann else data.rows_matching(flt)
            found = None if graph is None else self._search_graph(graph, view, mask, rows, q, k, hidden)
            if found is None:
                found = self._search_ann(view, mask, q, k, flt) if ann else self._search_flat(view, mask, rows, q, k)
            hits += [Hit(score, data.ids[row], data.slab_id, row) for score, row in found]
        return hits

    def read_hits(self, hits: Sequence[Hit], *, values: bool, metadata: bool) -> list[Record]:
        by_slab: dict[str, list[int]] = {}
        for h in hits:
            by_slab.setdefault(h.slab_id, []).append(h.row)
        bodies: dict[tuple[str, int], Record] = {}
        for slab_id, rows in by_slab.items():
            for row, rec in zip(rows, self._by_slab[slab_id].data.read(rows, values=values, sparse=values,
                                                                     metadata=metadata)):
                bodies[(slab_id, row)] = rec
        return [bodies[(h.slab_id, h.row)] for h in hits]

    def _search_flat(self, view: SlabView, mask: np.ndarray, rows: np.ndarray | None, q: ResolvedQuery,
                     k: int) -> list[tuple[float, int]]:
        """Exact top ``k`` of the visible rows among ``rows`` (the filter's; None: all)."""
        data = view.data
        postings = data.postings if q.sparse is not None else None
        if rows is None:
            scores = exact_scores(self.metric, q, data.matrix, data.norms, postings)
            keep = mask
        else:
            rows = rows[mask[rows]]
            if not len(rows):
                return []
            norms = None if data.norms is None else data.norms[rows]
            matrix = None if data.matrix is None else data.matrix[rows]
            scores = exact_scores(self.metric, q, matrix, norms, postings, rows)
            keep = None
        chosen = top(scores, keep, k, self.metric, drop_zero=q.dense is None)
        positions = chosen if rows is None else rows[chosen]
        return [(float(scores[i]), int(r)) for i, r in zip(chosen, positions)]

    def _search_graph(self, graph: SlabGraph, view: SlabView, mask: np.ndarray, rows: np.ndarray | None,
                      q: ResolvedQuery, k: int, hidden: Hidden) -> list[tuple[float, int]] | None:
        """A dense query's top ``k`` through the slab's graph, re-scored exactly; None when a
        pass over the rows is the better plan (few rows allowed, ``k`` near their count, or a beam
        that would cost as much as the pass: ``GraphSettings.rows_per_beam``)."""
        settings = self._graphs.settings
        data = view.data
        if rows is None:
            count = view.live_count if mask is view.alive else int(np.count_nonzero(mask))
        else:
            count = int(np.count_nonzero(mask[rows]))
        share = count / data.rows
        want = k * settings.refine
        if q.max_candidates is not None:
            want = max(k, min(want, q.max_candidates))
        if share < settings.min_share or want * settings.refine > count:
            return None
        ef = max(want, self._graphs.beam(q.scan_factor / DEFAULT_SCAN_FACTOR, share, data.rows))
        if ef * settings.rows_per_beam > count:
            return None  # a pass over so few rows costs less than the beam
        if count == data.rows:
            allowed = None
        elif rows is None:
            allowed = _row_filter(graph, view, mask, hidden)
        else:
            allowed = graph.row_filter(_mask_of(rows, mask))
        point = q.dense * np.float32(q.norm) if self.metric == "cosine" else q.dense
        candidates = graph.candidates(point, want, ef, allowed)
        scores = dense_scores(self.metric, data.matrix[candidates],
                              None if data.norms is None else data.norms[candidates], q.dense, q.norm)
        chosen = best(scores, k, self.metric)
        return [(float(scores[i]), int(candidates[i])) for i in chosen]

    def _search_ann(self, view: SlabView, mask: np.ndarray, q: ResolvedQuery, k: int,
                    flt: Filter | None) -> list[tuple[float, int]]:
        if q.sparse is None:
            rows, dense = self._ann(view, mask, q, k, flt)
            return [(float(s), int(r)) for r, s in zip(rows, dense)]
        return self._search_hybrid_ann(view, mask, q, k, flt)

    def _search_hybrid_ann(self, view: SlabView, mask: np.ndarray, q: ResolvedQuery, k: int,
                           flt: Filter | None) -> list[tuple[float, int]]:
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
            lexical_rows = top(lexical, allowed, m, "dotproduct", drop_zero=False)
            pool = np.union1d(dense_rows, lexical_rows)
            scores = data.vectors(pool) @ q.dense + lexical[pool]
            chosen = best(scores, k, self.metric)
            exhausted = len(dense_rows) < m or len(lexical_rows) < m
            if exhausted or m >= HYBRID_MAX_CANDIDATES or len(chosen) < k:
                break
            bound = float(dense[-1]) + float(lexical[lexical_rows[-1]])
            if bound < float(scores[chosen[-1]]):
                break
            m *= 4
        return [(float(scores[i]), int(pool[i])) for i in chosen]

    def _ann(self, view: SlabView, mask: np.ndarray, q: ResolvedQuery, k: int,
             flt: Filter | None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` visible rows nearest ``q.dense`` by the slab's ANN index (refined
        exactly), best first, with their dense scores."""
        data = view.data
        dead = len(mask) - int(np.count_nonzero(mask))
        limit = k + dead
        widen = q.scan_factor / DEFAULT_SCAN_FACTOR
        refine = ANN_REFINE_FACTOR if q.max_candidates is None else max(1, min(ANN_REFINE_FACTOR,
                                                                              q.max_candidates // limit))
        search = (data.table.search(q.dense, vector_column_name="vector")
                  .distance_type(LANCE_DISTANCE[self.metric])
                  .select(["row", "_distance"]).limit(limit)
                  .nprobes(max(1, math.ceil(ANN_MIN_NPROBES * widen)))
                  .refine_factor(refine)
                  # LanceDB needs a beam of at least the candidates it refines (limit × refine).
                  .ef(max(limit * refine, math.ceil(max(64, limit * ANN_REFINE_FACTOR) * widen))))
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


def _score_from_distance(metric: str, d: np.ndarray) -> np.ndarray:
    if metric == "cosine":
        return 1.0 - d
    if metric == "dotproduct":
        return -d
    return d
