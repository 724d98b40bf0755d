"""The small ports the engine talks to. Adapters must honour every sentence of these docstrings;
``tests/contract`` holds the local (SQLite) and the AWS (DynamoDB + S3) adapters to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # only slab stores see Arrow tables; the API functions import this module without pyarrow
    import pyarrow as pa


#: Log entry kinds that make their namespace exist (the records they write are in it).
CREATING_KINDS = ("upsert", "ingest")


@dataclass(slots=True)
class RawLogEntry:
    lsn: int
    kind: str
    payload: bytes


@dataclass(slots=True)
class TailRead:
    """Log entries past some LSN plus the namespace's newest LSN, read consistently."""

    entries: list[RawLogEntry]
    last_lsn: int


@dataclass(slots=True)
class NamespaceRow:
    name: str
    last_lsn: int
    exists: bool
    schema: bytes | None = None  # set by an explicit create (2025-10), cleared when the namespace is dropped


class RequestLog(Protocol):
    def append(self, index_id: str, namespace: str, kind: str, payload: bytes) -> int:
        """Durably append one entry and return its LSN.

        LSNs are per (index, namespace), start at 1, strictly increase and are gap-free
        under any number of concurrent writers (threads or processes); an LSN is never
        reused, even after the namespace is deleted. When this returns the entry survives
        any crash. ``kind == "drop_namespace"`` marks the namespace as not existing and clears
        its schema; a kind in ``CREATING_KINDS`` marks it existing."""

    def create_namespace(self, index_id: str, namespace: str, schema: bytes | None) -> bool:
        """Mark a namespace existing with ``schema``, atomically, unless it already exists
        (then return False and change nothing). Takes no LSN: it holds no records, and its
        LSN counter (kept across a drop) is untouched."""

    def restore_namespace(self, index_id: str, namespace: str, last_lsn: int, schema: bytes | None) -> bool:
        """Create a namespace existing with ``schema`` and its LSN counter at ``last_lsn`` (its
        entries up to there are in a manifest restored from a backup), unless the namespace was
        ever known (then return False and change nothing). The next append gets ``last_lsn + 1``."""

    def read_tail(self, index_id: str, namespace: str, after_lsn: int) -> TailRead:
        """Entries with LSN > ``after_lsn`` in LSN order, and the namespace's last LSN.

        Entries at or below a flushed LSN may have been truncated; callers detect that by
        checking the entries are exactly ``after_lsn+1 .. last_lsn`` and retry with a newer
        manifest."""

    def truncate(self, index_id: str, namespace: str, upto_lsn: int) -> None:
        """Forget entries with LSN ≤ ``upto_lsn`` (they are in a committed manifest). Forgotten
        entries may stay readable for a while (a grace period for readers that pinned an older
        manifest) or vanish at once; entries above ``upto_lsn`` are untouched."""

    def namespaces(self, index_id: str) -> list[NamespaceRow]:
        """Every namespace that ever had a write or a ``create_namespace``, whether it exists now
        or not, sorted by name bitwise (by UTF-8 bytes)."""

    def namespace(self, index_id: str, namespace: str) -> NamespaceRow | None: ...


class ManifestStore(Protocol):
    def load_manifest(self, index_id: str, namespace: str) -> tuple[int, bytes] | None:
        """(version, body) of the namespace's current manifest, or None before the first flush."""

    def commit_manifest(self, index_id: str, namespace: str, expected_version: int, body: bytes) -> bool:
        """Atomically install ``body`` as version ``expected_version + 1`` if the current
        version is ``expected_version`` (0 = none yet). Returns False on a lost race."""


class Catalog(Protocol):
    def put_index(self, name: str, index_id: str, body: bytes, *, create: bool) -> bool:
        """Store an index config. ``create=True`` fails (returns False) if the name exists;
        ``create=False`` fails if it does not, or if it now names another ``index_id``."""

    def get_index(self, name: str) -> bytes | None: ...

    def list_indexes(self) -> list[bytes]: ...

    def delete_index(self, name: str, index_id: str) -> None:
        """Remove the index and everything the catalog, log and manifests hold for ``index_id``.
        The name's catalog entry goes only if it still names ``index_id``."""

    def add_api_key_hash(self, key_hash: str) -> None: ...

    def has_api_key_hash(self, key_hash: str) -> bool: ...


class JobStore(Protocol):
    """Durable documents of long-running work (bulk imports, backups, restore jobs): one body
    per (kind, id), versioned so that a cancel and a worker's progress report can never
    overwrite each other (optimistic, like manifests)."""

    def next_job_number(self, kind: str) -> int:
        """The next value of a per-kind counter (1, 2, ...): never the same twice, even across
        processes. For ids users read, like Pinecone's numeric import ids."""

    def create_job(self, kind: str, job_id: str, body: bytes) -> bool:
        """Store a new job as version 1; False if ``(kind, job_id)`` exists."""

    def load_job(self, kind: str, job_id: str) -> tuple[int, bytes] | None:
        """(version, body), or None if there is no such job."""

    def update_job(self, kind: str, job_id: str, expected_version: int, body: bytes) -> bool:
        """Install ``body`` as version ``expected_version + 1`` if the job is at
        ``expected_version``; False on a lost race or if the job is gone."""

    def list_jobs(self, kind: str, *, after: str | None = None, limit: int | None = None) -> list[tuple[str, bytes]]:
        """(id, body) of the kind's jobs in bitwise id order, starting after ``after``, at most
        ``limit`` (None: all)."""

    def delete_job(self, kind: str, job_id: str) -> None:
        """Remove the job; a missing job is not an error."""


class SlabStore(Protocol):
    """Immutable slab datasets and tombstone sets, addressed by (index id, namespace key, name)."""

    def write_slab(self, index_id: str, ns_key: str, slab_id: str, table: pa.Table) -> None:
        """Write a new slab. Never overwrites: slab ids are unique."""

    def open_slab(self, index_id: str, ns_key: str, slab_id: str):  # -> lancedb.table.Table
        ...

    def build_vector_index(self, index_id: str, ns_key: str, slab_id: str, metric: str, rows: int) -> None:
        """Build the ANN index of a slab, before the manifest that references it is committed."""

    def write_tombstones(self, index_id: str, ns_key: str, name: str, ids: list[str]) -> None: ...

    def read_tombstones(self, index_id: str, ns_key: str, name: str) -> list[str]: ...

    def list_objects(self, index_id: str, ns_key: str) -> list[str]:
        """Names of every slab and tombstone set stored for the namespace (for garbage collection)."""

    def delete_object(self, index_id: str, ns_key: str, name: str) -> None: ...

    def copy_object(self, src_index_id: str, ns_key: str, name: str, dst_index_id: str) -> int:
        """Copy one stored object (``slab-<id>`` or ``tomb-<name>``, as ``list_objects`` names
        them) byte for byte, ANN index included, to the same place under ``dst_index_id``; return
        its size in bytes. Copying again replaces the copy with the same bytes (idempotent)."""

    def drop_index(self, index_id: str) -> None: ...
