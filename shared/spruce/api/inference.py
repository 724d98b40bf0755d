"""Inference API on the control-plane host (BEHAVIOR §7): ``/embed``, ``/rerank``, ``/models``.

A thin edge over the app's ``InferenceService`` (``app.state.inference``: ``service`` below on
the embedded host, the AWS wiring's on Lambda); a model loads lazily on its first embed or
rerank, so mounting this router costs no onnxruntime import.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from spruce.api import deps
from spruce.api.responses import JSONResponse
from spruce.engine.validation import parse_json
from spruce.inference.service import InferenceService

router = APIRouter()
#: The process's service over the packaged models (the embedded host's).
service = InferenceService()

Body = Annotated[bytes, Depends(deps.raw_body)]
Service = Annotated[InferenceService, Depends(deps.inference)]


@router.post("/embed")
def embed(body: Body, service: Service) -> JSONResponse:
    return JSONResponse(service.embed(parse_json(body)))


@router.post("/rerank")
def rerank(body: Body, service: Service) -> JSONResponse:
    return JSONResponse(service.rerank(parse_json(body)))


@router.get("/models")
def list_models(service: Service, type: str | None = Query(None),  # noqa: A002
                vector_type: str | None = Query(None)) -> JSONResponse:
    return JSONResponse(service.list_models(type, vector_type))


@router.get("/models/{model_name}")
def describe_model(model_name: str, service: Service) -> JSONResponse:
    return JSONResponse(service.describe_model(model_name))
