"""Control plane: ``/indexes`` (BEHAVIOR §3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from spruce.api import deps
from spruce.api.responses import JSONResponse
from spruce.engine.indexes import new_index_config, validate_configure
from spruce.engine.model import IndexConfig
from spruce.engine.service import Spruce
from spruce.engine.validation import parse_json

router = APIRouter()

Engine = Annotated[Spruce, Depends(deps.engine)]
PublicUrl = Annotated[str, Depends(deps.public_url)]
Body = Annotated[bytes, Depends(deps.raw_body)]


def index_model(cfg: IndexConfig, public_url: str) -> dict[str, Any]:
    """IndexModel JSON. ``dimension`` (sparse) and ``tags`` (none set) are omitted rather than
    null: SDK 7.x type-checks responses and rejects ``null`` for both (CP-TYPE-3, CP-TAG-4)."""
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
    return model


@router.get("/indexes")
def list_indexes(engine: Engine, public_url: PublicUrl) -> Response:
    return JSONResponse({"indexes": [index_model(cfg, public_url) for cfg in engine.list_indexes()]})


@router.post("/indexes")
def create_index(engine: Engine, public_url: PublicUrl, body: Body) -> Response:
    cfg = engine.create_index(new_index_config(parse_json(body)))
    return JSONResponse(index_model(cfg, public_url), status_code=201)


@router.get("/indexes/{index_name}")
def describe_index(index_name: str, engine: Engine, public_url: PublicUrl) -> Response:
    return JSONResponse(index_model(engine.describe_index(index_name), public_url))


@router.patch("/indexes/{index_name}")
def configure_index(index_name: str, engine: Engine, public_url: PublicUrl, body: Body) -> Response:
    change = validate_configure(parse_json(body))
    cfg = engine.configure_index(index_name, deletion_protection=change.deletion_protection, tags=change.tags)
    return JSONResponse(index_model(cfg, public_url), status_code=202)


@router.delete("/indexes/{index_name}")
def delete_index(index_name: str, engine: Engine) -> Response:
    engine.delete_index(index_name)
    return Response(status_code=202)
