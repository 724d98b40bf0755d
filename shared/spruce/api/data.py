"""Data plane of one index, mounted at ``/data/{index_name}`` (the index's ``host``; BEHAVIOR §4).

Write responses carry ``x-pinecone-request-lsn`` / ``x-pinecone-lsn-committed``; read responses
``x-pinecone-max-indexed-lsn`` / ``x-pinecone-lsn-reconciled`` (DP-LSN-1..3).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from spruce.api import deps
from spruce.api.control import metadata_schema_2025
from spruce.api.responses import JSONResponse, read_headers, render, write_headers
from spruce.api.versions import ApiVersion
from spruce.engine.model import Match, NamespaceInfo, ReadResult, WriteResult
from spruce.engine.records import Record, SparseVector
from spruce.engine.service import Spruce
from spruce.engine.validation import (
    FilterUpdate, parse_create_namespace, parse_delete, parse_fetch_by_metadata, parse_fetch_ids, parse_json,
    parse_list_params, parse_namespace, parse_query, parse_stats, parse_update, parse_upsert,
)

router = APIRouter(prefix="/data/{index_name}")

Engine = Annotated[Spruce, Depends(deps.engine)]
Body = Annotated[bytes, Depends(deps.raw_body)]
Version = Annotated[ApiVersion, Depends(deps.api_version)]


@router.post("/vectors/upsert")
def upsert(index_name: str, engine: Engine, body: Body) -> Response:
    cfg = engine.describe_index(index_name)
    namespace, records = parse_upsert(parse_json(body), cfg)
    return _written({"upsertedCount": len(records)}, engine.upsert(cfg, namespace, records))


@router.post("/vectors/update")
def update(index_name: str, engine: Engine, body: Body) -> Response:
    cfg = engine.describe_index(index_name)
    namespace, upd = parse_update(parse_json(body), cfg)
    if isinstance(upd, FilterUpdate):
        matched, result = engine.update_by_filter(cfg, namespace, upd.filter, upd.set_metadata,
                                                  dry_run=upd.dry_run)
        body_out = {"matchedRecords": matched}
        return JSONResponse(body_out) if result is None else _written(body_out, result)
    return _written({}, engine.update(cfg, namespace, upd))


@router.post("/vectors/delete")
def delete(index_name: str, engine: Engine, body: Body) -> Response:
    namespace, req = parse_delete(parse_json(body))
    result = engine.delete(index_name, namespace, ids=req.ids, filter=req.filter, delete_all=req.delete_all)
    return _written({}, result)


def answer_query(engine: Spruce, index_name: str, body: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """``POST /query``: the rendered JSON body and its LSN headers. ``hot_query.HotQuery``
    serves it ahead of FastAPI's middleware and router (the hottest route), on the event loop
    or a worker thread (``runner.QueryRunner``), so the JSON is rendered there too."""
    cfg = engine.describe_index(index_name)
    namespace, spec = parse_query(parse_json(body), cfg)
    result = engine.query(cfg, namespace, spec)
    matches = [_match(m, spec.include_values, spec.include_metadata) for m in result.value]
    content = render({"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}})
    return content, [(name.encode(), value.encode()) for name, value in read_headers(result).items()]


@router.get("/vectors/fetch")
def fetch(index_name: str, request: Request, engine: Engine) -> Response:
    params = request.query_params
    namespace = parse_namespace(params.get("namespace"))
    result = engine.fetch(index_name, namespace, parse_fetch_ids(params.getlist("ids")))
    vectors = {rid: _record(r) for rid, r in result.value.items()}
    usage = {"readUnits": max(1, math.ceil(len(vectors) / 10))}
    return _read({"vectors": vectors, "namespace": namespace, "usage": usage}, result)


@router.post("/vectors/fetch_by_metadata")
def fetch_by_metadata(index_name: str, engine: Engine, body: Body) -> Response:
    namespace, req = parse_fetch_by_metadata(parse_json(body))
    result = engine.fetch_by_metadata(index_name, namespace, req.filter, limit=req.limit, token=req.token)
    records, next_token = result.value
    out: dict[str, Any] = {"vectors": {rid: _record(r) for rid, r in records.items()}, "namespace": namespace,
                           "usage": {"readUnits": max(1, math.ceil(len(records) / 10))}}
    if next_token:
        out["pagination"] = {"next": next_token}
    return _read(out, result)


@router.get("/vectors/list")
def list_ids(index_name: str, request: Request, engine: Engine) -> Response:
    params = request.query_params
    namespace = parse_namespace(params.get("namespace"))
    page = parse_list_params(params.get("limit"), params.get("paginationToken"), params.get("prefix"))
    result = engine.list_ids(index_name, namespace, prefix=page.prefix, limit=page.limit, token=page.token)
    ids, next_token = result.value
    body: dict[str, Any] = {"vectors": [{"id": i} for i in ids], "namespace": namespace, "usage": {"readUnits": 1}}
    if next_token:
        body["pagination"] = {"next": next_token}
    return _read(body, result)


@router.post("/describe_index_stats")
def describe_index_stats(index_name: str, engine: Engine, body: Body) -> Response:
    parse_stats(parse_json(body))
    return _stats(index_name, engine)


@router.get("/describe_index_stats")
def describe_index_stats_get(index_name: str, engine: Engine) -> Response:
    return _stats(index_name, engine)


@router.get("/namespaces")
def list_namespaces(index_name: str, request: Request, engine: Engine, version: Version) -> Response:
    params = request.query_params
    page = parse_list_params(params.get("limit"), params.get("paginationToken"), params.get("prefix"))
    infos, next_token, total = engine.list_namespaces(index_name, limit=page.limit, token=page.token,
                                                      prefix=page.prefix)
    body: dict[str, Any] = {"namespaces": [_namespace(i, version) for i in infos]}
    if next_token:
        body["pagination"] = {"next": next_token}
    if version.at_least_2025_10:
        body["total_count"] = total
    return JSONResponse(body)


@router.post("/namespaces")
def create_namespace(index_name: str, engine: Engine, version: Version, body: Body) -> Response:
    name, schema = parse_create_namespace(parse_json(body))
    return JSONResponse(_namespace(engine.create_namespace(index_name, name, schema), version))


@router.get("/namespaces/{namespace}")
def describe_namespace(index_name: str, namespace: str, engine: Engine, version: Version) -> Response:
    return JSONResponse(_namespace(engine.describe_namespace(index_name, parse_namespace(namespace)), version))


@router.delete("/namespaces/{namespace}")
def delete_namespace(index_name: str, namespace: str, engine: Engine) -> Response:
    return _written({}, engine.delete_namespace(index_name, parse_namespace(namespace)))


# ----------------------------------------------------------------------------- rendering


def _stats(index_name: str, engine: Spruce) -> Response:
    cfg = engine.describe_index(index_name)
    result = engine.stats(cfg)
    body: dict[str, Any] = {
        "namespaces": {name: {"vectorCount": n} for name, n in result.value.items()},
        "indexFullness": 0.0,
        "totalVectorCount": sum(result.value.values()),
        "metric": cfg.metric,
        "vectorType": cfg.vector_type,
    }
    if cfg.dimension is not None:
        body["dimension"] = cfg.dimension
    return _read(body, result)


def _written(body: dict[str, Any], result: WriteResult) -> Response:
    return JSONResponse(body, headers=write_headers(result))


def _read(body: dict[str, Any], result: ReadResult) -> Response:
    return JSONResponse(body, headers=read_headers(result))


def _match(m: Match, include_values: bool, include_metadata: bool) -> dict[str, Any]:
    """``values`` is always present (``[]`` when not requested, DP-Q-4); the rest only on request."""
    values = m.values if include_values and m.values is not None else []
    out: dict[str, Any] = {"id": m.id, "score": float(m.score), "values": values}
    if include_values and m.sparse is not None:
        out["sparseValues"] = _sparse(m.sparse)
    if include_metadata and m.metadata is not None:
        out["metadata"] = m.metadata
    return out


def _record(r: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "values": [] if r.values is None else r.values}
    if r.sparse is not None:
        out["sparseValues"] = _sparse(r.sparse)
    if r.metadata is not None:
        out["metadata"] = r.metadata
    return out


def _sparse(sv: SparseVector) -> dict[str, Any]:
    return {"indices": sv.indices, "values": sv.values}


def _namespace(info: NamespaceInfo, version: ApiVersion) -> dict[str, Any]:
    """2025-10 adds ``schema`` (when one applies) and ``indexed_fields`` (DP-NSA-2): Spruce
    indexes every metadata key, so they are all the keys the namespace holds."""
    out: dict[str, Any] = {"name": info.name, "record_count": info.record_count}
    if version.at_least_2025_10:
        if info.schema:
            out["schema"] = metadata_schema_2025(info.schema)
        out["indexed_fields"] = {"fields": info.indexed_fields or []}
    return out
