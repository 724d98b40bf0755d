"""The live records of a log tail, laid out for scoring and listing, derived incrementally.

Every read resolves the whole unflushed tail, and under a heavy ingest the tail holds
hundreds of thousands of records while the builder flushes and merges. Built from scratch
for each new overlay (a sort of every id, a matrix copied row by row), this view made status
reads during a 1M-row ingest take 2–8 s each, and the reads' work starved the flush, so the
tail grew further (bench/read_stall.py). So a tail is derived from the previous overlay's
tail: rows stay in arrival order, a changed record appends a row and kills its old one, and
the vectors go to an append-only buffer that the chain of tails shares. A read then costs
Python work for the records that changed since the previous overlay, plus a few C-level
copies of per-row lists.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from spruce.engine.records import Record, stack_values

#: Rows of a new vector buffer, at least; buffers grow by doubling.
_MIN_CAPACITY = 1_024


class _Rows:
    """Append-only float32 rows and their squared norms, shared by a chain of tails: each tail
    reads its first ``n`` rows, and a tail whose ``n`` is the buffer's end appends in place
    (only one can: the end moves); any other appends to a copy."""

    __slots__ = ("data", "sq", "end", "_lock")

    def __init__(self, dimension: int, capacity: int) -> None:
        self.data = np.empty((capacity, dimension), dtype=np.float32)
        self.sq = np.empty(capacity, dtype=np.float32)
        self.end = 0
        self._lock = threading.Lock()

    def append(self, n: int, vectors: np.ndarray) -> _Rows:
        """A buffer whose first ``n`` rows are this one's, followed by ``vectors``."""
        k = len(vectors)
        with self._lock:
            if self.end == n and n + k <= len(self.data):
                self._write(n, vectors)
                return self
        grown = _Rows(self.data.shape[1], max(2 * (n + k), _MIN_CAPACITY))
        grown.data[:n] = self.data[:n]
        grown.sq[:n] = self.sq[:n]
        grown._write(n, vectors)
        return grown

    def _write(self, n: int, vectors: np.ndarray) -> None:
        k = len(vectors)
        self.data[n:n + k] = vectors
        self.sq[n:n + k] = np.einsum("ij,ij->i", self.data[n:n + k], self.data[n:n + k])
        self.end = n + k


def _merge_sorted(old: list[str], remove: Collection[str], insert: list[str]) -> list[str]:
    """``old`` (sorted) without ``remove`` (all in ``old``) and with ``insert`` (none in
    ``old``), sorted: slices of ``old`` between the changes, so the cost in Python is the
    number of changes."""
    if not remove and not insert:
        return old
    cuts = sorted([(bisect_left(old, rid), 1, rid) for rid in remove] +
                  [(bisect_left(old, rid), 0, rid) for rid in insert])
    out: list[str] = []
    prev = 0
    for pos, removing, rid in cuts:
        out += old[prev:pos]
        if removing:
            prev = pos + 1
        else:
            out.append(rid)
            prev = pos
    out += old[prev:]
    return out


@dataclass(slots=True)
class TailRecords:
    """Rows in arrival order; a row whose record a later entry replaced or deleted is dead.

    ``row_of`` maps each live id to its row; ``sorted_ids`` lists the live ids in order;
    ``matrix``/``sq`` are the rows' vectors and squared norms (dense indexes only)."""

    ids: list[str]
    records: list[Record]
    lsns: list[int]
    alive: np.ndarray
    row_of: dict[str, int]
    sorted_ids: list[str]
    _rows: _Rows | None

    @property
    def matrix(self) -> np.ndarray | None:
        return None if self._rows is None else self._rows.data[:len(self.ids)]

    @property
    def sq(self) -> np.ndarray | None:
        return None if self._rows is None else self._rows.sq[:len(self.ids)]

    @property
    def all_alive(self) -> bool:
        return len(self.row_of) == len(self.ids)

    def live_rows(self) -> np.ndarray:
        """The live rows, in arrival order."""
        return np.flatnonzero(self.alive)

    @staticmethod
    def build(touched: Mapping[str, tuple[Record | None, int]], dimension: int | None) -> TailRecords:
        """The tail of ``touched`` (id → (record or None if deleted, LSN)), from scratch."""
        return TailRecords([], [], [], np.zeros(0, dtype=bool), {}, [], None).derive(touched, touched, dimension)

    def derive(self, touched: Mapping[str, tuple[Record | None, int]], changed: Collection[str],
               dimension: int | None) -> TailRecords:
        """The tail of ``touched``, given that this is the tail of an earlier ``touched`` that
        differs from it at most for the ids in ``changed``."""
        n = len(self.ids)
        was_live = [rid for rid in changed if rid in self.row_of]
        dying = [self.row_of[rid] for rid in was_live]
        born = [rid for rid in changed if rid in touched and touched[rid][0] is not None]
        live = len(self.row_of) - len(dying) + len(born)
        if n - len(self.row_of) + len(dying) > max(live, _MIN_CAPACITY):  # more dead rows than live: drop them
            return self._compacted(dying).derive(touched, changed, dimension)
        records = [touched[rid][0] for rid in born]
        row_of = dict(self.row_of)
        for rid in was_live:
            del row_of[rid]
        row_of.update(zip(born, range(n, n + len(born))))
        alive = np.concatenate([self.alive, np.ones(len(born), dtype=bool)])
        alive[dying] = False
        rows = self._rows
        if dimension is not None and born:
            rows = (rows or _Rows(dimension, _MIN_CAPACITY)).append(n, stack_values(records, dimension))
        born_set = set(born)
        gone = [rid for rid in was_live if rid not in born_set]
        new = sorted(rid for rid in born if rid not in self.row_of)
        return TailRecords(self.ids + born, self.records + records, self.lsns + [touched[rid][1] for rid in born],
                           alive, row_of, _merge_sorted(self.sorted_ids, gone, new), rows)

    def _compacted(self, dying: list[int]) -> TailRecords:
        """This tail without its dead rows and without ``dying``."""
        alive = self.alive.copy()
        alive[dying] = False
        keep = np.flatnonzero(alive)
        ids = [self.ids[p] for p in keep]
        rows = None
        if self._rows is not None:
            rows = _Rows(self._rows.data.shape[1], max(2 * len(keep), _MIN_CAPACITY))
            rows._write(0, self._rows.data[keep])
        return TailRecords(ids, [self.records[p] for p in keep], [self.lsns[p] for p in keep],
                           np.ones(len(keep), dtype=bool), dict(zip(ids, range(len(ids)))), sorted(ids), rows)
