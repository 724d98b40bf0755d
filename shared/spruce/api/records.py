"""Records API of an integrated index (BEHAVIOR §4.4, §4.6), under ``/data/{index_name}``:
``POST /records/namespaces/{namespace}/upsert`` (NDJSON, 201) and ``.../search``.

A thin edge over ``spruce.engine.integrated``, embedding and reranking with the app's
Inference API service (its host's models); a model loads on first use, so mounting this
router costs no onnxruntime import.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from spruce.api import deps
from spruce.api.responses import JSONResponse, read_headers, write_headers
from spruce.engine.integrated import Records
from spruce.engine.service import Spruce
from spruce.engine.validation import parse_json
from spruce.inference.service import InferenceService

router = APIRouter(prefix="/data/{index_name}")

Engine = Annotated[Spruce, Depends(deps.engine)]
Body = Annotated[bytes, Depends(deps.raw_body)]
Inference = Annotated[InferenceService, Depends(deps.inference)]  # the host's models, as for /embed


@router.post("/records/namespaces/{namespace}/upsert")
def upsert_records(index_name: str, namespace: str, engine: Engine, inference: Inference, body: Body) -> Response:
    result = Records(engine, inference).upsert(index_name, namespace, body)
    return Response(status_code=201, headers=write_headers(result))


@router.post("/records/namespaces/{namespace}/search")
def search_records(index_name: str, namespace: str, engine: Engine, inference: Inference, body: Body) -> Response:
    result = Records(engine, inference).search(index_name, namespace, parse_json(body))
    return JSONResponse(result.value, headers=read_headers(result))
