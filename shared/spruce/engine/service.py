"""``Spruce``: the engine's one entry point. API routers and Lambda handlers call it; it
owns the write path (validate → append to the request log → answer with the LSN), the
read path (snapshot = pinned manifest + log tail) and the control plane's catalog rules.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import orjson

from spruce.engine.embed import configure_embed
from spruce.engine.filters import Filter
from spruce.engine.indexes import ConfigureRequest
from spruce.engine.metadata import HIDDEN_PREFIX, visible
from spruce.engine.model import IndexConfig, Match, NamespaceInfo, QuerySpec, ReadResult, WriteResult
from spruce.engine.namespaces import NamespaceCache
from spruce.engine.records import (
    DeleteAll, DeleteByFilter, DeleteIds, Ingest, Operation, Record, Update, UpdateByFilter, Upsert, encode_op,
)
from spruce.engine.snapshot import Snapshot
from spruce.errors import (
    AlreadyExistsError, FailedPreconditionError, ForbiddenError, InvalidArgumentError, NotFoundError,
)
from spruce.keys import hash_api_key
from spruce.storage.ports import Catalog, NamespaceRow, RequestLog

if TYPE_CHECKING:  # the builder (and LanceDB) exist only on hosts that build slabs in-process
    from spruce.engine.builder import Builder
    from spruce.engine.slabs import RecordColumns
    from spruce.inference.service import InferenceService

log = logging.getLogger("spruce.engine")

#: An index by name, or its config as already read for this request.
IndexRef = str | IndexConfig

DELETION_PROTECTED = (
    "Deletion protection is enabled for this index. Disable deletion protection before retrying."
)


class Spruce:
    """``cache`` reads namespaces (manifest + log tail + slabs, local or on executors);
    ``drop_slabs`` removes an index's stored slabs; ``builder`` (hosts that build slabs in
    this process) serves explicit flush and compaction."""

    def __init__(self, *, catalog: Catalog, log_store: RequestLog, cache: NamespaceCache,
                 drop_slabs: Callable[[str], None], builder: Builder | None = None) -> None:
        self._catalog = catalog
        self._log = log_store
        self._cache = cache
        self._drop_slabs = drop_slabs
        self.builder = builder

    # ================================================================== control plane

    def create_index(self, cfg: IndexConfig) -> IndexConfig:
        if not self._catalog.put_index(cfg.name, cfg.id, _encode_cfg(cfg), create=True):
            raise AlreadyExistsError("Resource already exists.")
        return cfg

    def describe_index(self, name: str) -> IndexConfig:
        body = self._catalog.get_index(name)
        if body is None:
            raise NotFoundError(f"Index {name} not found.")
        return _decode_cfg(body)

    def _config(self, index: IndexRef) -> IndexConfig:
        """An index named by the caller, or the config it already read (a router that validated the
        request against it): one catalog read per request, a consistent GetItem on AWS."""
        return index if isinstance(index, IndexConfig) else self.describe_index(index)

    def index_if_same(self, name: str, index_id: str) -> IndexConfig | None:
        """The index named ``name`` if it is still the one with ``index_id``: a long job's index
        may be deleted, or deleted and re-created under the same name, while it runs."""
        body = self._catalog.get_index(name)
        cfg = None if body is None else _decode_cfg(body)
        return cfg if cfg is not None and cfg.id == index_id else None

    def list_indexes(self) -> list[IndexConfig]:
        return [_decode_cfg(b) for b in self._catalog.list_indexes()]

    def configure_index(self, name: str, change: ConfigureRequest, models: InferenceService) -> IndexConfig:
        """Apply a validated ``PATCH /indexes/{name}``: every rule is checked against the
        stored config (an ``embed`` change against the host's ``models``) before the one
        catalog write, so a rejected change writes nothing."""
        cfg = self.describe_index(name)
        if change.embed is not None:
            cfg.extra["embed"] = configure_embed(cfg, change.embed, change.embed_field, models)
        if change.deletion_protection is not None:
            cfg.deletion_protection = change.deletion_protection
        if change.tags is not None:
            merged = {**(cfg.tags or {}), **change.tags}
            cfg.tags = {k: v for k, v in merged.items() if v != ""} or None
        if not self._catalog.put_index(cfg.name, cfg.id, _encode_cfg(cfg), create=False):
            raise NotFoundError(f"Index {name} not found.")
        return cfg

    def set_index_state(self, cfg: IndexConfig, state: str) -> bool:
        """Move an index to ``state`` (a restore: Initializing → Ready); False if the index is gone."""
        cfg.state = state
        return self._catalog.put_index(cfg.name, cfg.id, _encode_cfg(cfg), create=False)

    def namespace_rows(self, cfg: IndexConfig) -> list[NamespaceRow]:
        """Every namespace the log knows for the index (existing or dropped), sorted by name."""
        return self._log.namespaces(cfg.id)

    def drop_stored(self, stored_id: str) -> None:
        """Delete the manifests and objects stored under an id that names no index (a backup's)."""
        self._catalog.delete_index("", stored_id)
        self._drop_slabs(stored_id)

    def delete_index(self, name: str) -> None:
        cfg = self.describe_index(name)
        if cfg.deletion_protection == "enabled":
            raise ForbiddenError(DELETION_PROTECTED)
        self._catalog.delete_index(name, cfg.id)
        self._cache.forget_index(cfg.id)
        self._drop_slabs(cfg.id)

    # ================================================================== auth

    def register_api_key(self, plaintext: str) -> None:
        self._catalog.add_api_key_hash(hash_api_key(plaintext))

    def authenticate(self, api_key: str) -> bool:
        # Keys are stored as SHA-256 digests and looked up by digest: the plaintext never
        # reaches storage, and the lookup's timing depends only on the digest.
        return self._catalog.has_api_key_hash(hash_api_key(api_key))

    # ================================================================== writes

    def _write(self, index: IndexRef, namespace: str, op: Operation) -> WriteResult:
        cfg = _ready(self._config(index))
        kind, payload = encode_op(op)
        lsn = self._log.append(cfg.id, namespace, kind, payload)
        row = self._log.namespace(cfg.id, namespace)
        return WriteResult(lsn, max(lsn, row.last_lsn if row else lsn))

    def upsert(self, index: IndexRef, namespace: str, records: list[Record]) -> WriteResult:
        return self._write(index, namespace, Upsert(records))

    def ingest(self, index: IndexRef, namespace: str, records: RecordColumns) -> WriteResult:
        """Upsert ``records`` (unique ids) the bulk way: written as a slab, then one ``Ingest``
        log entry (durable from here, with its LSN), then flushed, so they are visible when this
        returns. The data is written once, with no
        log payload to encode, decode and write again (bulk imports)."""
        builder = self._require_builder()
        cfg = _ready(self._config(index))
        ref = builder.write_ingest_slab(cfg, namespace, records)
        try:
            result = self._write(cfg, namespace, Ingest(ref.slab_id, ref.rows))
        except BaseException:
            builder.drop_ingest_slab(cfg, namespace, ref)
            raise
        builder.flush_through(cfg, namespace, result.lsn)
        return result

    def update(self, index: IndexRef, namespace: str, upd: Update) -> WriteResult:
        return self._write(index, namespace, upd)

    def update_by_filter(self, index: IndexRef, namespace: str, flt: Filter, set_metadata: dict,
                         *, dry_run: bool = False) -> tuple[int, WriteResult | None]:
        """Merge ``set_metadata`` into every record matching ``flt`` (DP-U-8/9). Returns how many
        records match now and, unless ``dry_run``, the write. Unlike Pinecone's 100,000-record
        batches (DP-U-10), one request updates every match: the log entry carries the filter and
        is applied at its LSN, so the whole update becomes visible at once."""
        cfg = self._config(index)
        matched = len(self._snapshot(cfg, namespace).matching_ids(flt))
        if dry_run:
            return matched, None
        return matched, self._write(cfg, namespace, UpdateByFilter(flt.document, set_metadata))

    def delete(self, index: IndexRef, namespace: str, *, ids: list[str] | None = None, filter: Filter | None = None,
               delete_all: bool = False) -> WriteResult:
        if delete_all:
            return self._write(index, namespace, DeleteAll())
        if filter is not None:
            return self._write(index, namespace, DeleteByFilter(filter.document))
        if ids:
            return self._write(index, namespace, DeleteIds(list(ids)))
        raise InvalidArgumentError("Delete requires one of ids, filter or deleteAll.")

    def delete_namespace(self, index: IndexRef, namespace: str) -> WriteResult:
        cfg = self._config(index)
        row = self._log.namespace(cfg.id, namespace)
        if row is None or not row.exists:
            raise NotFoundError(f"Namespace {namespace} not found.")
        return self._write(index, namespace, DeleteAll(drop_namespace=True))

    # ================================================================== reads

    def _snapshot(self, cfg: IndexConfig, namespace: str) -> Snapshot:
        _ready(cfg)
        return self._cache.snapshot(cfg.id, namespace, metric=cfg.metric, dimension=cfg.dimension)

    def query(self, index: IndexRef, namespace: str, q: QuerySpec) -> ReadResult[list[Match]]:
        cfg = self._config(index)
        snap = self._snapshot(cfg, namespace)
        matches = snap.query(q)
        for m in matches:  # fresh per query; the metadata dict itself is shared, so it is replaced
            m.metadata = visible(m.metadata)
        return ReadResult(matches, snap.max_lsn, snap.manifest.flushed_lsn)

    def fetch(self, index: IndexRef, namespace: str, ids: list[str]) -> ReadResult[dict[str, Record]]:
        snap = self._snapshot(self._config(index), namespace)
        return ReadResult(_visible(snap.fetch(ids)), snap.max_lsn, snap.manifest.flushed_lsn)

    def fetch_by_metadata(self, index: IndexRef, namespace: str, flt: Filter, *, limit: int,
                          token: str | None) -> ReadResult[tuple[dict[str, Record], str | None]]:
        """Records matching ``flt`` in id order, ``limit`` per page (DP-FM-1/2)."""
        snap = self._snapshot(self._config(index), namespace)
        after = _decode_token(token)
        ids = snap.matching_ids(flt)
        if after is not None:
            ids = ids[bisect_right(ids, after):]
        page = ids[:limit]
        nxt = _encode_token(page[-1]) if len(ids) > limit else None
        return ReadResult((_visible(snap.fetch(page)), nxt), snap.max_lsn, snap.manifest.flushed_lsn)

    def list_ids(self, index: IndexRef, namespace: str, *, prefix: str | None, limit: int,
                 token: str | None) -> ReadResult[tuple[list[str], str | None]]:
        snap = self._snapshot(self._config(index), namespace)
        ids, more = snap.list_ids(prefix, _decode_token(token), limit)
        nxt = _encode_token(ids[-1]) if more and ids else None
        return ReadResult((ids, nxt), snap.max_lsn, snap.manifest.flushed_lsn)

    def stats(self, index: IndexRef) -> ReadResult[dict[str, int]]:
        cfg = self._config(index)
        counts: dict[str, int] = {}
        max_lsn = reconciled = 0
        for row in self._log.namespaces(cfg.id):
            if not row.exists:
                continue
            snap = self._snapshot(cfg, row.name)
            max_lsn, reconciled = max(max_lsn, snap.max_lsn), max(reconciled, snap.manifest.flushed_lsn)
            if snap.record_count:
                counts[row.name] = snap.record_count
        return ReadResult(counts, max_lsn, reconciled)

    def create_namespace(self, index: IndexRef, namespace: str, schema: dict | None) -> NamespaceInfo:
        """Create an empty namespace (2025-10, DP-NSA-4); 409 if it exists."""
        cfg = self._config(index)
        body = None if schema is None else json.dumps(schema, separators=(",", ":")).encode()
        if not self._log.create_namespace(cfg.id, namespace, body):
            raise AlreadyExistsError(f"Namespace {namespace} already exists.")
        return self._namespace_info(cfg, self._log.namespace(cfg.id, namespace))

    def list_namespaces(self, index: IndexRef, *, limit: int, token: str | None,
                        prefix: str | None = None) -> tuple[list[NamespaceInfo], str | None, int]:
        """A page of namespaces after ``token``, the next token, and how many match ``prefix``."""
        cfg = self._config(index)
        after = _decode_token(token)
        matching = [r for r in self._log.namespaces(cfg.id)
                    if r.exists and (prefix is None or r.name.startswith(prefix))]
        rows = [r for r in matching if after is None or r.name > after]
        page = rows[:limit]
        nxt = _encode_token(page[-1].name) if len(rows) > limit else None
        return [self._namespace_info(cfg, r) for r in page], nxt, len(matching)

    def describe_namespace(self, index: IndexRef, namespace: str) -> NamespaceInfo:
        cfg = self._config(index)
        row = self._log.namespace(cfg.id, namespace)
        if row is None or not row.exists:
            raise NotFoundError(f"Namespace {namespace} not found.")
        return self._namespace_info(cfg, row)

    def _namespace_info(self, cfg: IndexConfig, row: NamespaceRow) -> NamespaceInfo:
        """A namespace's count, schema (its own, else the index's: CP-SCH-4) and metadata keys."""
        snap = self._snapshot(cfg, row.name)
        schema = json.loads(row.schema) if row.schema is not None else cfg.metadata_schema
        keys = [k for k in snap.metadata_keys() if not k.startswith(HIDDEN_PREFIX)]
        return NamespaceInfo(row.name, snap.record_count, schema, keys)

    # ================================================================== maintenance

    def flush(self, index: IndexRef, namespace: str) -> bool:
        """Flush a namespace's tail now (tests, benchmarks, shutdown)."""
        return self._require_builder().flush(self._config(index), namespace)

    def compact(self, index: IndexRef, namespace: str, *, force: bool = False) -> bool:
        return self._require_builder().compact(self._config(index), namespace, force=force)

    def collect_garbage(self, index: IndexRef, namespace: str) -> bool:
        """Delete the namespace's retired objects whose grace period is over."""
        return self._require_builder().collect_garbage(self._config(index), namespace)

    def _require_builder(self) -> Builder:
        if self.builder is None:
            raise RuntimeError("this host builds slabs elsewhere (the index builder function)")
        return self.builder

    def close(self) -> None:
        """Release what the host holds (the embedded host stops its background builder)."""


def _visible(records: dict[str, Record]) -> dict[str, Record]:
    """Records as returned to users: without the engine's hidden metadata keys. Snapshot
    records may be shared (the tail cache), so changed ones are copies."""
    out = {}
    for rid, rec in records.items():
        md = visible(rec.metadata)
        out[rid] = rec if md is rec.metadata else replace(rec, metadata=md)
    return out


def _ready(cfg: IndexConfig) -> IndexConfig:
    """Data-plane calls need a Ready index: a restore fills the others' namespaces."""
    if cfg.state == "Ready":
        return cfg
    if cfg.state == "Initializing":
        raise FailedPreconditionError(
            f"Index {cfg.name} is not ready: it is being restored from a backup. Wait until describe_index "
            "shows it ready (or the restore job Completed), then retry.")
    raise FailedPreconditionError(
        f"Index {cfg.name} is not usable (state {cfg.state}): its restore from a backup failed; "
        "describe the restore job for the reason, delete the index and restore again.")


def _encode_cfg(cfg: IndexConfig) -> bytes:
    return json.dumps(asdict(cfg), separators=(",", ":")).encode()


def _decode_cfg(body: bytes) -> IndexConfig:
    return IndexConfig(**orjson.loads(body))


def _encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last}).encode()).decode()


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgumentError("paginationToken is not valid; pass the token from the previous response.")
