"""Control plane: backups, restore jobs (BEHAVIOR §3.13, §3.14) and collections (§3.15).

Collections are pod-based only in Pinecone ("Serverless indexes do not support collections") and
Spruce runs serverless indexes only, so there never is one: listing answers an empty list,
creating one answers 400 naming backups (the serverless way to snapshot an index), describing or
deleting one answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from spruce.api import deps
from spruce.api.control import metadata_schema_2025
from spruce.api.responses import JSONResponse
from spruce.api.versions import ApiVersion
from spruce.engine.validation import parse_json
from spruce.errors import InvalidArgumentError, NotFoundError
from spruce.jobs import backups, restores
from spruce.jobs.documents import Doc, parse_limit
from spruce.jobs.workflow import JobHost

router = APIRouter()

Host = Annotated[JobHost, Depends(deps.job_host)]
Body = Annotated[bytes, Depends(deps.raw_body)]
Version = Annotated[ApiVersion, Depends(deps.api_version)]
Limit = Annotated[str | None, Query()]
Token = Annotated[str | None, Query(alias="paginationToken")]

USE_BACKUPS = ("Serverless indexes do not support collections. To snapshot an index, create a backup "
               "(POST /indexes/{index_name}/backups) and restore it with POST /backups/{backup_id}/create-index.")


def backup_model(doc: Doc, version: ApiVersion) -> dict[str, Any]:
    """BackupModel; fields without a value are left out (SDK 7.x rejects ``null`` for typed fields)."""
    model = {k: doc[k] for k in backups.MODEL_FIELDS if doc.get(k) is not None and k != "schema"}
    if version.at_least_2025_10 and doc.get("schema"):
        model["schema"] = metadata_schema_2025(doc["schema"])
    return model


def restore_job_model(doc: Doc) -> dict[str, Any]:
    return {k: doc[k] for k in restores.MODEL_FIELDS if doc.get(k) is not None}


def _listing(items: list[dict[str, Any]], next_token: str | None) -> Response:
    body: dict[str, Any] = {"data": items}
    if next_token is not None:
        body["pagination"] = {"next": next_token}
    return JSONResponse(body)


def _body(raw: bytes) -> Any:
    return parse_json(raw) if raw.strip() else {}


@router.post("/indexes/{index_name}/backups")
def create_backup(index_name: str, host: Host, version: Version, body: Body) -> Response:
    return JSONResponse(backup_model(backups.create(host, index_name, _body(body)), version), status_code=201)


@router.get("/indexes/{index_name}/backups")
def list_index_backups(index_name: str, host: Host, version: Version, limit: Limit = None,
                       token: Token = None) -> Response:
    docs, nxt = backups.list_page(host, index_name=index_name, limit=parse_limit(limit), token=token)
    return _listing([backup_model(d, version) for d in docs], nxt)


@router.get("/backups")
def list_project_backups(host: Host, version: Version, limit: Limit = None, token: Token = None) -> Response:
    docs, nxt = backups.list_page(host, index_name=None, limit=parse_limit(limit), token=token)
    return _listing([backup_model(d, version) for d in docs], nxt)


@router.get("/backups/{backup_id}")
def describe_backup(backup_id: str, host: Host, version: Version) -> Response:
    return JSONResponse(backup_model(backups.describe(host, backup_id), version))


@router.delete("/backups/{backup_id}")
def delete_backup(backup_id: str, host: Host) -> Response:
    backups.delete(host, backup_id)
    return Response(status_code=202)


@router.post("/backups/{backup_id}/create-index")
def create_index_from_backup(backup_id: str, host: Host, body: Body) -> Response:
    job = restores.create_index_from_backup(host, backup_id, parse_json(body))
    return JSONResponse({"restore_job_id": job["restore_job_id"], "index_id": job["target_index_id"]},
                        status_code=202)


@router.get("/restore-jobs")
def list_restore_jobs(host: Host, limit: Limit = None, token: Token = None) -> Response:
    docs, nxt = restores.list_page(host, limit=parse_limit(limit), token=token)
    return _listing([restore_job_model(d) for d in docs], nxt)


@router.get("/restore-jobs/{job_id}")
def describe_restore_job(job_id: str, host: Host) -> Response:
    return JSONResponse(restore_job_model(restores.describe(host, job_id)))


@router.get("/collections")
def list_collections() -> Response:
    return JSONResponse({"collections": []})


@router.post("/collections")
def create_collection() -> Response:
    raise InvalidArgumentError(USE_BACKUPS)


@router.get("/collections/{collection_name}")
def describe_collection(collection_name: str) -> Response:
    raise NotFoundError(f"Collection {collection_name} not found. {USE_BACKUPS}")


@router.delete("/collections/{collection_name}")
def delete_collection(collection_name: str) -> Response:
    raise NotFoundError(f"Collection {collection_name} not found. {USE_BACKUPS}")
