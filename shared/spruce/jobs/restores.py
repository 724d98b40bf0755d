"""Restore: create an index from a backup (BEHAVIOR §3.14), its restore job documents, and the
``restore`` workflow.

``POST /backups/{id}/create-index`` creates the index at once, in state ``Initializing`` (data-plane
calls answer 412 until it is Ready, CP-RS-6) with the source's config (dimension, metric, vector
type, schema, embed block; CP-RS-2) and the request's name, tags (default: the backup's) and
deletion protection, then starts the workflow: one namespace per step is copied out of the backup
and committed with its LSN counter where the backup stopped (``Builder.copy_in``), and
``percent_complete`` follows the namespaces done. The last step makes the index Ready and the job
Completed; a failure marks the job Failed and the index ``InitializationFailed`` (delete it and
restore again).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from spruce.engine.indexes import index_config, require_object, required_field, validate_index_name
from spruce.engine.model import IndexConfig
from spruce.errors import FailedPreconditionError, NotFoundError
from spruce.jobs import backups, documents
from spruce.jobs.documents import Doc
from spruce.jobs.workflow import JobHost, State, Step, Workflow, live_index, register, start_or_fail

log = logging.getLogger("spruce.jobs")

KIND = "restore"
WORKFLOW = "restore"
PENDING, IN_PROGRESS, COMPLETED, FAILED = "Pending", "InProgress", "Completed", "Failed"
RUNNING = (PENDING, IN_PROGRESS)

#: The RestoreJobModel's fields, as the document stores them.
MODEL_FIELDS = ("restore_job_id", "backup_id", "target_index_name", "target_index_id", "status", "created_at",
                "completed_at", "percent_complete")


# ----------------------------------------------------------------------------- API operations


def create_index_from_backup(host: JobHost, backup_id: str, body: Any) -> Doc:
    """Validate, create the Initializing index (409 if the name is taken), store the Pending job
    and start the workflow; returns the job document."""
    backup = backups.describe(host, backup_id)
    body = require_object(body, "", "CreateIndexFromBackupRequest")
    name = validate_index_name(required_field(body, "name", str, "a string"))
    if backup["status"] != backups.READY:
        raise FailedPreconditionError(
            f"Backup {backup_id} is not ready (status {backup['status']}); restore from it once describe_backup "
            "shows Ready.")
    source = IndexConfig(**backup["index"])
    cfg = index_config(body, name=name, dimension=source.dimension, metric=source.metric,
                       vector_type=source.vector_type, cloud=source.cloud, region=source.region,
                       schema=source.metadata_schema)
    cfg.extra = source.extra  # the embed block and other config of later issues
    cfg.state = "Initializing"
    if body.get("tags") is None:
        cfg.tags = backup["tags"]
    host.engine.create_index(cfg)
    job_id = str(uuid.uuid4())
    job: Doc = {"restore_job_id": job_id, "backup_id": backup_id, "target_index_name": cfg.name,
                "target_index_id": cfg.id, "status": PENDING, "created_at": backups.now(), "completed_at": None,
                "percent_complete": 0.0}
    host.jobs.create_job(KIND, job_id, documents.encode(job))
    _launch(host, job_id)
    return job


def describe(host: JobHost, job_id: str) -> Doc:
    doc = documents.load(host.jobs, KIND, job_id)
    if doc is None:
        raise NotFoundError(f"Restore job {job_id} not found.")
    return doc


def list_page(host: JobHost, *, limit: int, token: str | None) -> tuple[list[Doc], str | None]:
    return documents.page(host.jobs, KIND, limit=limit, token=token)


def pending_from(host: JobHost, backup_id: str) -> list[str]:
    """Ids of the restore jobs still reading ``backup_id``."""
    return [job_id for job_id, body in host.jobs.list_jobs(KIND)
            if (doc := documents.decode(body))["backup_id"] == backup_id and doc["status"] in RUNNING]


def resume(host: JobHost) -> int:
    """Start again every restore a stopped process left running (each step is idempotent)."""
    running = [job_id for job_id, body in host.jobs.list_jobs(KIND) if documents.decode(body)["status"] in RUNNING]
    for job_id in running:
        _launch(host, job_id)
    return len(running)


def _launch(host: JobHost, job_id: str) -> None:
    state = {"restore_job_id": job_id}
    start_or_fail(host, WORKFLOW, f"{WORKFLOW}-{job_id}", state, lambda error: _failed(host, state, error))


# ----------------------------------------------------------------------------- the workflow


def _target(host: JobHost, job: Doc) -> IndexConfig:
    return live_index(host, job["target_index_name"], job["target_index_id"],
                      RuntimeError(f"index {job['target_index_name']} was deleted while it was being restored"))


def _copy_namespace(host: JobHost, state: State) -> State:
    """The next namespace of the backup (``state["done"]`` are done)."""
    if host.stopping.is_set():  # the embedded server is stopping: the next start takes it again
        return {**state, "more": False, "stopped": True}
    job = describe(host, state["restore_job_id"])
    backup = documents.load(host.jobs, backups.KIND, job["backup_id"])
    if backup is None:
        raise RuntimeError(f"backup {job['backup_id']} was deleted during the restore")
    cfg = _target(host, job)
    namespaces = backup["namespaces"]
    done = state.get("done", 0)
    if done < len(namespaces):
        builder = host.engine.builder
        if builder is None:
            raise RuntimeError("restores run on a host that builds slabs")
        ns = namespaces[done]
        builder.copy_in(cfg, ns["name"], job["backup_id"], None if ns["schema"] is None else ns["schema"].encode())
        done += 1

    def progress(d: Doc) -> None:
        d["status"] = IN_PROGRESS
        d["percent_complete"] = round(100.0 * done / (len(namespaces) + 1), 1)  # the last step is the +1
    documents.update(host.jobs, KIND, job["restore_job_id"], progress)
    return {**state, "done": done, "more": done < len(namespaces)}


def _finish(host: JobHost, state: State) -> State:
    if state.get("stopped"):
        return state
    job = describe(host, state["restore_job_id"])
    cfg = _target(host, job)
    if not host.engine.set_index_state(cfg, "Ready"):
        raise RuntimeError(f"index {cfg.name} was deleted while it was being restored")

    def completed(d: Doc) -> None:
        d.update(status=COMPLETED, percent_complete=100.0, completed_at=backups.now())
    documents.update(host.jobs, KIND, job["restore_job_id"], completed)
    return {**state, "more": False}


def _failed(host: JobHost, state: State, error: str) -> None:
    def failed(d: Doc) -> None:
        d.update(status=FAILED, completed_at=backups.now(), error=error)
    job = documents.update(host.jobs, KIND, state["restore_job_id"], failed)
    if job is None:
        return
    log.warning("restore job %s into %s failed: %s", job["restore_job_id"], job["target_index_name"], error)
    try:
        cfg = _target(host, job)
    except RuntimeError:  # the index went: so do the copies made for it
        host.engine.drop_stored(job["target_index_id"])
        return
    host.engine.set_index_state(cfg, "InitializationFailed")


RESTORE = register(Workflow(WORKFLOW, (Step("copy_namespace", _copy_namespace, repeats=True),
                                       Step("finish", _finish)), on_failure=_failed))
