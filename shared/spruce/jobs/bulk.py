"""Bulk import and export jobs: their documents, and what the API does with them (BEHAVIOR §4.15).

This module is what the data-plane API imports, so it stays lean (no pyarrow): starting a job
validates the request, stores the job's document (``JobStore``, status ``Pending``) and launches
its workflow; the steps (``spruce.jobs.imports``, ``spruce.jobs.export``) do the work and record
progress in the same document. Every change to a document is a versioned write (``mutate``), so a
cancel and a step's progress report never overwrite each other.

Jobs belong to an index: their kind is ``import:<index id>`` / ``export:<index id>`` and their ids
are small numbers per index, as Pinecone's (``"1"``, ``"2"``, ...). A deleted index takes its jobs'
visibility with it (a new index of the same name has a new id).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from spruce.engine.model import IndexConfig
from spruce.engine.validation import parse_namespace
from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.jobs.workflow import JobFailed, JobHost, start_or_fail
from spruce.storage.ports import JobStore

IMPORT = "bulk-import"
EXPORT = "bulk-export"

PENDING, IN_PROGRESS, FAILED, COMPLETED, CANCELLED = "Pending", "InProgress", "Failed", "Completed", "Cancelled"
RUNNING = (PENDING, IN_PROGRESS)
MAX_URI_LENGTH = 1500
MAX_INTEGRATION_ID_LENGTH = 1000
MAX_LIST_LIMIT = 100
ERROR_MODES = ("abort", "continue")

Doc = dict[str, Any]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def kind_of(operation: str, index_id: str) -> str:
    return f"{operation}:{index_id}"


def execution_name(workflow: str, index_id: str, job_id: str) -> str:
    """One run per job: Step Functions execution names are unique, and so are the runner's."""
    return f"{workflow}-{index_id}-{job_id}"


def failure_message(error: str) -> str:
    """The ``error`` a failed job shows: a ``JobFailed`` as ``User error: <message>`` (Pinecone's
    wording, DP-IMP-4), anything else as an internal error with its type and text."""
    prefix = f"{JobFailed.__name__}: "
    if error.startswith(prefix):
        return "User error: " + error[len(prefix):]
    return f"Internal error: {error}"


# ----------------------------------------------------------------------------- documents


def load(jobs: JobStore, kind: str, job_id: str) -> tuple[int, Doc] | None:
    found = jobs.load_job(kind, job_id)
    return None if found is None else (found[0], json.loads(found[1]))


def mutate(jobs: JobStore, kind: str, job_id: str, change: Callable[[Doc], Doc | None]) -> Doc:
    """Apply ``change`` to the newest document until the versioned write wins; ``change`` returns
    None to leave it as it is. Returns the document as stored."""
    while True:
        found = load(jobs, kind, job_id)
        if found is None:
            raise NotFoundError(f"Job {job_id} not found.")
        version, doc = found
        new = change(dict(doc))
        if new is None:
            return doc
        if jobs.update_job(kind, job_id, version, _encode(new)):
            return new


def fail_job(jobs: JobStore, kind: str, job_id: str, error: str) -> None:
    """Record a failure (the workflows' ``on_failure``); a job already finished keeps its state."""
    def change(doc: Doc) -> Doc | None:
        if doc["status"] not in RUNNING:
            return None
        return {**doc, "status": FAILED, "error": failure_message(error), "finishedAt": now()}
    mutate(jobs, kind, job_id, change)


def _encode(doc: Doc) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _create(host: JobHost, kind: str, doc: Doc) -> str:
    job_id = str(host.jobs.next_job_number(kind))
    if not host.jobs.create_job(kind, job_id, _encode({**doc, "id": job_id})):
        raise RuntimeError(f"job counter for {kind} handed out {job_id} twice")
    return job_id


def _launch(host: JobHost, workflow: str, cfg: IndexConfig, kind: str, job_id: str) -> None:
    state = {"index": cfg.name, "indexId": cfg.id, "kind": kind, "job": job_id}
    start_or_fail(host, workflow, execution_name(workflow, cfg.id, job_id), state,
                  lambda error: fail_job(host.jobs, kind, job_id, error))


