"""JSON rendering with orjson (numpy arrays serialise without a Python copy), and the LSN
headers every data-plane write and read carries (DP-LSN-1..3)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from spruce.engine.model import ReadResult, WriteResult

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _fallback(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):  # non-contiguous arrays, numpy scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def render(content: Any) -> bytes:
    return orjson.dumps(content, default=_fallback, option=_OPTIONS)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render(content)


def write_headers(result: WriteResult) -> dict[str, str]:
    return {"x-pinecone-request-lsn": str(result.lsn), "x-pinecone-lsn-committed": str(result.committed_lsn)}


def read_headers(result: ReadResult) -> dict[str, str]:
    return {"x-pinecone-max-indexed-lsn": str(result.max_lsn), "x-pinecone-lsn-reconciled": str(result.reconciled_lsn)}
