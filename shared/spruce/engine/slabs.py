"""Slabs: immutable LanceDB tables of record versions, and their in-memory views.

A slab row holds ``id``, ``row`` (its position, so filter scans return positions directly),
``lsn``, the dense ``vector`` (fixed-size float32 list), the sparse vector, the metadata as
JSON (for returning it) and the metadata again as typed columns (for prefiltering; see
``metadata.MetadataLayout``). Because a slab never changes, everything derived from it —
ids, the id→row map, the vector matrix and its norms — is computed once per process and
shared by every manifest that lists the slab.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pyarrow as pa

from spruce.engine.filters import Filter, to_sql
from spruce.engine.metadata import MetadataLayout, build_metadata_columns
from spruce.engine.records import Record, SparseVector, stack_values
from spruce.engine.scoring import row_norms
from spruce.engine.sparse import SparsePostings

if TYPE_CHECKING:
    from spruce.engine.graph import SlabGraph

_LAYOUT_KEY = b"spruce.metadata_layout"


@dataclass(slots=True)
class RecordColumns:
    """Records as the columns a slab stores them in, before their LSNs: what ``slab_table``
    writes. A bulk writer that holds its rows as Arrow columns (an import's chunk) builds this
    without a Python object per record; ``of`` builds it from records."""

    ids: pa.Array  # string
    vectors: np.ndarray | None  # float32, a row per record (dense indexes)
    sparse_indices: pa.Array  # list<uint32>, null where a record has no sparse vector
    sparse_values: pa.Array  # list<float32>
    metadata: pa.Array  # string: the validated metadata as compact JSON, null where there is none
    layout: MetadataLayout  # the typed metadata columns (``build_metadata_columns``) ...
    typed: dict[str, pa.Array]  # ... by name

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, records: Sequence[Record], dimension: int | None, vectors: np.ndarray | None = None) -> RecordColumns:
        """The columns of ``records``; ``vectors``: their vectors as one float32 matrix, if the
        caller has it."""
        if dimension is not None and vectors is None:
            vectors = stack_values(records, dimension)
        metadatas = [r.metadata for r in records]
        # orjson writes what json.dumps(separators=(",", ":"), ensure_ascii=False) wrote, 5-10× faster;
        # validation has already refused metadata it cannot encode. Decoded at once: an orjson bytes
        # object keeps the ~1 KiB buffer orjson wrote into, so a list of 100k of them cost 2.2 µs a
        # record (fresh heap pages) against 0.12 µs for the short strings (bench/RESULTS.md, 2026-12-04).
        return cls(pa.array([r.id for r in records], pa.string()), vectors,
                   pa.array([None if r.sparse is None else r.sparse.indices for r in records], pa.list_(pa.uint32())),
                   pa.array([None if r.sparse is None else r.sparse.values for r in records], pa.list_(pa.float32())),
                   pa.array([None if m is None else orjson.dumps(m).decode() for m in metadatas], pa.string()),
                   *build_metadata_columns(metadatas))


def build_slab_table(records: Sequence[Record], lsns: Sequence[int], dimension: int | None, *,
                     vectors: np.ndarray | None = None) -> pa.Table:
    """Arrow table for a new slab; ``records[i]`` was last written at ``lsns[i]``;
    ``vectors``: their vectors as one float32 matrix, if the caller has it."""
    return slab_table(RecordColumns.of(records, dimension, vectors), lsns)


def slab_table(records: RecordColumns, lsns: Sequence[int]) -> pa.Table:
    """Arrow table for a new slab of ``records``, ``records[i]`` last written at ``lsns[i]``."""
    columns: dict[str, pa.Array] = {"id": records.ids, "lsn": pa.array(np.asarray(lsns, dtype=np.int64))}
    if records.vectors is not None:
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(records.vectors.reshape(-1)),
                                                              records.vectors.shape[1])
    columns |= {"sparse_indices": records.sparse_indices, "sparse_values": records.sparse_values,
                "metadata": records.metadata}
    return _slab_table(columns, records.layout, records.typed)


#: The columns a record is stored in (the typed metadata columns are derived from ``metadata``).
_RECORD_COLUMNS = ("id", "lsn", "vector", "sparse_indices", "sparse_values", "metadata")


def merge_slab_tables(parts: Sequence[pa.Table], dimension: int | None) -> pa.Table:
    """Arrow table for a new slab holding the rows of ``parts`` (``SlabData.live_rows`` of the
    slabs it replaces), in order: the table ``build_slab_table`` makes of those records, without
    a Python object per record. Vectors, ids and LSNs stay Arrow buffers; only the metadata is
    parsed, to lay out the merged slab's typed columns. (Building a Record per row made
    compaction hold the interpreter, and stall reads, for seconds at a time.)"""
    types = {"id": pa.string(), "lsn": pa.int64()}
    if dimension is not None:
        types["vector"] = pa.list_(pa.float32(), dimension)
    types |= {"sparse_indices": pa.list_(pa.uint32()), "sparse_values": pa.list_(pa.float32()),
              "metadata": pa.string()}
    columns = {c: pa.chunked_array([chunk for part in parts for chunk in part.column(c).cast(t).chunks], t)
               .combine_chunks() for c, t in types.items()}
    metadatas = [None if m is None else orjson.loads(m) for m in columns["metadata"].to_pylist()]
    return _slab_table(columns, *build_metadata_columns(metadatas))


def _slab_table(columns: dict[str, pa.Array], layout: MetadataLayout, typed: dict[str, pa.Array]) -> pa.Table:
    """The slab table of the record columns ``columns`` (in ``_RECORD_COLUMNS`` order, ``vector``
    only for dense indexes): adds each row's position and the typed metadata columns ``typed``."""
    rows = pa.array(np.arange(len(columns["id"]), dtype=np.int32))
    table = pa.table({"id": columns["id"], "row": rows, **{c: a for c, a in columns.items() if c != "id"},
                      **typed})
    return table.replace_schema_metadata({_LAYOUT_KEY: layout.to_json().encode()})