def resume(host: JobHost) -> int:
    """Launch every import and export left Pending or InProgress (the embedded host at start);
    each resumes from the progress its document holds. Returns how many were launched."""
    launched = 0
    for cfg in host.engine.list_indexes():
        for workflow, operation in ((IMPORT, "import"), (EXPORT, "export")):
            kind = kind_of(operation, cfg.id)
            for job_id, body in host.jobs.list_jobs(kind):
                if json.loads(body)["status"] in RUNNING:
                    _launch(host, workflow, cfg, kind, job_id)
                    launched += 1
    return launched


# ----------------------------------------------------------------------------- requests


def parse_uri(uri: Any, *, local_files: bool) -> str:
    """DP-IMP-2: 1–1500 characters; ``s3://`` on every host, ``file://`` and plain paths where
    the workers share this machine's disk (the embedded host)."""
    if not isinstance(uri, str) or not 1 <= len(uri) <= MAX_URI_LENGTH:
        raise InvalidArgumentError(f"`uri` is required: a string of 1 to {MAX_URI_LENGTH} characters, "
                                   "such as s3://BUCKET/IMPORT_DIR.")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "s3" and len(uri) > len("s3://") and not uri[5:].startswith("/"):
        return uri
    if local_files and scheme in ("", "file"):
        return uri
    accepted = "s3://BUCKET/DIR, file:///DIR or a local path" if local_files else "s3://BUCKET/DIR"
    raise InvalidArgumentError(f"`uri` {uri!r} is not supported here: use {accepted}. "
                               "Google Cloud Storage and Azure Blob Storage are not supported by Spruce.")


def _error_mode(body: dict) -> str:
    mode = body.get("errorMode", body.get("error_mode"))
    if mode is None:
        return "continue"
    on_error = mode.get("onError", mode.get("on_error")) if isinstance(mode, dict) else None
    if on_error is None:
        if isinstance(mode, dict):
            return "continue"
        raise InvalidArgumentError('`errorMode` must be an object such as {"onError": "continue"}.')
    if not isinstance(on_error, str) or on_error.lower() not in ERROR_MODES:
        raise InvalidArgumentError(f"`errorMode.onError` must be `abort` or `continue`; got {on_error!r}.")
    return on_error.lower()


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise InvalidArgumentError("The request body must be a JSON object.")
    return body


# ----------------------------------------------------------------------------- imports


def start_import(host: JobHost, index: str, body: Any) -> str:
    """``POST /bulk/imports`` (DP-IMP-2, 6, 7): the new job's id. The import itself checks the
    files and target namespaces (DP-IMP-3..5) and fails the job if they are wrong."""
    body = _object(body)
    cfg = host.engine.describe_index(index)
    uri = parse_uri(body.get("uri"), local_files=host.local_files)
    error_mode = _error_mode(body)
    integration = body.get("integrationId", body.get("integration_id"))
    if integration is not None and (not isinstance(integration, str) or len(integration) > MAX_INTEGRATION_ID_LENGTH):
        raise InvalidArgumentError(f"`integrationId` must be a string of at most {MAX_INTEGRATION_ID_LENGTH} "
                                   "characters.")
    kind = kind_of("import", cfg.id)
    job_id = _create(host, kind, {"uri": uri, "errorMode": error_mode, "status": PENDING, "createdAt": now(),
                                  "percentComplete": 0.0, "recordsImported": 0})
    _launch(host, IMPORT, cfg, kind, job_id)
    return job_id


def import_model(doc: Doc) -> dict[str, Any]:
    """The OAS ``ImportModel`` of a job document (DP-IMP-9)."""
    out = {"id": doc["id"], "uri": doc["uri"], "status": doc["status"], "createdAt": doc["createdAt"],
           "percentComplete": round(float(doc["percentComplete"]), 1)}
    if "recordsImported" in doc:  # an export's document counts recordsExported instead
        out["recordsImported"] = doc["recordsImported"]
    if doc.get("finishedAt"):
        out["finishedAt"] = doc["finishedAt"]
    if doc.get("error"):
        out["error"] = doc["error"]
    return out


def describe_import(host: JobHost, index: str, job_id: str) -> dict[str, Any]:
    return import_model(_job(host, "import", index, job_id))


