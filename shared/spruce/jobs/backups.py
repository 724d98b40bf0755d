"""Backups of serverless indexes (BEHAVIOR §3.13): their documents, the API's operations on them,
and the ``backup`` workflow that takes them.

A backup is one namespace after another, each at one LSN: the workflow flushes the namespace's
log tail (every write acknowledged before the step started, so nothing acknowledged before the
backup was requested is missing: stronger than Pinecone's 15-minute lag, CP-BK-3), then copies
the objects of the manifest that holds them, and that manifest, under the backup's id
(``Builder.copy_out``). The copy belongs to the backup: the source may compact, collect garbage
or be deleted. While it copies, a GC hold (``spruce.engine.holds``) keeps every object the
source's manifests retire.

The document (kind ``backup``, id a UUID as Pinecone's) holds the BackupModel fields, the source
index's config (what a restore recreates, embed block and schema included) and one entry per
namespace: name, LSN, record count, schema, bytes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from spruce.engine.holds import GcHolds
from spruce.engine.indexes import require_object, typed_field
from spruce.engine.model import IndexConfig
from spruce.errors import FailedPreconditionError, NotFoundError
from spruce.jobs import documents
from spruce.jobs.documents import Doc
from spruce.jobs.workflow import JobHost, State, Step, Workflow, live_index, register, start_or_fail

log = logging.getLogger("spruce.jobs")

KIND = "backup"
WORKFLOW = "backup"
PENDING, READY, FAILED = "Pending", "Ready", "Failed"

#: The BackupModel's fields, as the document stores them (``schema`` only from 2025-10).
MODEL_FIELDS = ("backup_id", "source_index_name", "source_index_id", "name", "description", "status", "cloud",
                "region", "dimension", "metric", "record_count", "namespace_count", "size_bytes", "tags",
                "created_at", "schema")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- API operations


def create(host: JobHost, index_name: str, body: Any) -> Doc:
    """``POST /indexes/{index}/backups``: store the Pending document, hold the index's garbage and
    start the workflow."""
    body = require_object(body, "", "CreateBackupRequest")
    name = typed_field(body, "name", str, "a string")
    description = typed_field(body, "description", str, "a string")
    cfg = host.engine.describe_index(index_name)
    if cfg.state != "Ready":
        raise FailedPreconditionError(
            f"Index {cfg.name} is not ready (state {cfg.state}); back it up once describe_index shows it ready.")
    backup_id = str(uuid.uuid4())
    doc: Doc = {
        "backup_id": backup_id, "source_index_name": cfg.name, "source_index_id": cfg.id, "name": name,
        "description": description, "status": PENDING, "cloud": cfg.cloud, "region": cfg.region,
        "dimension": cfg.dimension or 0,  # sparse indexes report 0 (CP-BK-5)
        "metric": cfg.metric, "record_count": 0, "namespace_count": 0, "size_bytes": 0, "tags": cfg.tags,
        "created_at": now(), "schema": cfg.metadata_schema, "index": asdict(cfg), "namespaces": [],
    }
    GcHolds(host.jobs).hold(cfg.id, backup_id)  # before any manifest is read
    host.jobs.create_job(KIND, backup_id, documents.encode(doc))
    _launch(host, backup_id)
    return doc


def describe(host: JobHost, backup_id: str) -> Doc:
    doc = documents.load(host.jobs, KIND, backup_id)
    if doc is None:
        raise NotFoundError(f"Backup {backup_id} not found.")
    return doc


def list_page(host: JobHost, *, index_name: str | None, limit: int, token: str | None) -> tuple[list[Doc], str | None]:
    """The project's backups, or one index's (404 for an unknown index), in id order."""
    if index_name is None:
        return documents.page(host.jobs, KIND, limit=limit, token=token)
    cfg = host.engine.describe_index(index_name)
    return documents.page(host.jobs, KIND, limit=limit, token=token,
                          keep=lambda doc: doc["source_index_id"] == cfg.id)


def delete(host: JobHost, backup_id: str) -> None:
    """``DELETE /backups/{id}``: 412 while it is being taken or a restore reads it (CP-BK-7)."""
    from spruce.jobs import restores  # restores build on backups

    doc = describe(host, backup_id)
    if doc["status"] == PENDING:
        raise FailedPreconditionError(
            f"Unable to delete backup. Backup {backup_id} is still being created; delete it once "
            "describe_backup shows Ready or Failed.")
    pending = restores.pending_from(host, backup_id)
    if pending:
        raise FailedPreconditionError(
            f"Unable to delete backup. There are pending restore jobs for this backup: {pending!r}")
    host.engine.drop_stored(backup_id)
    host.jobs.delete_job(KIND, backup_id)


def resume(host: JobHost) -> int:
    """Start again every backup a stopped process left Pending (each step is idempotent)."""
    started = 0
    for job_id, body in host.jobs.list_jobs(KIND):
        if documents.decode(body)["status"] == PENDING:
            _launch(host, job_id)
            started += 1
    return started


def _launch(host: JobHost, backup_id: str) -> None:
    state = {"backup_id": backup_id}
    start_or_fail(host, WORKFLOW, f"{WORKFLOW}-{backup_id}", state, lambda error: _failed(host, state, error))


# ----------------------------------------------------------------------------- the workflow


def _source(host: JobHost, doc: Doc) -> IndexConfig:
    return live_index(host, doc["source_index_name"], doc["source_index_id"],
                      RuntimeError(f"index {doc['source_index_name']} was deleted while it was being backed up"))


def _copy_namespace(host: JobHost, state: State) -> State:
    """One namespace per call, in name order after ``state["after"]``."""
    if host.stopping.is_set():  # the embedded server is stopping: the next start takes it again
        return {**state, "more": False, "stopped": True}
    backup_id = state["backup_id"]
    doc = describe(host, backup_id)
    cfg = _source(host, doc)
    after = state.get("after")
    rows = [r for r in host.engine.namespace_rows(cfg) if r.exists and (after is None or r.name > after)]
    if not rows:
        return {**state, "more": False}
    row = rows[0]
    builder = host.engine.builder
    if builder is None:
        raise RuntimeError("backups run on a host that builds slabs")
    manifest, size = builder.copy_out(cfg, row.name, backup_id)
    entry = {"name": row.name, "lsn": manifest.flushed_lsn, "record_count": manifest.record_count,
             "schema": None if row.schema is None else row.schema.decode(), "size_bytes": size}

    def add(d: Doc) -> None:
        d["namespaces"] = [n for n in d["namespaces"] if n["name"] != row.name] + [entry]
    documents.update(host.jobs, KIND, backup_id, add)
    return {**state, "after": row.name, "more": True}


def _finish(host: JobHost, state: State) -> State:
    if state.get("stopped"):
        return state

    def ready(d: Doc) -> None:
        d["status"] = READY
        d["namespace_count"] = len(d["namespaces"])
        d["record_count"] = sum(n["record_count"] for n in d["namespaces"])
        d["size_bytes"] = sum(n["size_bytes"] for n in d["namespaces"])
    doc = documents.update(host.jobs, KIND, state["backup_id"], ready)
    if doc is not None:
        GcHolds(host.jobs).release(doc["source_index_id"], state["backup_id"])
    return {**state, "more": False}


def _failed(host: JobHost, state: State, error: str) -> None:
    """The backup says Failed and why; its partial copy goes and the source's garbage is free again."""
    def failed(d: Doc) -> None:
        d["status"] = FAILED
        d["error"] = error
    doc = documents.update(host.jobs, KIND, state["backup_id"], failed)
    if doc is None:
        return
    log.warning("backup %s of %s failed: %s", state["backup_id"], doc["source_index_name"], error)
    host.engine.drop_stored(state["backup_id"])
    GcHolds(host.jobs).release(doc["source_index_id"], state["backup_id"])


BACKUP = register(Workflow(WORKFLOW, (Step("copy_namespace", _copy_namespace, repeats=True),
                                      Step("finish", _finish)), on_failure=_failed))
