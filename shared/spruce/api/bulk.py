"""Bulk import (BEHAVIOR §4.15, OAS ``Bulk Operations``) and Spruce's bulk export, on each index's
data-plane host. Thin: parse, call ``spruce.jobs.bulk``, answer; the jobs run elsewhere (the
embedded host's runner, Step Functions on AWS)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from spruce.api import deps
from spruce.api.responses import JSONResponse
from spruce.engine.validation import parse_json
from spruce.jobs import bulk
from spruce.jobs.workflow import JobHost

router = APIRouter(prefix="/data/{index_name}/bulk")

Host = Annotated[JobHost, Depends(deps.job_host)]
Body = Annotated[bytes, Depends(deps.raw_body)]


@router.post("/imports")
def start_import(index_name: str, host: Host, body: Body) -> Response:
    return JSONResponse({"id": bulk.start_import(host, index_name, parse_json(body))})


@router.get("/imports")
def list_imports(index_name: str, host: Host, limit: str | None = None,
                 paginationToken: str | None = None) -> Response:  # noqa: N803  (the OAS parameter name)
    return JSONResponse(bulk.list_imports(host, index_name, limit=limit, token=paginationToken))


@router.get("/imports/{import_id}")
def describe_import(index_name: str, import_id: str, host: Host) -> Response:
    return JSONResponse(bulk.describe_import(host, index_name, import_id))


@router.delete("/imports/{import_id}")
def cancel_import(index_name: str, import_id: str, host: Host) -> Response:
    bulk.cancel_import(host, index_name, import_id)
    return JSONResponse({})


@router.post("/exports")
def start_export(index_name: str, host: Host, body: Body) -> Response:
    return JSONResponse({"id": bulk.start_export(host, index_name, parse_json(body))})


@router.get("/exports")
def list_exports(index_name: str, host: Host, limit: str | None = None,
                 paginationToken: str | None = None) -> Response:  # noqa: N803
    return JSONResponse(bulk.list_exports(host, index_name, limit=limit, token=paginationToken))


@router.get("/exports/{export_id}")
def describe_export(index_name: str, export_id: str, host: Host) -> Response:
    return JSONResponse(bulk.describe_export(host, index_name, export_id))


@router.delete("/exports/{export_id}")
def cancel_export(index_name: str, export_id: str, host: Host) -> Response:
    bulk.cancel_export(host, index_name, export_id)
    return JSONResponse({})