def list_imports(host: JobHost, index: str, *, limit: str | None, token: str | None) -> dict[str, Any]:
    """DP-IMP-10: newest ids last (numeric order), ``limit`` 1–100 (default 100), ``pagination.next``."""
    return _listing(host, "import", index, limit, token, import_model)


def cancel_import(host: JobHost, index: str, job_id: str) -> None:
    """DP-IMP-10: a running import becomes Cancelled; its workflow sees that before its next
    chunk and stops. Records already written stay. A finished import is left as it is."""
    _cancel(host, "import", index, job_id)


# ----------------------------------------------------------------------------- exports


def start_export(host: JobHost, index: str, body: Any) -> str:
    """``POST /bulk/exports`` (a Spruce extension): write one namespace to Parquet under
    ``uri/<namespace>/`` in the import layout, so the directory imports back as it was."""
    body = _object(body)
    cfg = host.engine.describe_index(index)
    uri = parse_uri(body.get("uri"), local_files=host.local_files)
    namespace = parse_namespace(body.get("namespace"))
    kind = kind_of("export", cfg.id)
    job_id = _create(host, kind, {"uri": uri, "namespace": namespace, "status": PENDING, "createdAt": now(),
                                  "percentComplete": 0.0, "recordsExported": 0})
    _launch(host, EXPORT, cfg, kind, job_id)
    return job_id


def export_model(doc: Doc) -> dict[str, Any]:
    return {**import_model(doc), "namespace": doc["namespace"], "recordsExported": doc["recordsExported"]}


def describe_export(host: JobHost, index: str, job_id: str) -> dict[str, Any]:
    return export_model(_job(host, "export", index, job_id))


def list_exports(host: JobHost, index: str, *, limit: str | None, token: str | None) -> dict[str, Any]:
    return _listing(host, "export", index, limit, token, export_model)


def cancel_export(host: JobHost, index: str, job_id: str) -> None:
    _cancel(host, "export", index, job_id)


# ----------------------------------------------------------------------------- shared


def _job(host: JobHost, operation: str, index: str, job_id: str) -> Doc:
    cfg = host.engine.describe_index(index)
    found = load(host.jobs, kind_of(operation, cfg.id), job_id)
    if found is None:
        raise NotFoundError(f"{operation.capitalize()} {job_id} not found in index {index}.")
    return found[1]


def _cancel(host: JobHost, operation: str, index: str, job_id: str) -> None:
    cfg = host.engine.describe_index(index)
    kind = kind_of(operation, cfg.id)
    if load(host.jobs, kind, job_id) is None:
        raise NotFoundError(f"{operation.capitalize()} {job_id} not found in index {index}.")

    def change(doc: Doc) -> Doc | None:
        if doc["status"] not in RUNNING:
            return None
        return {**doc, "status": CANCELLED, "finishedAt": now()}
    mutate(host.jobs, kind, job_id, change)


def _listing(host: JobHost, operation: str, index: str, limit: str | None, token: str | None,
             model: Callable[[Doc], dict[str, Any]]) -> dict[str, Any]:
    docs, nxt = _page(host, operation, index, limit, token)
    out: dict[str, Any] = {"data": [model(d) for d in docs]}
    if nxt is not None:
        out["pagination"] = {"next": nxt}
    return out


def _page(host: JobHost, operation: str, index: str, limit: str | None,
          token: str | None) -> tuple[list[Doc], str | None]:
    size = _limit(limit)
    after = _after(token)
    cfg = host.engine.describe_index(index)
    docs = sorted((json.loads(body) for _, body in host.jobs.list_jobs(kind_of(operation, cfg.id))),
                  key=lambda d: int(d["id"]))
    if after is not None:
        docs = [d for d in docs if int(d["id"]) > after]
    page = docs[:size]
    nxt = None
    if len(docs) > size:
        nxt = base64.urlsafe_b64encode(json.dumps({"after": int(page[-1]["id"])}).encode()).decode()
    return page, nxt


def _limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIST_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIST_LIMIT:
        raise InvalidArgumentError(f"`limit` must be an integer from 1 to {MAX_LIST_LIMIT}; got {raw!r}.")
    return value


def _after(token: str | None) -> int | None:
    if not token:
        return None
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgumentError("paginationToken is not valid; pass the token from the previous response.")
