"""Control plane: ``/indexes`` (BEHAVIOR §3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from spruce.api import deps
from spruce.api.responses import JSONResponse
from spruce.api.versions import ApiVersion
from spruce.engine.embed import embed_of, new_model_index_config, text_field
from spruce.engine.indexes import DENSE_FIELD, SPARSE_FIELD, new_index_config, validate_configure
from spruce.engine.model import IndexConfig
from spruce.engine.service import Spruce
from spruce.engine.validation import parse_json
from spruce.inference.service import InferenceService

router = APIRouter()

Engine = Annotated[Spruce, Depends(deps.engine)]
PublicUrl = Annotated[str, Depends(deps.public_url)]
Body = Annotated[bytes, Depends(deps.raw_body)]
Version = Annotated[ApiVersion, Depends(deps.api_version)]
Models = Annotated[InferenceService, Depends(deps.inference)]  # the host's embed models

#: Every Spruce index reads on demand (CP-RC-2's response object).
ON_DEMAND = {"mode": "OnDemand", "status": {"state": "Ready"}}


def index_model(cfg: IndexConfig, public_url: str, version: ApiVersion) -> dict[str, Any]:
    """IndexModel JSON in the shape of ``version``. ``dimension`` (sparse) and ``tags`` (none
    set) are omitted rather than null: SDK 7.x type-checks responses and rejects ``null`` for
    both (CP-TYPE-3, CP-TAG-4)."""
    if version.schema_control_plane:
        return _index_model_2026(cfg, public_url)
    model: dict[str, Any] = {
        "name": cfg.name,
        "id": cfg.id,
        "metric": cfg.metric,
        "host": f"{public_url}/data/{cfg.name}",
        "spec": {"serverless": {"cloud": cfg.cloud, "region": cfg.region}},
        "status": {"ready": cfg.state == "Ready", "state": cfg.state},
        "vector_type": cfg.vector_type,
        "deletion_protection": cfg.deletion_protection,
    }
    if cfg.dimension is not None:
        model["dimension"] = cfg.dimension
    if cfg.tags:
        model["tags"] = cfg.tags
    if embed_of(cfg) is not None:
        model["embed"] = embed_of(cfg)
    if version.at_least_2025_10:
        serverless = model["spec"]["serverless"]
        serverless["read_capacity"] = ON_DEMAND
        if cfg.metadata_schema:
            serverless["schema"] = metadata_schema_2025(cfg.metadata_schema)
    return model


def _index_model_2026(cfg: IndexConfig, public_url: str) -> dict[str, Any]:
    """2026-07: the vector fields, filterable metadata and (integrated indexes) the embedded
    text field as ``schema.fields``, the place it runs as ``deployment``."""
    fields: dict[str, Any] = {}
    if cfg.dimension is not None:
        fields[DENSE_FIELD] = {"type": "dense_vector", "dimension": cfg.dimension, "metric": cfg.metric}
    if cfg.vector_type == "sparse" or cfg.extra.get("sparse_field"):
        fields[SPARSE_FIELD] = {"type": "sparse_vector"}
    fields.update((cfg.metadata_schema or {}).get("fields", {}))
    embed = embed_of(cfg)
    if embed is not None:
        fields[text_field(embed)] = semantic_text_field(embed)
    model: dict[str, Any] = {
        "name": cfg.name,
        "host": f"{public_url}/data/{cfg.name}",
        "status": {"ready": cfg.state == "Ready", "state": cfg.state},
        "schema": {"fields": fields},
        "deployment": {"deployment_type": "managed", "cloud": cfg.cloud, "region": cfg.region},
        "read_capacity": ON_DEMAND,
        "deletion_protection": cfg.deletion_protection,
    }
    if cfg.tags:
        model["tags"] = cfg.tags
    return model


def semantic_text_field(embed: dict[str, Any]) -> dict[str, Any]:
    """2026-07: an index created for a model shows its embed block as a ``semantic_text``
    field named after ``field_map.text`` (what SDK 10.x rebuilds ``IndexModel.embed`` from)."""
    return {"type": "semantic_text", "model": embed["model"], "metric": embed["metric"],
            "read_parameters": embed["read_parameters"], "write_parameters": embed["write_parameters"]}


def metadata_schema_2025(schema: dict[str, Any]) -> dict[str, Any]:
    """A stored schema in the 2025-10 ``MetadataSchema`` shape (fields carry only ``filterable``)."""
    return {"fields": {name: {"filterable": True} for name in schema.get("fields", {})}}


@router.get("/indexes")
def list_indexes(engine: Engine, public_url: PublicUrl, version: Version) -> Response:
    return JSONResponse({"indexes": [index_model(cfg, public_url, version) for cfg in engine.list_indexes()]})


@router.post("/indexes")
def create_index(engine: Engine, public_url: PublicUrl, version: Version, body: Body) -> Response:
    cfg = engine.create_index(new_index_config(parse_json(body)))
    return JSONResponse(index_model(cfg, public_url, version), status_code=201)


@router.post("/indexes/create-for-model")
def create_index_for_model(engine: Engine, public_url: PublicUrl, version: Version, models: Models,
                           body: Body) -> Response:
    cfg = engine.create_index(new_model_index_config(parse_json(body), models))
    return JSONResponse(index_model(cfg, public_url, version), status_code=201)


@router.get("/indexes/{index_name}")
def describe_index(index_name: str, engine: Engine, public_url: PublicUrl, version: Version) -> Response:
    return JSONResponse(index_model(engine.describe_index(index_name), public_url, version))


@router.patch("/indexes/{index_name}")
def configure_index(index_name: str, engine: Engine, public_url: PublicUrl, version: Version, models: Models,
                    body: Body) -> Response:
    cfg = engine.configure_index(index_name, validate_configure(parse_json(body)), models)
    return JSONResponse(index_model(cfg, public_url, version), status_code=202)


@router.delete("/indexes/{index_name}")
def delete_index(index_name: str, engine: Engine) -> Response:
    engine.delete_index(index_name)
    return Response(status_code=202)
