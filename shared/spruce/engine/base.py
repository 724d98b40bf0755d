"""The base of a snapshot: the live rows of one manifest's slabs, wherever they are read.

A ``Snapshot`` resolves the log tail itself and asks its base only for what the slabs
hold. Two implementations answer the same questions: ``slabset.SlabSet`` reads the slabs
in this process (embedded server, index builder, query executors), and
``executors.RemoteSlabSet`` fans each question out to query-executor functions, one per
group of slabs, and merges their answers (the AWS data-plane router, which never imports
LanceDB). The model-based engine tests run against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from spruce.engine.filters import Filter
from spruce.engine.manifest import Manifest
from spruce.engine.records import Record
from spruce.engine.scoring import ResolvedQuery


@dataclass(slots=True, eq=False)
class Hidden:
    """Base ids the log tail shadows (newer versions or deletes). Derived views (per-slab
    masks) are memoised in ``cache``, so one overlay's reads compute them once, and they are
    derived from ``earlier``'s (the previous overlay's, if it had any) for the ids in
    ``changed``: those whose membership may differ between the two."""

    ids: frozenset[str]
    earlier: Hidden | None = None
    changed: frozenset[str] = frozenset()
    cache: dict = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class Hit:
    """A query candidate from a slab: enough to rank it and to read its body later. Not
    frozen: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    2.7x the cost, and every query builds ``top_k`` of these per slab."""

    score: float
    id: str
    slab_id: str
    row: int


class SlabReader(Protocol):
    """Questions about a manifest's slabs (tombstones applied). Methods taking ``hidden``
    also leave out the rows it names; the others answer for every live slab row."""

    @property
    def live_count(self) -> int: ...

    def get(self, ids: Sequence[str], *, values: bool = True, metadata: bool = True) -> dict[str, Record]: ...

    def count_present(self, ids: Sequence[str]) -> int:
        """How many of ``ids`` have a live row."""

    def ids_matching(self, flt: Filter) -> set[str]: ...

    def search(self, q: ResolvedQuery, k: int, flt: Filter | None, hidden: Hidden) -> list[Hit]:
        """Up to ``k`` best visible rows per slab group (not yet merged across groups)."""

    def read_hits(self, hits: Sequence[Hit], *, values: bool, metadata: bool) -> list[Record]:
        """The bodies of ``hits``, in order."""

    def list_ids(self, prefix: str, after: str | None, want: int, hidden: Hidden) -> list[str]:
        """Up to ``want`` visible ids in bitwise order, > ``after``, starting with ``prefix``."""

    def matching_ids(self, flt: Filter, hidden: Hidden) -> list[str]:
        """Every visible id whose metadata matches ``flt`` (any order)."""

    def metadata_keys(self, hidden: Hidden) -> set[str]: ...


class SlabAccess(Protocol):
    """Where a process reads slabs from: its own slab cache, or remote executors."""

    def open(self, index_id: str, namespace: str, manifest: Manifest, *, metric: str,
             dimension: int | None) -> SlabReader: ...

    def forget_slabs(self, index_id: str, slab_ids: set[str]) -> None: ...

    def forget_index(self, index_id: str) -> None: ...
