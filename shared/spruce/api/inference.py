"""Inference API on the control-plane host (BEHAVIOR §7): ``/embed``, ``/rerank``, ``/models``.

A thin edge over ``spruce.inference.service``; the model loads lazily on the first embed or
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
service = InferenceService()

Body = Annotated[bytes, Depends(deps.raw_body)]


@router.post("/embed")
def embed(body: Body) -> JSONResponse:
    return JSONResponse(service.embed(parse_json(body)))


@router.post("/rerank")
def rerank(body: Body) -> JSONResponse:
    return JSONResponse(service.rerank(parse_json(body)))


@router.get("/models")
def list_models(type: str | None = Query(None), vector_type: str | None = Query(None)) -> JSONResponse:  # noqa: A002
    return JSONResponse(service.list_models(type, vector_type))


@router.get("/models/{model_name}")
def describe_model(model_name: str) -> JSONResponse:
    return JSONResponse(service.describe_model(model_name))