class SlabData:
    """Process-wide, immutable facts about one slab. ``written``: the Arrow table this process
    has just written as the slab (``build_slab_table``, ``merge_slab_tables``), and ``matrix``
    its vectors as a float32 matrix the caller hands over (kept as it is, not copied: a copy of
    a 50k × 384 chunk is 77 MB of fresh pages, 0.16 s of page faults here); its columns
    stand in for a scan of the slab's files: reading back every slab it wrote was 15–19% of the
    builder threads' samples in a 200k-record load (py-spy, ``bench/peers/write_path.py``, 2026-12-04)."""

    def __init__(self, slab_id: str, table, *, indexed: bool, metric: str, written: pa.Table | None = None,
                 matrix: np.ndarray | None = None) -> None:
        self.slab_id = slab_id
        self.table = table
        self.indexed = indexed
        self.metric = metric
        self.layout = MetadataLayout.from_json(table.schema.metadata[_LAYOUT_KEY].decode())
        self.dense = "vector" in table.schema.names
        wanted = ["row", "id"] + (["vector"] if self.dense and not indexed else [])
        data = _scan(table, wanted) if written is None else written.select(wanted)
        order = np.argsort(data.column("row").to_numpy())
        self._order = None if (order == np.arange(len(order))).all() else order
        id_column = data.column("id").combine_chunks()
        # The ids in row order, as Arrow (for lookups of many ids at once, ``builder.ShadowedIds``);
        # ``ids`` has them as Python strings.
        self.id_array: pa.Array = id_column if self._order is None else id_column.take(order)
        self._lock = threading.Lock()
        self.matrix: np.ndarray | None = None
        self._norms: np.ndarray | None = None
        self._norms_known = False
        if "vector" in wanted and matrix is not None and self._order is None:
            self.matrix = matrix  # its norms on first use (``norms``)
        elif "vector" in wanted:
            self._hold(data)
        # The in-RAM graph of the slab (engine.graph.SlabGraphs fills these in).
        self.graph: SlabGraph | None = None
        self.graph_queued = False
        self.last_search = 0.0
        self.retired = False  # compaction replaced the slab: no graph is built for it any more
        self._filter_cache: dict[str, np.ndarray] = {}
        self._postings: SparsePostings | None = None

    @property
    def rows(self) -> int:
        return len(self.id_array)

    # What follows is derived on first use: a slab an import's chunk wrote is usually merged before
    # anything looks an id up in it or scores it, and deriving all of it when the slab was seeded
    # (a Python string and dict entry per row, a pass over the vectors) held the interpreter, or
    # the writing thread, for 0.5 s of a 1M-row import (py-spy, 2026-12-06).
    @cached_property
    def ids(self) -> np.ndarray:
        """The ids in row order, as Python strings (an object array)."""
        return self.id_array.to_numpy(zero_copy_only=False)

    @property
    def norms(self) -> np.ndarray | None:
        """Of the rows of ``matrix``: cosine 1/|x|, euclidean |x|^2; None for dotproduct, or
        while no matrix is held."""
        if not self._norms_known:
            matrix = self.matrix
            if matrix is None:
                return None
            with self._lock:
                if not self._norms_known:
                    self._norms, self._norms_known = row_norms(self.metric, matrix), True
        return self._norms

    @cached_property
    def id_to_row(self) -> dict[str, int]:
        return {rid: i for i, rid in enumerate(self.ids)}

    @cached_property
    def sorted_rows(self) -> np.ndarray:
        """Rows in id order (for listing by prefix)."""
        return np.argsort(self.ids.astype(str), kind="stable")

    @cached_property
    def sorted_ids(self) -> list[str]:
        return self.ids[self.sorted_rows].tolist()

    @property
    def graph_wanted(self) -> bool:
        """A search has asked for the slab's graph (built, queued or being built)."""
        return self.graph is not None or self.graph_queued

    def hold_vectors(self) -> None:
        """Keep the dense vectors in RAM. A flat slab holds them from the start; an ANN-indexed
        one reads them here when a host that keeps graphs builds the slab's graph."""
        if self.matrix is None and self.dense:
            self._hold(_scan(self.table, ["vector"]))

    def _hold(self, data: pa.Table) -> None:
        """Set ``matrix`` from a scan of the slab (put in row order like ``postings``) and its
        ``norms``, at once: the slab was read to be searched. The norms first, so a reader that
        finds the matrix finds them too."""
        vec = data.column("vector").combine_chunks()
        scanned = vec.flatten().to_numpy().reshape(-1, vec.type.list_size)
        # Either way a writable copy of its own, not a view of Arrow's read-only buffer.
        matrix = np.array(scanned, dtype=np.float32) if self._order is None else scanned[self._order]
        with self._lock:
            self._norms, self._norms_known = row_norms(self.metric, matrix), True
        self.matrix = matrix

    def live_rows(self, alive: np.ndarray) -> pa.Table:
        """The stored record columns of the rows ``alive`` marks, in row order (for a merge)."""
        data = _scan(self.table, [c for c in _RECORD_COLUMNS if c != "vector" or self.dense])
        return data.take(pa.array(np.flatnonzero(alive) if self._order is None else self._order[alive]))

    @property
    def postings(self) -> SparsePostings:
        """The slab's sparse vectors inverted, built on the first sparse query and then kept."""
        with self._lock:
            if self._postings is not None:
                return self._postings
        data = _scan(self.table, ["sparse_indices", "sparse_values"])
        if self._order is not None:
            data = data.take(pa.array(self._order))
        postings = SparsePostings.from_arrow(data.column("sparse_indices"), data.column("sparse_values"))
        with self._lock:
            self._postings = postings
        return postings

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Dense vectors of ``rows`` as a float32 matrix (from RAM, or read from the slab)."""
        if self.matrix is not None:
            return self.matrix[rows]
        if not len(rows):
            return np.empty((0, 0), dtype=np.float32)
        fetched = _reorder(self.table.take_offsets([int(r) for r in rows]).select(["vector", "row"]).to_arrow(),
                           rows)
        vec = fetched.column("vector").combine_chunks()
        return vec.flatten().to_numpy().reshape(-1, vec.type.list_size).astype(np.float32, copy=False)

    def rows_matching(self, flt: Filter) -> np.ndarray | None:
        """Positions of rows matching ``flt`` (pushed down to LanceDB); None means all rows."""
        sql = to_sql(flt, self.layout)
        if sql == "TRUE":
            return None
        if sql == "FALSE":
            return np.empty(0, dtype=np.int64)
        with self._lock:
            hit = self._filter_cache.get(sql)
        if hit is not None:
            return hit
        result = self.table.search().where(sql).select(["row"]).limit(None).to_arrow()
        rows = np.sort(result.column("row").to_numpy().astype(np.int64))
        with self._lock:
            if len(self._filter_cache) > 256:
                self._filter_cache.clear()
            self._filter_cache[sql] = rows
        return rows

    def read(self, rows: Sequence[int], *, values: bool, sparse: bool, metadata: bool) -> list[Record]:
        """Full records at ``rows`` (vectors from RAM when cached, the rest from LanceDB)."""
        if not len(rows):
            return []
        columns = []
        if metadata:
            columns.append("metadata")
        if sparse:
            columns += ["sparse_indices", "sparse_values"]
        need_vector = values and self.matrix is None and self.dense
        if need_vector:
            columns.append("vector")
        fetched = None
        if columns:
            # ``row`` equals the physical offset: slabs are written once, in row order, never edited.
            offsets = [int(r) for r in rows]
            fetched = self.table.take_offsets(offsets).select(columns + ["row"]).to_arrow()
            fetched = _reorder(fetched, rows)
        out: list[Record] = []
        for i, row in enumerate(rows):
            rec = Record(id=self.ids[row])
            if values:
                if self.matrix is not None:
                    rec.values = self.matrix[row]
                elif need_vector:
                    rec.values = np.asarray(fetched.column("vector")[i].values.to_numpy(), dtype=np.float32)
            if sparse:
                idx = fetched.column("sparse_indices")[i]
                if idx.is_valid:
                    rec.sparse = SparseVector(
                        np.asarray(idx.values.to_numpy(), dtype=np.uint32),
                        np.asarray(fetched.column("sparse_values")[i].values.to_numpy(), dtype=np.float32))
            if metadata:
                raw = fetched.column("metadata")[i].as_py()
                rec.metadata = None if raw is None else orjson.loads(raw)
            out.append(rec)
        return out


def _scan(table, columns: list[str]) -> pa.Table:
    """Whole columns of a slab, without reading the others (metadata JSON can dwarf them)."""
    return table.search().select(columns).limit(None).to_arrow()


def _reorder(fetched: pa.Table, rows: Sequence[int]) -> pa.Table:
    """Put the rows of ``fetched`` in the order of ``rows`` (matching on the ``row`` column)."""
    got = fetched.column("row").to_numpy()
    position = {int(r): i for i, r in enumerate(got)}
    return fetched.take(pa.array([position[int(r)] for r in rows], pa.int64()))


@dataclass(slots=True)
class SlabView:
    """A slab as one manifest sees it: its data plus which rows later writes shadowed."""

    data: SlabData
    alive: np.ndarray  # bool per row
    live_count: int
