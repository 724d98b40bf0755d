"""Typed values that cross the engine boundary: index configs, queries, matches, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from spruce.engine.records import Record, SparseVector

T = TypeVar("T")

DEFAULT_NAMESPACE = "__default__"


@dataclass(slots=True)
class IndexConfig:
    """What the catalog stores for an index (the IndexModel minus the host)."""

    name: str
    id: str
    dimension: int | None
    metric: str  # cosine | euclidean | dotproduct
    vector_type: str  # dense | sparse
    cloud: str
    region: str
    deletion_protection: str = "disabled"
    tags: dict[str, str] | None = None
    state: str = "Ready"
    created_at: str = ""
    #: 2025-10 metadata schema, ``{"fields": {name: {"filterable": true}}}`` (CP-SCH-1); None = all fields
    metadata_schema: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # room for embed / schema (later issues)


@dataclass(slots=True)
class QuerySpec:
    """A validated query. Exactly one of ``vector``/``sparse``/``id`` drives it (``vector``
    and ``sparse`` together make a hybrid query)."""

    top_k: int
    vector: np.ndarray | None = None
    sparse: SparseVector | None = None
    id: str | None = None
    filter: Any = None  # spruce.engine.filters.Filter | None
    include_values: bool = False
    include_metadata: bool = False
    scan_factor: float | None = None  # 2025-10: widens (>1) or narrows (<1) the ANN probe
    max_candidates: int | None = None  # 2025-10: cap on ANN candidates re-ranked exactly


@dataclass(slots=True)
class Match:
    id: str
    score: float
    values: np.ndarray | None = None
    sparse: SparseVector | None = None
    metadata: dict[str, Any] | None = None


@dataclass(slots=True)
class WriteResult:
    """``lsn`` is this write's LSN; ``committed_lsn`` the namespace's newest LSN at answer time."""

    lsn: int
    committed_lsn: int


@dataclass(slots=True)
class ReadResult(Generic[T]):
    """``max_lsn``: every write up to it is reflected in ``value`` (read-your-writes).
    ``reconciled_lsn``: writes up to it are flushed into slabs (indexed)."""

    value: T
    max_lsn: int
    reconciled_lsn: int


@dataclass(slots=True)
class NamespaceInfo:
    name: str
    record_count: int
    schema: dict[str, Any] | None = None  # the namespace's own schema, else the index's
    indexed_fields: list[str] | None = None  # metadata keys present (all are filterable)


__all__ = [
    "DEFAULT_NAMESPACE", "IndexConfig", "QuerySpec", "Match", "WriteResult", "ReadResult",
    "NamespaceInfo", "Record", "SparseVector",
]
